//! Panther `Atlassian.Audit` normalization of one audit event.
//!
//! The output line is the event exactly as received (every field kept, key order kept,
//! whitespace removed) with Panther's `p_*` fields appended at the end of the top-level
//! object. Events lacking a required field are quarantined with a reason, never
//! dropped and never a panic.

mod compact_json;
mod indicators;
mod json_view;
mod scan;
mod string_attributes;
mod timestamp;
mod url_host;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

pub use compact_json::{compact_json_into, nesting_depth, push_json_string};
pub use indicators::is_email;
use timestamp::push_panther_timestamp;
pub use timestamp::{format_panther_timestamp, parse_timestamp, TimestampError};

use indicators::Indicators;
use json_view::{AttributesView, EventView, Field, Kind, View};

pub const LOG_TYPE: &str = "Atlassian.Audit";
pub const SCHEMA_VERSION: u32 = 0;

/// Longest stretch of an offending value quoted in a quarantine reason.
const MAX_QUOTED_CHARS: usize = 64;

/// Deepest nesting of arrays and objects a valid event may have. Real events nest about six
/// levels; common JSON readers stop at 128 (serde_json) or 1000 (Python), so a deeper event
/// would give lines nobody downstream can read. Such an event is quarantined, and its text is
/// kept as a JSON string (`raw_text`) so the quarantine line itself stays readable.
pub const MAX_NESTING_DEPTH: usize = 100;

#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub source_id: String,
    pub source_label: String,
}

/// Normalizes events of one source; cheap to create; holds the source and any cached
/// per-source data.
#[derive(Debug, Clone)]
pub struct Normalizer {
    /// SHA-256 state already fed `source_id + 0x00`, cloned per event for `p_row_id`.
    row_id_hasher: Sha256,
    /// `,"p_source_id":…,"p_source_label":…,"p_schema_version":0`, rendered once.
    source_members: String,
    source: SourceInfo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Valid(NormalizedEvent),
    Quarantined(QuarantinedEvent),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedEvent {
    /// The event id.
    pub dedupe_key: String,
    /// UTC, from `attributes.time`.
    pub event_time: DateTime<Utc>,
    /// `attributes.processedAt` if present and parseable, UTC.
    pub processed_at: Option<DateTime<Utc>>,
    /// One compact JSON object, no trailing newline, no '\n' inside.
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedEvent {
    /// The event id if `id` is a non-empty string, else `sha256:<hex of the compacted raw>`.
    pub dedupe_key: String,
    pub processed_at: Option<DateTime<Utc>>,
    /// Human-readable, naming the offending field(s).
    pub reason: String,
    /// `{"error":"<reason>","raw":<the event as received, compacted>}`, no trailing newline;
    /// for an event nested deeper than [`MAX_NESTING_DEPTH`],
    /// `{"error":"<reason>","raw_text":"<the compacted event as a JSON string>"}`.
    pub line: String,
}

/// The time a page was parsed, rendered for `p_parse_time` once for all of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTime {
    time: DateTime<Utc>,
    panther: String,
}

impl ParseTime {
    pub fn new(time: DateTime<Utc>) -> Self {
        ParseTime {
            time,
            panther: format_panther_timestamp(time),
        }
    }

    pub fn time(&self) -> DateTime<Utc> {
        self.time
    }
}

/// What the required-field checks found.
struct Checked {
    id: String,
    event_time: DateTime<Utc>,
    processed_at: Option<DateTime<Utc>>,
    /// The `,"p_any_…":[…]` members and `p_context`/`p_container` (string_attributes.rs),
    /// rendered while the event's text is at hand.
    indicator_members: String,
}

struct Rejected {
    reason: String,
    /// The event id when it is usable as a dedupe key despite the other problems.
    id: Option<String>,
    processed_at: Option<DateTime<Utc>>,
}

impl Normalizer {
    pub fn new(source: SourceInfo) -> Self {
        let mut row_id_hasher = Sha256::new();
        row_id_hasher.update(source.source_id.as_bytes());
        row_id_hasher.update([0u8]);
        let mut source_members = String::from(",\"p_source_id\":");
        push_json_string(&mut source_members, &source.source_id);
        source_members.push_str(",\"p_source_label\":");
        push_json_string(&mut source_members, &source.source_label);
        source_members.push_str(",\"p_schema_version\":");
        source_members.push_str(&SCHEMA_VERSION.to_string());
        Normalizer {
            row_id_hasher,
            source_members,
            source,
        }
    }

    /// The source whose events this normalizer stamps.
    pub fn source(&self) -> &SourceInfo {
        &self.source
    }

    /// `p_row_id`: lowercase hex of the first 16 bytes of
    /// SHA-256(source_id + 0x00 + event id), so a re-collected event keeps its row id.
    pub fn row_id(&self, event_id: &str) -> String {
        let digest = self
            .row_id_hasher
            .clone()
            .chain_update(event_id.as_bytes())
            .finalize();
        let mut out = String::with_capacity(32);
        push_hex(&mut out, &digest[..16]);
        out
    }

    /// `raw` is one element of the page's `data` array exactly as received.
    /// `parse_time` is the time the collector parsed the page (UTC).
    pub fn normalize(&self, raw: &RawValue, parse_time: DateTime<Utc>) -> Outcome {
        self.normalize_at(raw, &ParseTime::new(parse_time))
    }

    /// [`normalize`](Self::normalize) with the page's parse time rendered once for the page.
    pub fn normalize_at(&self, raw: &RawValue, parse_time: &ParseTime) -> Outcome {
        let mut compact = String::with_capacity(raw.get().len() + 512);
        let mut closers = scan::Closers::default();
        let depth = scan::compact_with_depth(raw.get(), &mut compact, &mut closers);
        if depth > MAX_NESTING_DEPTH {
            // The checks only scan what they skip, so they are safe at any depth; they still
            // give the id and processedAt the collector needs.
            let too_deep = format!(
                "event nests {depth} levels deep, more than the {MAX_NESTING_DEPTH} allowed"
            );
            let rejected = match check(raw, None) {
                Ok(ok) => Rejected {
                    reason: too_deep,
                    id: Some(ok.id),
                    processed_at: ok.processed_at,
                },
                Err(r) => Rejected {
                    reason: format!("{too_deep}; {}", r.reason),
                    ..r
                },
            };
            return quarantine(compact, rejected, RawAs::Text);
        }
        let doc = scan::Doc {
            text: &compact,
            closers: &closers,
        };
        match check(raw, Some(doc)) {
            // A valid event is a non-empty object, so its compact form ends in '}'.
            Ok(ok) if compact.ends_with('}') => {
                compact.pop();
                Outcome::Valid(self.finish_valid(ok, compact, parse_time))
            }
            Ok(ok) => quarantine(
                compact,
                Rejected {
                    reason: "event is not a JSON object".to_owned(),
                    id: Some(ok.id),
                    processed_at: ok.processed_at,
                },
                RawAs::Json,
            ),
            Err(rejected) => quarantine(compact, rejected, RawAs::Json),
        }
    }

    /// Appends the `p_*` members to `line`, the compacted event without its final '}'.
    fn finish_valid(
        &self,
        ok: Checked,
        mut line: String,
        parse_time: &ParseTime,
    ) -> NormalizedEvent {
        line.push_str(",\"p_log_type\":");
        push_json_string(&mut line, LOG_TYPE);
        line.push_str(",\"p_row_id\":\"");
        line.push_str(&self.row_id(&ok.id));
        line.push_str("\",\"p_event_time\":\"");
        push_panther_timestamp(&mut line, ok.event_time);
        line.push_str("\",\"p_parse_time\":\"");
        line.push_str(&parse_time.panther);
        line.push('"');
        line.push_str(&self.source_members);
        line.push_str(&ok.indicator_members);
        line.push('}');
        NormalizedEvent {
            dedupe_key: ok.id,
            event_time: ok.event_time,
            processed_at: ok.processed_at,
            line,
        }
    }
}

/// How a quarantine line carries the event: as JSON (`raw`), or as a string (`raw_text`).
enum RawAs {
    Json,
    Text,
}

fn quarantine(compact: String, rejected: Rejected, raw_as: RawAs) -> Outcome {
    let dedupe_key = match rejected.id {
        Some(id) => id,
        None => {
            let digest = Sha256::digest(compact.as_bytes());
            let mut key = String::with_capacity(7 + 64);
            key.push_str("sha256:");
            push_hex(&mut key, &digest);
            key
        }
    };
    let mut line = String::with_capacity(compact.len() + rejected.reason.len() + 24);
    line.push_str("{\"error\":");
    push_json_string(&mut line, &rejected.reason);
    match raw_as {
        RawAs::Json => {
            line.push_str(",\"raw\":");
            line.push_str(&compact);
        }
        RawAs::Text => {
            line.push_str(",\"raw_text\":");
            push_json_string(&mut line, &compact);
        }
    }
    line.push('}');
    Outcome::Quarantined(QuarantinedEvent {
        dedupe_key,
        processed_at: rejected.processed_at,
        reason: rejected.reason,
        line,
    })
}

/// An event's view and, when `attributes` is an object, its view or why serde could not read it.
type Views<'a> = (EventView<'a>, Option<Result<AttributesView<'a>, String>>);

/// The views read by scanning the event's compaction; `None` where serde could read them
/// differently (an escaped or repeated member name), whose messages then name positions in the
/// text as received.
fn scanned_views(compact: scan::Doc<'_>) -> Option<Views<'_>> {
    let event = EventView::scan(compact.text, Some(compact)).ok()?;
    let attrs = match event.attributes.raw.filter(|a| Kind::of(a) == Kind::Object) {
        Some(text) => Some(Ok(AttributesView::scan(text, Some(compact)).ok()?)),
        None => None,
    };
    Some((event, attrs))
}

/// The views read by serde from the event as received.
fn serde_views(raw: &RawValue) -> Result<Views<'_>, Rejected> {
    let event: EventView = serde_json::from_str(raw.get()).map_err(|e| Rejected {
        reason: format!("event cannot be read: {e}"),
        id: None,
        processed_at: None,
    })?;
    // Every view field accepts any JSON, so only a duplicated key can fail here.
    let attrs = event
        .attributes
        .raw
        .filter(|a| Kind::of(a) == Kind::Object)
        .map(|text| serde_json::from_str::<AttributesView>(text).map_err(|e| e.to_string()));
    Ok((event, attrs))
}

/// Checks the fields the `Atlassian.Audit` schema requires and extracts what the
/// output needs. Every problem found is named in the reason, not only the first.
///
/// `compact` is the event's compaction when it is read by scanning (it nests no deeper than
/// [`MAX_NESTING_DEPTH`]); serde reads it otherwise.
fn check<'a>(raw: &'a RawValue, compact: Option<scan::Doc<'a>>) -> Result<Checked, Rejected> {
    let kind = Kind::of(raw.get());
    if kind != Kind::Object {
        return Err(Rejected {
            reason: format!("event is {}, not a JSON object", kind.article_name()),
            id: None,
            processed_at: None,
        });
    }
    let (event, attrs_read) = match compact.and_then(scanned_views) {
        Some(views) => views,
        None => serde_views(raw)?,
    };

    let mut missing: Vec<&str> = Vec::new();
    let mut problems: Vec<String> = Vec::new();

    let mut id = None;
    if require(event.id, "id", Kind::String, &mut missing, &mut problems) {
        match event.id.as_string() {
            Some(s) if !s.is_empty() => id = Some(s),
            Some(_) => problems.push("field `id` is an empty string".to_owned()),
            None => problems.push("field `id` is not a readable string".to_owned()),
        }
    }
    require(
        event.kind,
        "type",
        Kind::String,
        &mut missing,
        &mut problems,
    );
    let attrs_is_object = require(
        event.attributes,
        "attributes",
        Kind::Object,
        &mut missing,
        &mut problems,
    );
    require(
        event.links,
        "links",
        Kind::Object,
        &mut missing,
        &mut problems,
    );

    let mut attrs: Option<AttributesView> = None;
    match attrs_read {
        Some(Ok(a)) if attrs_is_object => attrs = Some(a),
        Some(Err(e)) if attrs_is_object => {
            problems.push(format!("field `attributes` cannot be read: {e}"))
        }
        _ => {}
    }
    let processed_at = attrs
        .as_ref()
        .and_then(|a| a.processed_at.as_string())
        .and_then(|s| parse_timestamp(&s).ok());

    let mut event_time = None;
    if let Some(a) = &attrs {
        if require(
            a.time,
            "attributes.time",
            Kind::String,
            &mut missing,
            &mut problems,
        ) {
            match a.time.as_string() {
                Some(s) => match parse_timestamp(&s) {
                    Ok(t) => event_time = Some(t),
                    Err(e) => problems.push(format!(
                        "attributes.time {} is not an RFC 3339 timestamp ({e})",
                        quote_truncated(&s)
                    )),
                },
                None => {
                    problems.push("field `attributes.time` is not a readable string".to_owned())
                }
            }
        }
    }

    match (id, event_time, attrs) {
        (Some(id), Some(event_time), Some(attrs)) if missing.is_empty() && problems.is_empty() => {
            Ok(Checked {
                id,
                event_time,
                processed_at,
                indicator_members: {
                    let mut members = String::new();
                    Indicators::from_attributes(&attrs).write_json_members(&mut members);
                    string_attributes::write_members(attrs.context, attrs.container, &mut members);
                    members
                },
            })
        }
        (id, _, _) => {
            let mut parts = Vec::with_capacity(problems.len() + 1);
            match missing.as_slice() {
                [] => {}
                [one] => parts.push(format!("missing required field `{one}`")),
                many => parts.push(format!(
                    "missing required fields {}",
                    many.iter()
                        .map(|f| format!("`{f}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
            parts.extend(problems);
            Err(Rejected {
                reason: parts.join("; "),
                id,
                processed_at,
            })
        }
    }
}

/// Records a required field that is absent or of the wrong JSON type; true when it is
/// present with the wanted type.
fn require(
    field: Field<'_>,
    name: &'static str,
    want: Kind,
    missing: &mut Vec<&'static str>,
    problems: &mut Vec<String>,
) -> bool {
    match field.kind() {
        None => {
            missing.push(name);
            false
        }
        Some(k) if k == want => true,
        Some(k) => {
            problems.push(format!(
                "field `{name}` must be {}, found {}",
                want.article_name(),
                k.article_name()
            ));
            false
        }
    }
}

/// JSON-quotes `s` for a reason, cut short so a huge value cannot bloat the line.
///
/// Reasons are logged as they are, so every control character is escaped, not only those
/// JSON requires (below U+0020): DEL, the C1 controls (NEL breaks lines, CSI starts terminal
/// escape sequences) and the Unicode line and paragraph separators too.
fn quote_truncated(s: &str) -> String {
    let (shown, cut) = match s.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((at, _)) => (&s[..at], true),
        None => (s, false),
    };
    let mut quoted = String::new();
    push_json_string(&mut quoted, shown);
    let mut out = String::with_capacity(quoted.len() + 4);
    for c in quoted.chars() {
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    if cut {
        out.push('…');
    }
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
}
