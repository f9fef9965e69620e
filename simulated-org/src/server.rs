//! The HTTP side: routing, validation, faults and page rendering for `/events-stream`
//! (`/events`, the older query endpoint, is answered by [`super::events_query`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;
use url::form_urlencoded;

use super::clock;
use super::cursor;
use super::events_query;
use super::faults::{self, CannedResponse, Fault, FaultPlan, ResetHeader};
use super::store::{EventStore, PageRequest, Position, SortOrder, TimeField};
use super::{RecordedRequest, SimulatedOrgConfig};

/// `X-RateLimit-Limit` of a scripted 429 when no per-minute limit is configured.
const ADVERTISED_RATE_LIMIT: u32 = 100;

pub(super) const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";

pub(crate) struct Shared {
    pub config: SimulatedOrgConfig,
    pub base_url: String,
    state: Mutex<OrgState>,
}

/// How pages are cut and ended; starts as configured, tests and campaigns change it live.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Paging {
    pub page_cap: Option<u32>,
    pub cursor_on_last_page: bool,
    pub bounds_on: TimeField,
}

impl Paging {
    /// Events a page holds at most: `limit`, or the cap when it is lower.
    fn page_size(&self, limit: u32) -> u32 {
        self.page_cap.map_or(limit, |cap| limit.min(cap.max(1)))
    }
}

pub(crate) struct OrgState {
    pub paging: Paging,
    pub store: EventStore,
    pub faults: FaultPlan,
    /// With an internal id so a stalled request's outcome lands on its own record.
    pub requests: Vec<(u64, RecordedRequest)>,
    last_request_id: u64,
    pub served_ids: HashSet<String>,
    /// The events by `attributes.time`, for `/events`.
    pub time_index: events_query::TimeIndex,
    /// (minute index since the epoch, requests seen in it).
    rate_window: (i64, u32),
}

impl Shared {
    pub fn new(config: SimulatedOrgConfig, base_url: String) -> Shared {
        let paging = Paging {
            page_cap: config.page_cap,
            cursor_on_last_page: config.cursor_on_last_page,
            bounds_on: config.bounds_on,
        };
        Shared {
            config,
            base_url,
            state: Mutex::new(OrgState {
                paging,
                store: EventStore::default(),
                faults: FaultPlan::default(),
                requests: Vec::new(),
                last_request_id: 0,
                served_ids: HashSet::new(),
                time_index: events_query::TimeIndex::default(),
                rate_window: (0, 0),
            }),
        }
    }

    /// A panic elsewhere must not take the simulated API down with it: ignore poisoning.
    pub fn lock(&self) -> MutexGuard<'_, OrgState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record_arrival(&self, rec: RecordedRequest) -> u64 {
        let mut st = self.lock();
        st.last_request_id += 1;
        let id = st.last_request_id;
        st.requests.push((id, rec));
        id
    }

    fn update_record(&self, id: u64, f: impl FnOnce(&mut RecordedRequest)) {
        let mut st = self.lock();
        if let Some((_, r)) = st.requests.iter_mut().rev().find(|(i, _)| *i == id) {
            f(r);
        }
    }

    /// Counts this request in the current wall-clock minute; true when it exceeds `limit`.
    fn over_rate_limit(&self, now_ms: i64, limit: u32) -> bool {
        let minute = now_ms.div_euclid(60_000);
        let mut st = self.lock();
        if st.rate_window.0 != minute {
            st.rate_window = (minute, 0);
        }
        st.rate_window.1 = st.rate_window.1.saturating_add(1);
        st.rate_window.1 > limit
    }
}

/// The only handler: every request lands here so every request is recorded and answered
/// with an API-shaped body, whatever its path or method.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let raw_query = parts.uri.query().map(str::to_owned);
    let query: Vec<(String, String)> = raw_query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let authorized = bearer_matches(&parts.headers, &shared.config.api_key);
    let id = shared.record_arrival(RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        authorized,
        status: 0,
        fault: None,
        received_at_ms: clock::now_ms(),
    });
    let ctx = RequestCtx {
        shared: &shared,
        id,
        path: &path,
        raw_query: raw_query.as_deref(),
        query: &query,
        authorized,
    };
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let response = respond(&ctx, &parts.method).await;
    let status = response.status().as_u16();
    shared.update_record(id, |r| r.status = status);
    response
}

pub(super) struct RequestCtx<'a> {
    pub shared: &'a Shared,
    id: u64,
    pub path: &'a str,
    pub raw_query: Option<&'a str>,
    pub query: &'a [(String, String)],
    pub authorized: bool,
}

/// Not Atlassian's: lets a process outside this one (the local Lambda invoke, which runs the
/// organization as `atlassian-audit simulate`) script a 429 for the next events-stream request,
/// with `X-RateLimit-Reset` `reset_in_secs` ahead (default an hour), as
/// [`super::SimulatedOrg::push_faults`] does in-process. POST, with the organization's key.
pub const CONTROL_THROTTLE_PATH: &str = "/_simulated/throttle-next-request";

fn control_throttle(ctx: &RequestCtx<'_>, method: &Method) -> Response {
    if method != Method::POST {
        return error_response(405, "ADMIN-405-1", "Method Not Allowed");
    }
    if !ctx.authorized {
        return unauthorized();
    }
    let in_secs = first(ctx.query, "reset_in_secs")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    ctx.shared.lock().faults.push([Fault::RateLimited {
        reset: ResetHeader::IsoSeconds { in_secs },
        retry_after_secs: None,
    }]);
    response(
        StatusCode::OK,
        JSON,
        json!({"scripted": "rate_limited", "reset_in_secs": in_secs}).to_string(),
    )
}

async fn respond(ctx: &RequestCtx<'_>, method: &Method) -> Response {
    let shared = ctx.shared;
    if ctx.path == CONTROL_THROTTLE_PATH {
        return control_throttle(ctx, method);
    }
    let Some(org) = events_stream_org(ctx.path) else {
        if let Some(org) = events_query::events_query_org(ctx.path) {
            return events_query::respond(ctx, method, &org);
        }
        return error_response(404, "ADMIN-404-1", "Not Found");
    };
    if method != Method::GET {
        let mut r = error_response(405, "ADMIN-405-1", "Method Not Allowed");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    let now = clock::now_ms();
    if let Some(limit) = shared.config.rate_limit_per_minute {
        // Checked before faults, so a throttled request does not use up a scripted fault.
        if shared.over_rate_limit(now, limit) {
            return rate_limited(limit, ResetHeader::IsoMinute, None, now);
        }
    }
    let fault = shared.lock().faults.next();
    if let Some(f) = &fault {
        let f = f.clone();
        shared.update_record(ctx.id, |r| r.fault = Some(f));
    }
    match &fault {
        Some(Fault::RateLimited {
            reset,
            retry_after_secs,
        }) => {
            let limit = shared
                .config
                .rate_limit_per_minute
                .unwrap_or(ADVERTISED_RATE_LIMIT);
            return rate_limited(limit, *reset, *retry_after_secs, now);
        }
        Some(Fault::ServerError { status }) => return server_error(*status),
        Some(Fault::NotJson) => {
            return response(StatusCode::OK, HTML, faults::NOT_JSON_HTML.to_owned())
        }
        Some(Fault::InvalidCursor) => return invalid_cursor(),
        Some(Fault::Unauthorized) => return unauthorized(),
        Some(Fault::Respond(canned)) => return canned_response(canned),
        Some(Fault::Stall { millis }) => tokio::time::sleep(Duration::from_millis(*millis)).await,
        Some(Fault::TruncatedBody | Fault::RepeatPrevious { .. }) | None => {}
    }
    if !ctx.authorized {
        return unauthorized();
    }
    if org != shared.config.org_id {
        return error_response(404, "ADMIN-404-2", "Org not found");
    }
    let params = match parse_params(ctx.query, &shared.config) {
        Ok(p) => p,
        Err(BadRequest(code, detail)) => return error_response(400, code, &detail),
    };
    let truncate = fault == Some(Fault::TruncatedBody);
    let repeat_previous = match fault {
        Some(Fault::RepeatPrevious { count }) => count,
        _ => 0,
    };
    page_response(ctx, params, truncate, repeat_previous)
}

struct Params {
    cursor: Option<(Position, SortOrder)>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    limit: u32,
    order: SortOrder,
}

pub(super) fn first<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A 400 to answer: (code, detail).
struct BadRequest(&'static str, String);

fn parse_params(
    query: &[(String, String)],
    config: &SimulatedOrgConfig,
) -> Result<Params, BadRequest> {
    let limit = match first(query, "limit") {
        None => config.default_limit,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=config.max_limit).contains(&n) => n,
            _ => {
                return Err(BadRequest(
                    "ADMIN-400-2",
                    format!(
                        "limit must be an integer between 1 and {}",
                        config.max_limit
                    ),
                ))
            }
        },
    };
    let order = match first(query, "sortOrder") {
        None | Some("asc") => SortOrder::Asc,
        Some("desc") => SortOrder::Desc,
        Some(_) => {
            return Err(BadRequest(
                "ADMIN-400-2",
                "sortOrder must be one of: asc, desc".to_owned(),
            ))
        }
    };
    let epoch_ms = |name: &str| -> Result<Option<i64>, BadRequest> {
        match first(query, name) {
            None => Ok(None),
            Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
                BadRequest(
                    "ADMIN-400-3",
                    format!("{name} must be a UNIX epoch time in milliseconds"),
                )
            }),
        }
    };
    let from_ms = epoch_ms("from")?;
    let to_ms = epoch_ms("to")?;
    let cursor = match first(query, "cursor") {
        None => None,
        // An empty `cursor=` is a client bug the API would not take either.
        Some(c) => Some(
            cursor::decode(c)
                .ok_or_else(|| BadRequest(INVALID_CURSOR.0, INVALID_CURSOR.1.to_owned()))?,
        ),
    };
    if cursor.is_none() {
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f > t {
                return Err(BadRequest(
                    "ADMIN-400-3",
                    "from must not be after to".to_owned(),
                ));
            }
        }
    }
    Ok(Params {
        cursor,
        from_ms,
        to_ms,
        limit,
        order,
    })
}

fn page_response(
    ctx: &RequestCtx<'_>,
    params: Params,
    truncate: bool,
    repeat_previous: usize,
) -> Response {
    let shared = ctx.shared;
    let (page, paging, order) = {
        let mut st = shared.lock();
        let paging = st.paging;
        let request = page_request(&params, paging, repeat_previous);
        let page = st.store.page(&request);
        if !truncate {
            // A cut page is not a delivered page.
            st.served_ids.extend(page.valid_ids.iter().cloned());
        }
        (page, paging, request.order)
    };
    let next = (page.full || paging.cursor_on_last_page)
        .then(|| cursor::encode(page.next_position, order));
    let links = match &next {
        Some(c) => {
            let base = shared
                .config
                .links_base_url
                .as_deref()
                .unwrap_or(&shared.base_url)
                .trim_end_matches('/');
            let self_url = match ctx.raw_query {
                Some(q) => format!("{base}{}?{q}", ctx.path),
                None => format!("{base}{}", ctx.path),
            };
            let mut next_query = form_urlencoded::Serializer::new(String::new());
            for (k, v) in ctx.query.iter().filter(|(k, _)| k != "cursor") {
                next_query.append_pair(k, v);
            }
            next_query.append_pair("cursor", c);
            json!({
                "self": self_url,
                "next": format!("{base}{}?{}", ctx.path, next_query.finish()),
            })
        }
        None => json!({}),
    };
    let page_size = page.events.len();
    let body = json!({
        "data": page.events,
        "meta": {"next": next, "page_size": page_size},
        "links": links,
    })
    .to_string();
    if truncate {
        let mut bytes = body.into_bytes();
        bytes.truncate(bytes.len() / 2);
        return response(StatusCode::OK, JSON, bytes);
    }
    response(StatusCode::OK, JSON, body)
}

/// The store read a request asks for. A cursor carries the sort order and replaces `from`; `to`
/// still bounds the read. When the bounds are on event time, a read without a cursor starts at
/// the beginning of the stream and skips what falls outside them.
fn page_request(params: &Params, paging: Paging, repeat_previous: usize) -> PageRequest {
    let on_processing_time = paging.bounds_on == TimeField::ProcessedAt;
    let (position, order, from_ms) = match params.cursor {
        Some((pos, order)) => (pos, order, None),
        None => match params.order {
            SortOrder::Asc => (
                Position::asc_start(params.from_ms.filter(|_| on_processing_time)),
                SortOrder::Asc,
                params.from_ms,
            ),
            SortOrder::Desc => (
                Position::desc_start(params.to_ms.filter(|_| on_processing_time)),
                SortOrder::Desc,
                params.from_ms,
            ),
        },
    };
    PageRequest {
        position,
        order,
        from_ms,
        to_ms: params.to_ms,
        bounds_on: paging.bounds_on,
        limit: usize::try_from(paging.page_size(params.limit)).unwrap_or(usize::MAX),
        repeat_previous,
    }
}

fn canned_response(canned: &CannedResponse) -> Response {
    let body = if canned.chunked {
        Body::from_stream(Chunks {
            body: canned.body.clone(),
        })
    } else {
        Body::from(canned.body.clone())
    };
    let mut r = Response::new(body);
    *r.status_mut() =
        StatusCode::from_u16(canned.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &canned.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            r.headers_mut().append(name, value);
        }
    }
    r
}

/// A body handed out 64 KiB at a time, so it goes out chunked, without a Content-Length.
struct Chunks {
    body: Bytes,
}

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let n = self.body.len().min(64 * 1024);
        std::task::Poll::Ready((n > 0).then(|| Ok(self.body.split_to(n))))
    }
}

/// `Authorization: Bearer <key>`; the scheme is case-insensitive (RFC 9110), the key is not.
fn bearer_matches(headers: &HeaderMap, key: &str) -> bool {
    let Some(Ok(value)) = headers.get(header::AUTHORIZATION).map(|v| v.to_str()) else {
        return false;
    };
    match value.trim().split_once(' ') {
        Some((scheme, token)) => {
            scheme.eq_ignore_ascii_case("bearer") && !key.is_empty() && token.trim() == key
        }
        None => false,
    }
}

/// The (percent-decoded) org id when `path` is `/admin/v1/orgs/{orgId}/events-stream`.
fn events_stream_org(path: &str) -> Option<String> {
    org_in_path(path, "events-stream")
}

/// The org id of `/admin/v1/orgs/{orgId}/{endpoint}`, decoded; `None` for any other path.
pub(super) fn org_in_path(path: &str, endpoint: &str) -> Option<String> {
    let org = path
        .strip_prefix("/admin/v1/orgs/")?
        .strip_suffix(endpoint)?
        .strip_suffix('/')?;
    if org.is_empty() || org.contains('/') {
        return None;
    }
    Some(percent_decode(org))
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Both digits are < 16, so the byte cannot overflow.
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// The API's error envelope: `{"errors":[{"id","status","code","title","detail"}]}`.
pub(super) fn error_response(status: u16, code: &str, detail: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"errors": [{
        "id": uuid::Uuid::new_v4().to_string(),
        "status": status.as_str(),
        "code": code,
        "title": status.canonical_reason().unwrap_or("Error"),
        "detail": detail,
    }]});
    response(status, JSON, body.to_string())
}

pub(super) fn unauthorized() -> Response {
    error_response(
        401,
        "ADMIN-401-1",
        "Unauthorized: invalid, expired or revoked API key",
    )
}

pub(super) const INVALID_CURSOR: (&str, &str) = ("ADMIN-400-1", "Invalid cursor");

fn invalid_cursor() -> Response {
    error_response(400, INVALID_CURSOR.0, INVALID_CURSOR.1)
}

fn server_error(status: u16) -> Response {
    let Ok(code) = StatusCode::from_u16(status) else {
        return error_response(500, "ADMIN-500-1", "Internal Server Error");
    };
    match status {
        502..=504 => response(
            code,
            HTML,
            faults::proxy_html(status, code.canonical_reason().unwrap_or("Error")),
        ),
        _ => error_response(
            status,
            &format!("ADMIN-{status}-1"),
            code.canonical_reason().unwrap_or("Error"),
        ),
    }
}

fn rate_limited(
    limit: u32,
    reset: ResetHeader,
    retry_after_secs: Option<u64>,
    now_ms: i64,
) -> Response {
    let mut r = error_response(429, "ADMIN-429-1", "Rate limit exceeded");
    let h = r.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-ratelimit-limit", limit.to_string());
    set("x-ratelimit-remaining", "0".to_owned());
    match reset {
        ResetHeader::IsoMinute => set(
            "x-ratelimit-reset",
            clock::format_minute(clock::next_minute_boundary(now_ms)),
        ),
        ResetHeader::IsoSeconds { in_secs } => {
            let delta = i64::try_from(in_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            set(
                "x-ratelimit-reset",
                clock::format_seconds(now_ms.saturating_add(delta)),
            );
        }
        ResetHeader::Absent => {}
    }
    if let Some(secs) = retry_after_secs {
        set("retry-after", secs.to_string());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_auth_parsing() {
        assert_eq!(
            events_stream_org("/admin/v1/orgs/abc-1/events-stream").as_deref(),
            Some("abc-1")
        );
        assert_eq!(
            events_stream_org("/admin/v1/orgs/a%2Db%zz%4/events-stream").as_deref(),
            Some("a-b%zz%4")
        );
        assert_eq!(events_stream_org("/admin/v1/orgs//events-stream"), None);
        assert_eq!(events_stream_org("/admin/v1/orgs/a/b/events-stream"), None);
        assert_eq!(events_stream_org("/admin/v1/orgs/a/events"), None);
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("x%4"), "x%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");

        let mut h = HeaderMap::new();
        assert!(!bearer_matches(&h, "k"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer k"));
        assert!(bearer_matches(&h, "k"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic k"));
        assert!(!bearer_matches(&h, "k"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert!(!bearer_matches(&h, ""));
    }
}
