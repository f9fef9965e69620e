//! The source side: pages of raw audit events, read from a position in the stream.
pub mod atlassian;

use crate::credentials::CredentialError;
use async_trait::async_trait;
use serde_json::value::RawValue;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;
use tokio::time::Instant;

/// Where to read from: the API's opaque cursor, or a processing time (epoch ms, inclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamPosition {
    Cursor(String),
    From { from_ms: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub position: StreamPosition,
    pub limit: u32,
}

/// One page of events, each exactly as received.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<Box<RawValue>>,
    /// `meta.next`: where the next page starts, or `None` when the API ended the stream without one.
    pub next_cursor: Option<String>,
    pub body_bytes: usize,
}

/// What happened on the wire, for metrics. One set per run, shared by every fetch of the run (a
/// page read ahead included), each adding to it as it goes: nothing to hand back, nothing lost
/// when a fetch is cancelled halfway.
#[derive(Debug, Default)]
pub struct WireCounters {
    requests: AtomicU64,
    pages: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
    auth_failures: AtomicU64,
}

/// One thing a fetch did on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireEvent {
    Request,
    Page,
    Throttled,
    Retry,
    AuthFailure,
}

/// The counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WireCount {
    pub requests: u64,
    pub pages: u64,
    pub throttled: u64,
    pub retries: u64,
    pub auth_failures: u64,
}

impl WireCounters {
    pub fn count(&self, event: WireEvent) {
        let counter = match event {
            WireEvent::Request => &self.requests,
            WireEvent::Page => &self.pages,
            WireEvent::Throttled => &self.throttled,
            WireEvent::Retry => &self.retries,
            WireEvent::AuthFailure => &self.auth_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self) -> WireCount {
        WireCount {
            requests: self.requests.load(Ordering::Relaxed),
            pages: self.pages.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            auth_failures: self.auth_failures.load(Ordering::Relaxed),
        }
    }
}

/// What the API said in an error answer (code and detail, already clipped and scrubbed of the
/// key), shown after the status in messages.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApiAnswer {
    pub code: Option<String>,
    pub detail: Option<String>,
}

impl ApiAnswer {
    fn code_shown(&self) -> String {
        self.code
            .as_ref()
            .map(|c| format!(" {c}"))
            .unwrap_or_default()
    }

    fn detail_shown(&self) -> String {
        self.detail
            .as_ref()
            .map(|d| format!("; the API said: {d:?}"))
            .unwrap_or_default()
    }
}

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("the API key was rejected (401): it may have expired or been revoked; create a new key at admin.atlassian.com → Settings → API keys and update {key_location}")]
    Unauthorized { key_location: String },
    #[error("the API key in {key_location} holds characters an HTTP header cannot carry (a line break or other control character, or non-ASCII text): it was not sent; copy the key again, exactly as admin.atlassian.com shows it")]
    KeyUnusable { key_location: String },
    #[error("the API refused access to organization {org_id} (403{}): the key must be an organization API key with admin rights (no scopes, or the read:events:admin scope), and the organization needs Atlassian Guard Standard or Enterprise for the audit log{}", .answer.code_shown(), .answer.detail_shown())]
    Forbidden { org_id: String, answer: ApiAnswer },
    #[error("organization {org_id} was not found (404{}): check the org id in {key_location} (it is the id in admin.atlassian.com/o/<org id>/…) and that the key belongs to that organization, on a plan with the audit log{}", .answer.code_shown(), .answer.detail_shown())]
    NotFound {
        org_id: String,
        key_location: String,
        answer: ApiAnswer,
    },
    #[error("the API refused the stored cursor (400 ADMIN-400-1)")]
    InvalidCursor,
    #[error("the API called a request without a cursor an invalid cursor (400 ADMIN-400-1): retrying would only repeat it; this is a bug or an API change; please report it")]
    CursorRefusedUnsent,
    #[error("the API rejected the request ({status}{}){}: this is a bug or an API change; please report it", .answer.code_shown(), .answer.detail_shown())]
    Rejected { status: u16, answer: ApiAnswer },
    #[error("the API answered a redirect ({status}) to {location:?}; redirects are not followed so the key is never sent elsewhere: check ATLASSIAN_API_BASE_URL")]
    Redirected { status: u16, location: String },
    #[error(
        "rate limited by the API (429) until after this run's time budget: the next run continues"
    )]
    RateLimited,
    #[error("this run's time budget ran out while waiting for the API: the next run continues")]
    BudgetSpent,
    #[error("the API did not answer usably within this run's time budget ({attempts} attempts; last: {last_problem}): the next run retries")]
    Unavailable { attempts: u32, last_problem: String },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

#[async_trait]
pub trait EventSource: Send + Sync {
    /// Fetches one page, retrying transient failures until `deadline`; counts what it does on
    /// the wire in `wire` as it goes.
    async fn fetch_page(
        &self,
        request: &PageRequest,
        deadline: Instant,
        wire: &WireCounters,
    ) -> Result<Page, SourceError>;

    /// The organization this source reads (its default source id).
    async fn org_id(&self) -> Result<String, SourceError>;
}
