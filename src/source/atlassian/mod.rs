//! The Atlassian organization events-stream client.
mod backoff;
mod client;
mod error_body;
mod page;
mod rate_limit;

use std::time::Duration;

/// The most events a page may be asked for: the API refuses a larger `limit`.
pub const MAX_PAGE_LIMIT: u32 = 500;
/// How long one request to the API may take before it is retried (API_REQUEST_TIMEOUT).
pub const DEFAULT_API_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub use backoff::RetryDelays;
pub use client::{AtlassianClient, USER_AGENT};
pub use error_body::ErrorSummary;
pub use page::{parse_page, PageError, MAX_CURSOR_BYTES};
pub use rate_limit::{parse_rate_limit_reset, rate_limit_wait};
