//! The normalizer as it was before the single-pass reader (commit 438ddb0), kept verbatim but
//! for paths, as the oracle the equivalence tests compare the optimized one with: every output
//! byte, reason and key must be the same.
#![allow(dead_code)]

mod indicators;
mod json_view;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

type OffsetDateTime = DateTime<Utc>;

use super::{
    compact_json_into, nesting_depth, parse_timestamp, push_json_string, NormalizedEvent, Outcome,
    QuarantinedEvent, SourceInfo, LOG_TYPE, MAX_NESTING_DEPTH, SCHEMA_VERSION,
};
use indicators::Indicators;
use json_view::{AttributesView, EventView, Field, Kind};

/// The old `Normalizer`.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    row_id_hasher: Sha256,
    source_members: String,
}

/// Longest stretch of an offending value quoted in a quarantine reason.
const MAX_QUOTED_CHARS: usize = 64;

/// What the required-field checks found.
struct Checked {
    id: String,
    event_time: OffsetDateTime,
    processed_at: Option<OffsetDateTime>,
    indicators: Indicators,
}

struct Rejected {
    reason: String,
    /// The event id when it is usable as a dedupe key despite the other problems.
    id: Option<String>,
    processed_at: Option<OffsetDateTime>,
}

impl Reference {
    pub(crate) fn new(source: SourceInfo) -> Self {
        let mut row_id_hasher = Sha256::new();
        row_id_hasher.update(source.source_id.as_bytes());
        row_id_hasher.update([0u8]);
        let mut source_members = String::from(",\"p_source_id\":");
        push_json_string(&mut source_members, &source.source_id);
        source_members.push_str(",\"p_source_label\":");
        push_json_string(&mut source_members, &source.source_label);
        source_members.push_str(",\"p_schema_version\":");
        source_members.push_str(&SCHEMA_VERSION.to_string());
        Reference {
            row_id_hasher,
            source_members,
        }
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
    pub fn normalize(&self, raw: &RawValue, parse_time: OffsetDateTime) -> Outcome {
        let mut compact = String::with_capacity(raw.get().len() + 512);
        compact_json_into(raw.get(), &mut compact);
        let depth = nesting_depth(&compact);
        if depth > MAX_NESTING_DEPTH {
            // The checks only scan what they skip, so they are safe at any depth; they still
            // give the id and processedAt the collector needs.
            let too_deep = format!(
                "event nests {depth} levels deep, more than the {MAX_NESTING_DEPTH} allowed"
            );
            let rejected = match check(raw) {
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
        match check(raw) {
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
        parse_time: OffsetDateTime,
    ) -> NormalizedEvent {
        line.push_str(",\"p_log_type\":");
        push_json_string(&mut line, LOG_TYPE);
        line.push_str(",\"p_row_id\":\"");
        line.push_str(&self.row_id(&ok.id));
        line.push_str("\",\"p_event_time\":\"");
        line.push_str(&format_panther_timestamp(ok.event_time));
        line.push_str("\",\"p_parse_time\":\"");
        line.push_str(&format_panther_timestamp(parse_time));
        line.push('"');
        line.push_str(&self.source_members);
        ok.indicators.write_json_members(&mut line);
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

/// Checks the fields the `Atlassian.Audit` schema requires and extracts what the
/// output needs. Every problem found is named in the reason, not only the first.
fn check(raw: &RawValue) -> Result<Checked, Rejected> {
    let kind = Kind::of(raw);
    if kind != Kind::Object {
        return Err(Rejected {
            reason: format!("event is {}, not a JSON object", kind.article_name()),
            id: None,
            processed_at: None,
        });
    }
    let event: EventView = serde_json::from_str(raw.get()).map_err(|e| Rejected {
        reason: format!("event cannot be read: {e}"),
        id: None,
        processed_at: None,
    })?;

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
    if let Some(raw) = event.attributes.0.filter(|_| attrs_is_object) {
        // Every view field accepts any JSON, so only a duplicated key can fail here.
        match serde_json::from_str::<AttributesView>(raw.get()) {
            Ok(a) => attrs = Some(a),
            Err(e) => problems.push(format!("field `attributes` cannot be read: {e}")),
        }
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
                indicators: Indicators::from_attributes(&attrs),
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

/// The old Panther timestamp formatting, by `format!`.
pub(crate) fn format_panther_timestamp<Tz: TimeZone>(t: DateTime<Tz>) -> String {
    let t = t.naive_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond()
    )
}
