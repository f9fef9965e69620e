//! The Atlassian organization events-stream client.
mod client;
mod error_body;
mod page;

pub use client::{AtlassianClient, USER_AGENT};
pub use error_body::ErrorSummary;
pub use page::{parse_page, PageError, MAX_CURSOR_BYTES};
