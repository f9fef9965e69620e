//! A fault-injecting HTTP proxy in front of moto: the collector's S3, DynamoDB and Secrets
//! Manager traffic goes through it (`AWS_ENDPOINT_URL`), and a seeded draw decides, request by
//! request, whether to answer with an error instead, lose the answer of a request that did reach
//! moto, or stall past the SDK's attempt timeout.
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri};
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AwsFault {
    /// 500 InternalError before the request reaches moto.
    ServerError,
    /// 503 SlowDown (S3) / ThrottlingException (DynamoDB, Secrets Manager), before moto.
    Throttled,
    /// The request reaches moto and takes effect, but the answer is lost: the client sees a 500.
    ResponseLost,
    /// No answer until after the client's attempt timeout.
    Stall,
}

impl AwsFault {
    const ALL: [AwsFault; 4] = [
        AwsFault::ServerError,
        AwsFault::Throttled,
        AwsFault::ResponseLost,
        AwsFault::Stall,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AwsFault::ServerError => "aws_500",
            AwsFault::Throttled => "aws_throttled",
            AwsFault::ResponseLost => "aws_response_lost",
            AwsFault::Stall => "aws_stall_past_timeout",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Service {
    S3,
    DynamoDb,
    SecretsManager,
}

struct Plan {
    rate: f64,
    rng: fastrand::Rng,
    counts: BTreeMap<(AwsFault, Service), u64>,
    requests: u64,
}

#[derive(Clone)]
pub struct AwsProxy {
    plan: Arc<Mutex<Plan>>,
    upstream: String,
    http: reqwest::Client,
    stall: Duration,
}

impl AwsProxy {
    /// Serves on `listener`, forwarding to `upstream` (moto's base URL). Faults start off.
    pub fn serve(
        listener: std::net::TcpListener,
        upstream: String,
        seed: u64,
        stall: Duration,
    ) -> AwsProxy {
        let proxy = AwsProxy {
            plan: Arc::new(Mutex::new(Plan {
                rate: 0.0,
                rng: fastrand::Rng::with_seed(seed),
                counts: BTreeMap::new(),
                requests: 0,
            })),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            stall,
        };
        // axum refuses bodies over 2 MB by default (413, which the SDK reports as an unhandled
        // error): a batch of a big backlog writes hour objects far larger than that, which S3
        // takes in one PUT. Campaign 7 got stuck on exactly this. The collector's objects are
        // capped at MAX_COMPRESSED_BYTES; leave room above it.
        let app = axum::Router::new()
            .fallback(forward)
            .layer(axum::extract::DefaultBodyLimit::max(PROXIED_BODY_LIMIT))
            .with_state(proxy.clone());
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        proxy
    }

    /// The share of requests (0..=1) that draw a fault from now on.
    pub fn set_rate(&self, rate: f64) {
        self.lock().rate = rate;
    }

    /// Faults injected so far, by kind.
    pub fn faults(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for ((fault, _), n) in &self.lock().counts {
            *out.entry(fault.name()).or_default() += n;
        }
        out
    }

    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn draw(&self, service: Service) -> Option<AwsFault> {
        let mut plan = self.lock();
        plan.requests += 1;
        if plan.rate <= 0.0 || plan.rng.f64() >= plan.rate {
            return None;
        }
        let fault = AwsFault::ALL[plan.rng.usize(..AwsFault::ALL.len())];
        *plan.counts.entry((fault, service)).or_default() += 1;
        Some(fault)
    }
}

fn service_of(headers: &HeaderMap) -> Service {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if target.starts_with("DynamoDB_") {
        Service::DynamoDb
    } else if target.starts_with("secretsmanager.") {
        Service::SecretsManager
    } else {
        Service::S3
    }
}

/// The error each service answers, shaped as the SDK expects it, so its retry logic classifies it.
fn error_response(service: Service, fault: AwsFault) -> Response {
    let throttled = fault == AwsFault::Throttled;
    let (status, content_type, body) = match (service, throttled) {
        (Service::S3, true) => (
            503,
            "application/xml",
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>".to_string(),
        ),
        (Service::S3, false) => (
            500,
            "application/xml",
            "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>".to_string(),
        ),
        (Service::DynamoDb, true) => (
            400,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#.to_string(),
        ),
        (Service::DynamoDb, false) => (
            500,
            "application/x-amz-json-1.0",
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#.to_string(),
        ),
        (Service::SecretsManager, true) => (
            400,
            "application/x-amz-json-1.1",
            r#"{"__type":"ThrottlingException","Message":"Rate exceeded"}"#.to_string(),
        ),
        (Service::SecretsManager, false) => (
            500,
            "application/x-amz-json-1.1",
            r#"{"__type":"InternalServiceError","Message":"An error occurred on the server side."}"#.to_string(),
        ),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// The largest request body the proxy forwards: well above any object the collector writes.
const PROXIED_BODY_LIMIT: usize = 4 * atlassian_audit::collector::MAX_COMPRESSED_BYTES;

const HOP_BY_HOP: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "keep-alive",
];

async fn forward(
    State(proxy): State<AwsProxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let service = service_of(&headers);
    let fault = proxy.draw(service);
    match fault {
        Some(AwsFault::ServerError) | Some(AwsFault::Throttled) => {
            return error_response(service, fault.unwrap_or(AwsFault::ServerError));
        }
        Some(AwsFault::Stall) => {
            tokio::time::sleep(proxy.stall).await;
            return error_response(service, AwsFault::ServerError);
        }
        _ => {}
    }

    let url = format!(
        "{}{}",
        proxy.upstream,
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let mut request = proxy.http.request(method, url).body(body);
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let upstream = match request.send().await {
        Ok(r) => r,
        Err(_) => return error_response(service, AwsFault::ServerError),
    };
    if fault == Some(AwsFault::ResponseLost) {
        // moto applied it; the client never learns.
        return error_response(service, AwsFault::ServerError);
    }
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = Response::builder().status(status);
    for (name, value) in upstream.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            if let Ok(name) = HeaderName::from_bytes(name.as_str().as_bytes()) {
                response = response.header(name, value.as_bytes());
            }
        }
    }
    let body = upstream.bytes().await.unwrap_or_default();
    response
        .body(Body::from(body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
