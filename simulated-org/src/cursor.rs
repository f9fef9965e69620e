//! Cursors: an opaque keyset position. base64url (no padding) of
//! `{"p":<processedAt ms>,"s":<seq>,"o":"asc"|"desc"}`.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use serde::{Deserialize, Serialize};

use super::store::{Position, SortOrder};

/// Longer input is not a cursor this server wrote; refuse before decoding it.
const MAX_CURSOR_LEN: usize = 512;

/// Lenient on padding only: a client that re-pads a cursor still resumes.
const DECODER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorJson {
    p: i64,
    s: u64,
    o: SortOrder,
}

pub(crate) fn encode(pos: Position, order: SortOrder) -> String {
    let json = serde_json::json!({"p": pos.processed_at_ms, "s": pos.seq, "o": order});
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// `None` for anything this server did not write (the API's "Invalid cursor").
pub(crate) fn decode(cursor: &str) -> Option<(Position, SortOrder)> {
    if cursor.is_empty() || cursor.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = DECODER.decode(cursor).ok()?;
    let c: CursorJson = serde_json::from_slice(&bytes).ok()?;
    Some((
        Position {
            processed_at_ms: c.p,
            seq: c.s,
        },
        c.o,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejects() {
        let pos = Position {
            processed_at_ms: 1_700_000_000_123,
            seq: 42,
        };
        let c = encode(pos, SortOrder::Desc);
        assert!(!c.contains('=') && !c.contains('+') && !c.contains('/'));
        assert_eq!(decode(&c), Some((pos, SortOrder::Desc)));
        assert_eq!(decode(&format!("{c}==")).map(|d| d.0), Some(pos));
        for bad in ["", "!!!", "bm90IGpzb24", &"A".repeat(600)] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        let wrong_order = URL_SAFE_NO_PAD.encode(r#"{"p":1,"s":1,"o":"sideways"}"#);
        assert_eq!(decode(&wrong_order), None);
    }
}
