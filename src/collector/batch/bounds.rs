//! How large a batch may grow. A batch closes at a page boundary (a page is never cut: the
//! cursor points past all of it) once another page could take it past a bound.
/// The configurable bounds (BATCH_MAX_EVENTS, BATCH_MAX_MIB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchBounds {
    /// Events read into the batch, repeats included.
    pub max_events: u32,
    /// Bytes of NDJSON the batch's objects hold, before compression.
    pub max_bytes: u64,
}

impl BatchBounds {
    pub const DEFAULT_MAX_EVENTS: u32 = 50_000;
    pub const DEFAULT_MAX_MIB: u64 = 64;
    /// The largest event bound the configuration accepts: a batch keeps 24 bytes for each of
    /// its events (a key hash and a time) until it is committed.
    pub const LARGEST_MAX_EVENTS: u32 = 200_000;
    pub const LARGEST_MAX_MIB: u64 = 1024;
}

impl Default for BatchBounds {
    fn default() -> Self {
        BatchBounds {
            max_events: Self::DEFAULT_MAX_EVENTS,
            max_bytes: Self::DEFAULT_MAX_MIB * 1024 * 1024,
        }
    }
}

/// Compressed bytes after which a batch closes whatever its bounds, so memory stays bounded
/// even for data that compresses badly: with the lines staged and the page being added, a run
/// stays well under 64 MB.
pub const MAX_COMPRESSED_BYTES: usize = 24 * 1024 * 1024;

/// Event-hours after which a batch closes whatever its bounds: every hour is an object to write
/// before the batch commits, and the pending record lists them (in the checkpoint item, which
/// DynamoDB caps at 400 KB).
pub const MAX_BATCH_HOURS: usize = 1024;
