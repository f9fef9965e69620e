//! The Atlassian organization events-stream client.
mod backoff;
mod client;
mod error_body;
mod loopback;
mod page;
mod rate_limit;

use std::time::Duration;

/// The most events a page may be asked for: the API refuses a larger `limit`.
pub const MAX_PAGE_LIMIT: u32 = 500;
/// How long one request to the API may take before it is retried (API_REQUEST_TIMEOUT).
pub const DEFAULT_API_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer the client reads: 24 MiB. A page of 500 real events is well under 2 MB;
/// a bigger answer is refused unread (when it says its length) or as soon as it grows past
/// this, so a hostile or broken API cannot make a run hold more than this per request.
pub const MAX_BODY_BYTES: usize = 24 * 1024 * 1024;
/// A page may hold at most this many times the `limit` asked for (servers have been seen to
/// serve one more event than asked); more is refused before the rest of `data` is held.
pub const MAX_EVENTS_PER_LIMIT: usize = 2;

pub use backoff::RetryDelays;
pub use client::{AtlassianClient, USER_AGENT};
pub use error_body::ErrorSummary;
pub use loopback::{is_loopback, is_loopback_url};
pub use page::{parse_page, parse_page_at_most, PageError, MAX_CURSOR_BYTES};
pub use rate_limit::{parse_rate_limit_reset, rate_limit_wait};
