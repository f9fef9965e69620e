use super::{error_body::ErrorSummary, page::parse_page_at_most, rate_limit_wait, RetryDelays};
use super::{DEFAULT_API_REQUEST_TIMEOUT, MAX_BODY_BYTES, MAX_EVENTS_PER_LIMIT};
use crate::credentials::{CredentialProvider, Credentials};
use crate::source::{
    EventSource, Page, PageRequest, SourceError, StreamPosition, WireCounters, WireEvent,
};
use async_trait::async_trait;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Server text searched for the key, at most (then the rest of it is left out): more than the
/// longest quote kept of it (an error detail: 300 characters).
const MAX_QUOTED_CHARS: usize = 1_000;
use tokio::time::Instant;
use url::Url;

pub const USER_AGENT: &str = concat!("atlassian-audit-collector/", env!("CARGO_PKG_VERSION"));

/// One request may take this long before it counts as a stall and is retried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Less time than this left in the budget is not worth a request.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(200);
/// Up to this much random wait is added to a rate-limit reset, so parallel clients spread out.
const RATE_LIMIT_JITTER_MS: u64 = 1000;

/// Reads `GET {base}/admin/v1/orgs/{orgId}/events-stream`. Every URL is built here from the
/// configured base and the cursor; redirects are not followed, so the key only goes to that host.
pub struct AtlassianClient {
    http: reqwest::Client,
    base_url: Url,
    request_timeout: Duration,
    credentials: Arc<dyn CredentialProvider>,
}

enum Attempt {
    Done(Page),
    /// Worth retrying after a backoff; the text says what went wrong.
    Transient(String),
    /// No answer within the time given to the request.
    TimedOut(String),
    /// A 429 asking for this wait (None: no usable header).
    Throttled(Option<Duration>),
    KeyRejected,
}

impl AtlassianClient {
    pub fn new(
        base_url: Url,
        credentials: Arc<dyn CredentialProvider>,
    ) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT);
        if super::is_loopback_url(&base_url) {
            // A loopback API (the simulated org, a test) is reached directly: HTTP_PROXY,
            // HTTPS_PROXY and ALL_PROXY would otherwise carry its plain-http requests, key
            // included, to the proxy.
            builder = builder.no_proxy();
        }
        if base_url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case("localhost"))
        {
            // `localhost` is this machine, whatever a DNS server or a hosts file would answer.
            let port = base_url.port_or_known_default().unwrap_or(80);
            builder = builder.resolve_to_addrs(
                "localhost",
                &[
                    SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
                ],
            );
        }
        let http = builder.build()?;
        Ok(AtlassianClient {
            http,
            base_url,
            request_timeout: DEFAULT_API_REQUEST_TIMEOUT,
            credentials,
        })
    }

    /// How long one request may take before it counts as failed and is retried.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn events_stream_url(&self, org_id: &str, request: &PageRequest) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["admin", "v1", "orgs", org_id, "events-stream"]);
        }
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &request.limit.to_string());
            q.append_pair("sortOrder", "asc");
            match &request.position {
                StreamPosition::Cursor(c) => {
                    q.append_pair("cursor", c);
                }
                StreamPosition::From { from_ms } => {
                    q.append_pair("from", &from_ms.to_string());
                }
            }
        }
        url
    }

    async fn attempt(
        &self,
        creds: &Credentials,
        request: &PageRequest,
        timeout: Duration,
    ) -> Result<Attempt, SourceError> {
        let url = self.events_stream_url(&creds.org_id, request);
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", creds.api_key.expose()))
            .map_err(|_| SourceError::KeyUnusable {
                key_location: self.credentials.describe(),
            })?;
        auth.set_sensitive(true);
        tracing::debug!(
            path = url.path(),
            query = url.query().unwrap_or(""),
            "requesting page"
        );
        let response = match self
            .http
            .get(url)
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Ok(Attempt::TimedOut(describe_transport_error(&e))),
            Err(e) => return Ok(Attempt::Transient(describe_transport_error(&e))),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match read_body(response).await {
            Ok(b) => b,
            Err(problem) => return Ok(Attempt::Transient(problem)),
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let scrub = |s: &str| creds.api_key.scrub_start(s, MAX_QUOTED_CHARS);
        let summary = || ErrorSummary::from_body(&body, scrub);

        match status {
            s if s.is_success() => match parse_page_at_most(
                &body,
                (request.limit as usize).saturating_mul(MAX_EVENTS_PER_LIMIT),
                &scrub,
            ) {
                Ok(page) => Ok(Attempt::Done(page)),
                Err(problem) => Ok(Attempt::Transient(scrub(&format!(
                    "HTTP {}: {problem}",
                    s.as_u16()
                )))),
            },
            StatusCode::TOO_MANY_REQUESTS => Ok(Attempt::Throttled(rate_limit_wait(
                header("x-ratelimit-reset"),
                header(RETRY_AFTER.as_str()),
                chrono::Utc::now(),
            ))),
            StatusCode::UNAUTHORIZED => Ok(Attempt::KeyRejected),
            StatusCode::FORBIDDEN => Err(SourceError::Forbidden {
                org_id: creds.org_id.clone(),
                answer: summary().answer(),
            }),
            StatusCode::NOT_FOUND => Err(SourceError::NotFound {
                org_id: creds.org_id.clone(),
                key_location: self.credentials.describe(),
                answer: summary().answer(),
            }),
            StatusCode::BAD_REQUEST if summary().code.as_deref() == Some("ADMIN-400-1") => {
                Err(SourceError::InvalidCursor)
            }
            s if s.is_redirection() => Err(SourceError::Redirected {
                status: s.as_u16(),
                // Scrubbed before it is cut, so no piece of the key survives the cut.
                location: scrub(header(LOCATION.as_str()).unwrap_or(""))
                    .chars()
                    .take(200)
                    .collect(),
            }),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                let answer = summary().answer();
                let mut problem = format!("HTTP {}", s.as_u16());
                if let Some(code) = &answer.code {
                    problem.push_str(&format!(" {code}"));
                }
                if let Some(detail) = &answer.detail {
                    problem.push_str(&format!("; the API said: {detail:?}"));
                }
                Ok(Attempt::Transient(problem))
            }
            s => Err(SourceError::Rejected {
                status: s.as_u16(),
                answer: summary().answer(),
            }),
        }
    }
}

#[async_trait]
impl EventSource for AtlassianClient {
    async fn fetch_page(
        &self,
        request: &PageRequest,
        deadline: Instant,
        wire: &WireCounters,
    ) -> Result<Page, SourceError> {
        let mut creds = self.credentials.get().await?;
        let mut delays = RetryDelays::new();
        let mut refreshed_key = false;
        let mut attempts = 0u32;
        let mut last_problem = String::from("no attempt made");
        // Attempts the API failed (not those the run's budget cut short): with none, running out
        // of time is the budget's doing and the run ends normally; with some, the API is at fault.
        let mut failures = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining < MIN_ATTEMPT_TIME {
                return Err(if failures == 0 {
                    SourceError::BudgetSpent
                } else {
                    SourceError::Unavailable {
                        attempts,
                        last_problem,
                    }
                });
            }
            attempts += 1;
            wire.count(WireEvent::Request);
            let timeout = remaining.min(self.request_timeout);
            let wait = match self.attempt(&creds, request, timeout).await? {
                Attempt::Done(page) => {
                    wire.count(WireEvent::Page);
                    return Ok(page);
                }
                Attempt::KeyRejected => {
                    wire.count(WireEvent::AuthFailure);
                    if refreshed_key {
                        return Err(SourceError::Unauthorized {
                            key_location: self.credentials.describe(),
                        });
                    }
                    // The key may have been rotated since it was cached: read it again, once.
                    refreshed_key = true;
                    creds = self.credentials.refresh().await?;
                    tracing::warn!(
                        "the API key was rejected (401); re-read it and trying once more"
                    );
                    continue;
                }
                Attempt::Throttled(asked) => {
                    wire.count(WireEvent::Throttled);
                    let wait = match asked {
                        Some(d) => {
                            d + Duration::from_millis(fastrand::u64(0..=RATE_LIMIT_JITTER_MS))
                        }
                        None => delays.next_delay(),
                    };
                    if Instant::now() + wait >= deadline {
                        return Err(SourceError::RateLimited);
                    }
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        "rate limited (429); waiting"
                    );
                    last_problem = "HTTP 429".to_string();
                    wait
                }
                Attempt::TimedOut(problem) if timeout < self.request_timeout => {
                    // The run had no more time to give this request.
                    last_problem = problem;
                    continue;
                }
                Attempt::Transient(problem) | Attempt::TimedOut(problem) => {
                    failures += 1;
                    tracing::warn!(problem = %problem, attempt = attempts, "page request failed; will retry");
                    last_problem = problem;
                    delays.next_delay()
                }
            };
            wire.count(WireEvent::Retry);
            let wake = (Instant::now() + wait).min(deadline);
            tokio::time::sleep_until(wake).await;
        }
    }

    async fn org_id(&self) -> Result<String, SourceError> {
        Ok(self.credentials.get().await?.org_id)
    }
}

/// The answer's body, at most [`MAX_BODY_BYTES`]: an answer that announces more is refused
/// before any of it is read, one that grows past it as soon as it does.
///
/// The buffer is sized once, never grown: to the announced length, or else to the cap. Growing
/// it by doubling holds the old and the new copy at once (a run fed chunked answers at the cap
/// peaked at 72 MB that way, against 48 MB now); a buffer of the cap's size is only address
/// space until it is written to, so a run holds what it read, no more.
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let too_large = || format!("the answer is larger than {MAX_BODY_BYTES} bytes");
    let mut body = match response.content_length() {
        Some(n) if n > MAX_BODY_BYTES as u64 => return Err(too_large()),
        Some(n) => Vec::with_capacity(n as usize),
        None => Vec::with_capacity(MAX_BODY_BYTES),
    };
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(format!(
                    "the answer broke off: {}",
                    describe_transport_error(&e)
                ))
            }
        }
    }
}

/// reqwest's messages carry the URL (never the key, which travels in a header); keep the kind.
fn describe_transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the body broke off"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::ApiKey;
    use crate::credentials::StaticCredentials;

    #[test]
    fn urls_are_built_from_the_base_and_position_only() {
        let client = AtlassianClient::new(
            Url::parse("https://api.atlassian.com").unwrap(),
            Arc::new(StaticCredentials::new("org-1".into(), ApiKey::new("k"))),
        )
        .unwrap();
        let url = client.events_stream_url(
            "org-1",
            &PageRequest {
                position: StreamPosition::Cursor("a+b/c=".into()),
                limit: 500,
            },
        );
        assert_eq!(
            url.as_str(),
            "https://api.atlassian.com/admin/v1/orgs/org-1/events-stream?limit=500&sortOrder=asc&cursor=a%2Bb%2Fc%3D"
        );
        let url = client.events_stream_url(
            "org-1",
            &PageRequest {
                position: StreamPosition::From {
                    from_ms: 1_700_000_000_000,
                },
                limit: 10,
            },
        );
        assert_eq!(
            url.query(),
            Some("limit=10&sortOrder=asc&from=1700000000000")
        );
    }
}
