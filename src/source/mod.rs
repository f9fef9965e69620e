//! The source side: pages of raw audit events, read from a position in the stream.
pub mod atlassian;
mod backoff;
mod rate_limit;

pub use backoff::RetryDelays;
pub use rate_limit::{parse_rate_limit_reset, rate_limit_wait};

use crate::credentials::CredentialError;
use async_trait::async_trait;
use serde_json::value::RawValue;
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

/// What happened on the wire, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SourceStats {
    pub requests: u64,
    pub pages: u64,
    pub throttled: u64,
    pub retries: u64,
    pub auth_failures: u64,
}

impl SourceStats {
    /// Adds what another fetch (a page read ahead) saw.
    pub fn add(&mut self, other: &SourceStats) {
        self.requests += other.requests;
        self.pages += other.pages;
        self.throttled += other.throttled;
        self.retries += other.retries;
        self.auth_failures += other.auth_failures;
    }
}

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("the API key was rejected (401): it may have expired or been revoked; create a new key at admin.atlassian.com → Settings → API keys and update {key_location}")]
    Unauthorized { key_location: String },
    #[error("the API key in {key_location} holds characters an HTTP header cannot carry (a line break or other control character, or non-ASCII text): it was not sent; copy the key again, exactly as admin.atlassian.com shows it")]
    KeyUnusable { key_location: String },
    #[error("the API refused access to organization {org_id} (403{code}): the key must be an organization API key with admin rights (no scopes, or the read:events:admin scope), and the organization needs Atlassian Guard Standard or Enterprise for the audit log{detail}")]
    Forbidden {
        org_id: String,
        code: String,
        detail: String,
    },
    #[error("organization {org_id} was not found (404{code}): check the org id in {key_location} (it is the id in admin.atlassian.com/o/<org id>/…) and that the key belongs to that organization, on a plan with the audit log{detail}")]
    NotFound {
        org_id: String,
        key_location: String,
        code: String,
        detail: String,
    },
    #[error("the API refused the stored cursor (400 ADMIN-400-1)")]
    InvalidCursor,
    #[error("the API rejected the request ({status}{code}){detail}: this is a bug or an API change; please report it")]
    Rejected {
        status: u16,
        code: String,
        detail: String,
    },
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
    /// Fetches one page, retrying transient failures until `deadline`.
    async fn fetch_page(
        &self,
        request: &PageRequest,
        deadline: Instant,
        stats: &mut SourceStats,
    ) -> Result<Page, SourceError>;

    /// The organization this source reads (its default source id).
    async fn org_id(&self) -> Result<String, SourceError>;
}
