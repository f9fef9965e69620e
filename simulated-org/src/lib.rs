//! The project's own simulated Atlassian organization: a loopback HTTP server implementing
//! `GET /admin/v1/orgs/{orgId}/events-stream` as documented and as seen in real responses.
//! The CLI's `demo`, the integration tests and the fault campaigns all run against it.
//! It also serves the same events on the older query endpoint `GET /admin/v1/orgs/{orgId}/events`
//! (newest first by `time`; see `events_query`), for benchmarks against collectors that use it.
//!
//! - Events are ordered by (`attributes.processedAt`, insertion sequence); processedAt never
//!   decreases, ties are allowed (a whole batch shares one).
//! - Cursors are keyset positions (base64url of `{"p":ms,"s":seq,"o":"asc"|"desc"}`): events
//!   appended later always land after every existing ascending cursor, so polling the last
//!   cursor sees them.
//! - Pages hold at most `limit` events, or fewer under a page cap
//!   ([`SimulatedOrgConfig::page_cap`], [`SimulatedOrg::set_page_cap`]): a full page always
//!   carries a cursor, the last one only in the `cursor_on_last_page` style.
//! - `from`/`to` filter on processedAt, or on `attributes.time`
//!   ([`SimulatedOrgConfig::bounds_on`]); either way the stream stays in processing order and
//!   a cursor is a pure position (it does not carry `from`).
//! - Faults are scripted ([`SimulatedOrg::push_faults`]) or seeded-random
//!   ([`SimulatedOrg::set_random_faults`]); only requests on the events-stream path draw them.
//! - The server runs until [`SimulatedOrg::shutdown`] or the end of the tokio runtime; dropping
//!   the handles does not stop it.

mod admin_work;
mod benign;
mod clock;
mod cursor;
mod demo;
mod events_query;
mod faults;
mod generator;
mod incidents;
mod scenarios;
mod server;
mod store;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use admin_work::{generate_admin_work, ADMIN_WORK_ACTIONS};
pub use benign::{
    generate_benign_events, generate_benign_events_for_org, is_admin_grant, ROUTINE_ACTIONS,
};
pub use clock::{format_millis as format_processed_at, now_ms};
pub use demo::{DemoScenario, DemoTraffic};
pub use faults::{CannedResponse, Fault, ResetHeader};
pub use generator::{
    generate_events, generate_events_for_org, generate_invalid_events, generate_invalid_events_in,
    process_days_late,
};
pub use incidents::incident_events;
pub use scenarios::{security_scenario, Question, SecurityScenario, Who, HOSTILE_ACTOR};
pub use server::CONTROL_THROTTLE_PATH;
pub use store::TimeField;

use server::Shared;

/// Org id of [`SimulatedOrgConfig::default`] and of [`generate_events`]' links.
pub const DEFAULT_ORG_ID: &str = "sim-org-0001";
/// API key of [`SimulatedOrgConfig::default`]: a demo value, not a secret.
pub const DEFAULT_API_KEY: &str = "ATCTT3xFfGN0-simulated-demo-key-not-a-secret";
/// What [`SimulatedOrg::append_backlog`] adds to an event's `time` to make its processedAt.
pub const BACKLOG_PROCESSING_LAG_MS: i64 = 1_500;

#[derive(Clone)]
pub struct SimulatedOrgConfig {
    pub org_id: String,
    pub api_key: String,
    /// true: the last page carries a resumable cursor in `meta.next` (and `links.next`);
    /// false: the last page has `meta.next: null` and `links: {}`. Both exist in the wild.
    pub cursor_on_last_page: bool,
    /// At most this many events a page whatever `limit` asks for, as a server that caps pages
    /// for its own reasons (size, load) would; `None` serves `limit`. A capped page that is
    /// full still carries a cursor.
    pub page_cap: Option<u32>,
    /// The time `from` and `to` filter on (Atlassian does not document which).
    pub bounds_on: TimeField,
    /// `limit` when the request has none (200, like the real API).
    pub default_limit: u32,
    /// Largest accepted `limit` (500).
    pub max_limit: u32,
    /// When `Some(n)`: past n events-stream requests in the current wall-clock minute, 429 with
    /// `X-RateLimit-Reset` at the next minute boundary, minute precision (`2023-10-11T18:22Z`).
    pub rate_limit_per_minute: Option<u32>,
    /// When `Some`, the full URLs in `links` use this base instead of the server's own, to test
    /// that clients never follow them.
    pub links_base_url: Option<String>,
    /// Time every answer takes before it starts, like the real API across the internet
    /// (benchmarks use it to show where a collector's time goes; zero on plain loopback).
    pub latency: std::time::Duration,
}

impl Default for SimulatedOrgConfig {
    fn default() -> Self {
        SimulatedOrgConfig {
            org_id: DEFAULT_ORG_ID.to_owned(),
            api_key: DEFAULT_API_KEY.to_owned(),
            cursor_on_last_page: true,
            page_cap: None,
            bounds_on: TimeField::ProcessedAt,
            default_limit: 200,
            max_limit: 500,
            rate_limit_per_minute: None,
            links_base_url: None,
            latency: std::time::Duration::ZERO,
        }
    }
}

impl fmt::Debug for SimulatedOrgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedOrgConfig")
            .field("org_id", &self.org_id)
            .field("api_key", &"<redacted>")
            .field("cursor_on_last_page", &self.cursor_on_last_page)
            .field("page_cap", &self.page_cap)
            .field("bounds_on", &self.bounds_on)
            .field("default_limit", &self.default_limit)
            .field("max_limit", &self.max_limit)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("links_base_url", &self.links_base_url)
            .field("latency", &self.latency)
            .finish()
    }
}

/// One request as the server saw it. The Authorization header itself is never kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// Decoded query pairs, in order, duplicates kept.
    pub query: Vec<(String, String)>,
    /// Whether `Authorization: Bearer <configured key>` was present.
    pub authorized: bool,
    /// Status answered; 0 while unanswered, or when the client left before the answer
    /// (e.g. during a `Stall`).
    pub status: u16,
    /// The fault this request drew, if any. `TruncatedBody`/`RepeatPrevious` have no visible
    /// effect when the request fails validation anyway.
    pub fault: Option<Fault>,
    pub received_at_ms: i64,
}

impl RecordedRequest {
    /// First value of query parameter `name`.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Whether an event passes the `Atlassian.Audit` schema's required fields (a string `id`, a
/// string `type`, an `attributes` object, a `links` object) and has an RFC 3339
/// `attributes.time`. Others are stored and served all the same (they exist).
pub fn is_valid_event(event: &Value) -> bool {
    let non_empty_str =
        |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    let Some(attrs) = event.get("attributes").and_then(Value::as_object) else {
        return false;
    };
    // The collector also needs a parseable `attributes.time` to place the event in its hour.
    let time_ok = attrs
        .get("time")
        .and_then(Value::as_str)
        .and_then(clock::parse_rfc3339_ms)
        .is_some();
    non_empty_str(event.get("id"))
        && non_empty_str(event.get("type"))
        && event.get("links").is_some_and(Value::is_object)
        && time_ok
}

/// A running simulated organization. Cheap to clone; all clones share one server and state.
#[derive(Clone)]
pub struct SimulatedOrg {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    server: Arc<Server>,
}

/// The listening task, shared by the organizations it serves.
struct Server {
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Server {
    /// Serves `app` on `listener` in a tokio task until shut down.
    fn spawn(listener: tokio::net::TcpListener, app: axum::Router) -> Arc<Server> {
        let (tx, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let signal = async move {
                // Only an explicit shutdown stops the server, not dropped handles.
                if rx.wait_for(|stop| *stop).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::warn!(error = %e, "simulated org server stopped with an error");
            }
        });
        Arc::new(Server {
            shutdown: tx,
            task: Mutex::new(Some(task)),
        })
    }
}

/// The organization a request's path names (`/admin/v1/orgs/{org}/…`).
fn org_in_path(path: &str) -> Option<&str> {
    let mut segments = path.trim_start_matches('/').split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some("admin"), Some("v1"), Some("orgs")) => segments.next(),
        _ => None,
    }
}

impl fmt::Debug for SimulatedOrg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedOrg")
            .field("base_url", &self.inner.shared.base_url)
            .field("org_id", &self.inner.shared.config.org_id)
            .finish_non_exhaustive()
    }
}

impl SimulatedOrg {
    /// Binds 127.0.0.1:`port` (0 = any free port), serves in a tokio task, returns once listening.
    pub async fn start(config: SimulatedOrgConfig, port: u16) -> std::io::Result<SimulatedOrg> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://127.0.0.1:{}", addr.port());
        let shared = Arc::new(Shared::new(config, base_url));
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&shared));
        let server = Server::spawn(listener, app);
        tracing::debug!(%addr, "simulated Atlassian org listening");
        Ok(SimulatedOrg {
            inner: Arc::new(Inner { shared, server }),
        })
    }

    /// Several organizations behind one address, as the real API serves every organization
    /// from one host: a request goes to the organization its path names, which checks the key
    /// against its own (a path naming none of them goes to the first, which answers 404).
    /// Shutting any of them down stops the server of all.
    pub async fn start_many(
        configs: Vec<SimulatedOrgConfig>,
        port: u16,
    ) -> std::io::Result<Vec<SimulatedOrg>> {
        if configs.is_empty() {
            return Ok(Vec::new());
        }
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let base_url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let orgs: Vec<Arc<Shared>> = configs
            .into_iter()
            .map(|c| Arc::new(Shared::new(c, base_url.clone())))
            .collect();
        let routes = Arc::new(orgs.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let routes = Arc::clone(&routes);
            async move {
                let org = org_in_path(req.uri().path()).map(str::to_owned);
                let shared = org
                    .and_then(|o| routes.iter().find(|s| s.config.org_id == o).cloned())
                    .unwrap_or_else(|| Arc::clone(&routes[0]));
                server::handle(axum::extract::State(shared), req).await
            }
        });
        let server = Server::spawn(listener, app);
        Ok(orgs
            .into_iter()
            .map(|shared| SimulatedOrg {
                inner: Arc::new(Inner {
                    shared,
                    server: Arc::clone(&server),
                }),
            })
            .collect())
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.shared().base_url.clone()
    }

    pub fn org_id(&self) -> &str {
        &self.shared().config.org_id
    }

    pub fn api_key(&self) -> &str {
        &self.shared().config.api_key
    }

    pub fn config(&self) -> &SimulatedOrgConfig {
        &self.shared().config
    }

    /// Appends events processed now: `attributes.processedAt` = max(now, last processedAt) at
    /// millisecond precision, the same for the whole batch. A value that is not an object with
    /// an `attributes` object is stored as is (its processedAt only orders it internally).
    pub fn append_events(&self, events: Vec<Value>) {
        self.shared().lock().store.append(events, now_ms());
    }

    /// Appends with an explicit processedAt (epoch ms) for every event, for backlogs. A value
    /// earlier than the last processedAt is **clamped** up to it (the stream never goes back);
    /// values outside year 1970..=9999 are clamped into it.
    pub fn append_events_at(&self, events: Vec<Value>, processed_at_ms: i64) {
        self.shared().lock().store.append(events, processed_at_ms);
    }

    /// Appends events as a backlog processed shortly after they happened: each event's
    /// processedAt = max(its `time` + [`BACKLOG_PROCESSING_LAG_MS`], last processedAt), so late
    /// events (old `time`) are processed late. Events without a parseable `time` take the
    /// previous event's processedAt (or now, when there is none).
    pub fn append_backlog(&self, events: Vec<Value>) {
        let mut st = self.shared().lock();
        for event in events {
            let at = event
                .pointer("/attributes/time")
                .and_then(Value::as_str)
                .and_then(clock::parse_rfc3339_ms)
                .map(|t| t.saturating_add(BACKLOG_PROCESSING_LAG_MS))
                .or(st.store.last_processed_at_ms())
                .unwrap_or_else(now_ms);
            st.store.append(vec![event], at);
        }
    }

    /// From the next request on, at most `cap` events a page (`None`: as many as `limit`).
    pub fn set_page_cap(&self, cap: Option<u32>) {
        self.shared().lock().paging.page_cap = cap;
    }

    /// From the next request on, end the stream with a resumable cursor (`true`) or with
    /// `meta.next: null` (`false`).
    pub fn set_cursor_on_last_page(&self, on: bool) {
        self.shared().lock().paging.cursor_on_last_page = on;
    }

    /// From the next request on, `from` and `to` filter on this time.
    pub fn set_bounds_on(&self, field: TimeField) {
        self.shared().lock().paging.bounds_on = field;
    }

    /// Faults for the next events-stream requests, one per request, in order (before any
    /// random draw).
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared().lock().faults.push(faults);
    }

    /// Each events-stream request with no scripted fault draws one with probability `rate`
    /// (seeded), uniformly among `kinds`. `rate <= 0` or no kinds turns random faults off.
    pub fn set_random_faults(&self, rate: f64, seed: u64, kinds: Vec<Fault>) {
        self.shared().lock().faults.set_random(rate, seed, kinds);
    }

    /// Drops scripted faults still queued and turns random faults off.
    pub fn clear_faults(&self) {
        self.shared().lock().faults.clear();
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared()
            .lock()
            .requests
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Number of events stored, invalid ones included.
    pub fn event_count(&self) -> usize {
        self.shared().lock().store.len()
    }

    /// All stored events as served (processedAt stamped), in processing order.
    pub fn events(&self) -> Vec<Value> {
        self.shared().lock().store.values()
    }

    /// Ids of all stored valid events ([`is_valid_event`]).
    pub fn valid_event_ids(&self) -> HashSet<String> {
        self.shared().lock().store.valid_ids()
    }

    /// Ids of valid events sent in any complete 200 page (a `TruncatedBody` page does not count).
    pub fn served_ids(&self) -> HashSet<String> {
        self.shared().lock().served_ids.clone()
    }

    /// processedAt (epoch ms) of the last event appended.
    pub fn last_processed_at_ms(&self) -> Option<i64> {
        self.shared().lock().store.last_processed_at_ms()
    }

    /// Stops accepting connections; requests in flight are answered first. Idempotent.
    pub fn shutdown(&self) {
        self.inner.server.shutdown.send_replace(true);
    }

    /// [`shutdown`](Self::shutdown), then waits until the server task has ended.
    pub async fn shutdown_and_wait(&self) {
        self.shutdown();
        let task = self
            .inner
            .server
            .task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// Starts an org for the CLI's `simulate` and the tests: `valid` generated events over the last
/// 24 hours plus `invalid` invalid ones interleaved, no incidents ([`serve_demo_scenario`] with
/// [`DemoTraffic::Generated`]).
pub async fn serve_demo_org(
    config: SimulatedOrgConfig,
    port: u16,
    seed: u64,
    valid: usize,
    invalid: usize,
) -> std::io::Result<SimulatedOrg> {
    let scenario = DemoScenario {
        seed,
        backlog: valid,
        invalid,
        traffic: DemoTraffic::Generated,
        ..DemoScenario::default()
    };
    serve_demo_scenario(config, port, &scenario).await
}

/// Starts an org holding `scenario`'s backlog ([`DemoScenario::backlog_events`]), appended as
/// a backlog ([`SimulatedOrg::append_backlog`]).
pub async fn serve_demo_scenario(
    config: SimulatedOrgConfig,
    port: u16,
    scenario: &DemoScenario,
) -> std::io::Result<SimulatedOrg> {
    let events = scenario.backlog_events(&config.org_id, now_ms());
    let org = SimulatedOrg::start(config, port).await?;
    org.append_backlog(events);
    Ok(org)
}

/// Several organizations behind one address ([`SimulatedOrg::start_many`]), each with the
/// scenario's backlog for its own id, seeded apart (the seed plus the organization's place).
pub async fn serve_demo_scenarios(
    configs: Vec<SimulatedOrgConfig>,
    port: u16,
    scenario: &DemoScenario,
) -> std::io::Result<Vec<SimulatedOrg>> {
    let orgs = SimulatedOrg::start_many(configs, port).await?;
    for (i, org) in orgs.iter().enumerate() {
        let seeded = DemoScenario {
            seed: scenario.seed.wrapping_add(i as u64),
            ..scenario.clone()
        };
        org.append_backlog(seeded.backlog_events(org.org_id(), now_ms()));
    }
    Ok(orgs)
}
