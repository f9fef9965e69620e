use crate::source::Page;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::cell::Cell;
use std::fmt;
use thiserror::Error;

/// Longest `meta.next` accepted. Real cursors are a few hundred bytes; the cursor is sent back
/// in a URL and stored in the checkpoint (a DynamoDB item holds at most 400 KB), so a longer
/// one could never be used and would wedge every later run.
pub const MAX_CURSOR_BYTES: usize = 8 * 1024;

/// Longest piece of a parser message quoted in a [`PageError`]: the message can quote the
/// body, which is the server's text.
const MAX_REASON_CHARS: usize = 200;

/// Why a 2xx body is not a usable events-stream page. The request is retried: a proxy or a
/// broken deployment may answer this way for a while.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PageError {
    #[error("the page was cut short after {bytes} bytes")]
    CutShort { bytes: usize },
    #[error("the page is not JSON ({reason})")]
    NotJson { reason: String },
    #[error("the page is {found}, not a JSON object")]
    NotAnObject { found: &'static str },
    #[error("the page is not the expected JSON ({reason})")]
    Unexpected { reason: String },
    #[error("the page has no `data` array")]
    NoData,
    #[error("the page's `meta` is {found}, not an object")]
    MetaNotAnObject { found: &'static str },
    #[error("the page's `meta.next` is {found}, not a string or null")]
    CursorNotAString { found: &'static str },
    #[error(
        "the page's `meta.next` is {bytes} bytes long; a cursor is at most {MAX_CURSOR_BYTES}"
    )]
    CursorTooLong { bytes: usize },
    #[error(
        "the page's `data` holds more than {max} events, twice the limit asked for: refused unread"
    )]
    TooManyEvents { max: usize },
}

/// Parses an events-stream page. Events stay raw: the normalizer keeps every field as received.
/// `links` is ignored on purpose: requests are built from the configured base URL, never from it.
///
/// Never panics and never recurses deeper than serde_json's limit: events and unknown members
/// are only scanned (iteratively), and `meta.next` is read as a value only when it is short.
/// Takes any number of events and knows no key to scrub; the client reads with
/// [`parse_page_at_most`].
pub fn parse_page(body: &[u8]) -> Result<Page, PageError> {
    parse_page_at_most(body, usize::MAX, &|s| s.to_string())
}

/// [`parse_page`], refusing a page whose `data` holds more than `max_events` events as soon
/// as the one past it is met, before the rest of `data` is read into memory: a page of a
/// million tiny events costs far more than its bytes once each is held. Parser messages quote
/// the body, so they pass through `scrub` (of the key) before they are cut to length.
pub fn parse_page_at_most(
    body: &[u8],
    max_events: usize,
    scrub: &dyn Fn(&str) -> String,
) -> Result<Page, PageError> {
    let clip = |s: &str| clip(&scrub(s));
    #[derive(Deserialize)]
    struct Meta {
        next: Option<Box<RawValue>>,
    }
    // serde's derived structs also accept a JSON array of positional members: refuse that
    // before serde sees it.
    match first_byte(body) {
        Some(b'{') => {}
        Some(b) if b"[\"tfn-0123456789".contains(&b) => {
            return Err(PageError::NotAnObject {
                found: json_kind_of_byte(b),
            })
        }
        _ => {}
    }
    let overflowed = Cell::new(false);
    let seed = BodySeed {
        max_events,
        overflowed: &overflowed,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = seed
        .deserialize(&mut de)
        .and_then(|parsed| de.end().map(|()| parsed))
        .map_err(|e| {
            if overflowed.get() {
                PageError::TooManyEvents { max: max_events }
            } else if e.is_eof() {
                PageError::CutShort { bytes: body.len() }
            } else if e.is_syntax() {
                PageError::NotJson {
                    reason: clip(&e.to_string()),
                }
            } else {
                PageError::Unexpected {
                    reason: clip(&e.to_string()),
                }
            }
        })?;
    let events = parsed.data.ok_or(PageError::NoData)?;
    let next = match parsed.meta {
        None => None,
        Some(meta) => match kind(&meta) {
            "null" => None,
            "an object" => {
                let meta: Meta =
                    serde_json::from_str(meta.get()).map_err(|e| PageError::Unexpected {
                        reason: clip(&format!("`meta`: {e}")),
                    })?;
                meta.next
            }
            found => return Err(PageError::MetaNotAnObject { found }),
        },
    };
    let next_cursor = match next {
        None => None,
        Some(raw) => match kind(&raw) {
            "null" => None,
            "a string" => {
                let s: String =
                    serde_json::from_str(raw.get()).map_err(|e| PageError::Unexpected {
                        reason: clip(&format!("`meta.next`: {e}")),
                    })?;
                if s.len() > MAX_CURSOR_BYTES {
                    return Err(PageError::CursorTooLong { bytes: s.len() });
                }
                Some(s).filter(|s| !s.is_empty())
            }
            found => return Err(PageError::CursorNotAString { found }),
        },
    };
    Ok(Page {
        events,
        next_cursor,
        body_bytes: body.len(),
    })
}

/// The page's members the collector reads; any other member is skipped unread.
struct Body {
    data: Option<Vec<Box<RawValue>>>,
    meta: Option<Box<RawValue>>,
}

/// Reads a [`Body`], handing the cap on `data` down to it.
struct BodySeed<'a> {
    max_events: usize,
    overflowed: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = Body;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Body, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = Body;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an events-stream page")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let (mut data, mut meta) = (None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "data" => {
                    if data.is_some() {
                        return Err(de::Error::duplicate_field("data"));
                    }
                    data = Some(map.next_value_seed(EventsSeed {
                        max_events: self.max_events,
                        overflowed: self.overflowed,
                    })?);
                }
                "meta" => {
                    if meta.is_some() {
                        return Err(de::Error::duplicate_field("meta"));
                    }
                    meta = Some(map.next_value::<Option<Box<RawValue>>>()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Body {
            data: data.flatten(),
            meta: meta.flatten(),
        })
    }
}

/// Reads `data`: null, or an array of at most `max_events` raw events.
struct EventsSeed<'a> {
    max_events: usize,
    overflowed: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for EventsSeed<'_> {
    type Value = Option<Vec<Box<RawValue>>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for EventsSeed<'_> {
    type Value = Option<Vec<Box<RawValue>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::new();
        while let Some(event) = seq.next_element::<Box<RawValue>>()? {
            if events.len() == self.max_events {
                self.overflowed.set(true);
                return Err(de::Error::custom("too many events"));
            }
            events.push(event);
        }
        Ok(Some(events))
    }
}

fn first_byte(body: &[u8]) -> Option<u8> {
    body.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fn json_kind_of_byte(b: u8) -> &'static str {
    match b {
        b'{' => "an object",
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// The JSON type of a raw value (valid JSON, so its first byte decides).
fn kind(raw: &RawValue) -> &'static str {
    json_kind_of_byte(first_byte(raw.get().as_bytes()).unwrap_or(b'n'))
}

/// Parser messages quote the body: keep them short and on one line.
fn clip(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().nth(MAX_REASON_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::ApiKey;

    fn same(s: &str) -> String {
        s.to_string()
    }

    /// A parser message quoting the key where the cut falls inside it keeps none of it.
    #[test]
    fn parser_messages_are_scrubbed_before_they_are_cut() {
        let raw = "ATATT3xFfGF0/abc+def\"0123456789ABCDEF";
        let key = ApiKey::new(raw);
        // `data` not a list: the message quotes the string (Rust-escaped), the key at the cut.
        let text = format!("{}Bearer {raw}", "x".repeat(160));
        let body = serde_json::json!({ "data": text }).to_string();
        let said = parse_page_at_most(body.as_bytes(), 10, &|t| key.scrub(t))
            .unwrap_err()
            .to_string();
        assert!(said.contains("Bearer [redacted]"), "{said}");
        assert!(!said.contains(&raw[..8]), "{said}");
        let unscrubbed = parse_page(body.as_bytes()).unwrap_err().to_string();
        assert!(
            unscrubbed.contains(&raw[..8]),
            "the key is at the cut: {unscrubbed}"
        );
    }

    #[test]
    fn the_real_captured_page_parses() {
        let body = include_bytes!("../../../tests/fixtures/atlassian/events_page_real_2021.json");
        let page = parse_page(body).unwrap();
        assert_eq!(page.events.len(), 38);
        assert_eq!(page.next_cursor, None);
    }

    #[test]
    fn both_terminal_styles_and_cursors() {
        let p = parse_page(br#"{"data":[],"meta":{"next":null},"links":{}}"#).unwrap();
        assert_eq!(p.next_cursor, None);
        let p = parse_page(br#"{"data":[{"id":"a"}],"meta":{"next":"abc"},"links":{"next":"https://evil.example/x"}}"#).unwrap();
        assert_eq!(p.next_cursor.as_deref(), Some("abc"));
        assert_eq!(p.events.len(), 1);
        let p = parse_page(br#"{"data":[],"meta":null}"#).unwrap();
        assert_eq!(p.next_cursor, None);
        let p = parse_page(br#"{"data":[],"meta":{"next":"a\u002bb"}}"#).unwrap();
        assert_eq!(p.next_cursor.as_deref(), Some("a+b"), "escapes are decoded");
    }

    #[test]
    fn bad_pages_are_errors_not_panics() {
        for body in [
            &b"<html>502</html>"[..],
            br#"{"data":[{"id":"a"}"#,
            br#"{"meta":{}}"#,
            br#"{"data":{}}"#,
            br#"{"data":[],"meta":{"next":5}}"#,
            b"",
        ] {
            assert!(
                parse_page(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(
            parse_page(br#"{"data":[{"id":"a"}"#).unwrap_err(),
            PageError::CutShort { bytes: 19 }
        );
    }

    /// Each envelope member of the wrong JSON type, and what it is called.
    #[test]
    fn every_envelope_member_of_the_wrong_type_is_named() {
        let cases: &[(&[u8], PageError)] = &[
            (b"[]", PageError::NotAnObject { found: "an array" }),
            (b" \n\"page\"", PageError::NotAnObject { found: "a string" }),
            (b"null", PageError::NotAnObject { found: "null" }),
            (b"17", PageError::NotAnObject { found: "a number" }),
            (b"-1", PageError::NotAnObject { found: "a number" }),
            (b"true", PageError::NotAnObject { found: "a boolean" }),
            (br#"{"data":null}"#, PageError::NoData),
            (
                br#"{"data":[],"meta":"next"}"#,
                PageError::MetaNotAnObject { found: "a string" },
            ),
            (
                br#"{"data":[],"meta":7}"#,
                PageError::MetaNotAnObject { found: "a number" },
            ),
            (
                br#"{"data":[],"meta":{"next":{"cursor":"abc"}}}"#,
                PageError::CursorNotAString { found: "an object" },
            ),
            (
                br#"{"data":[],"meta":{"next":["abc"]}}"#,
                PageError::CursorNotAString { found: "an array" },
            ),
            (
                br#"{"data":[],"meta":{"next":false}}"#,
                PageError::CursorNotAString { found: "a boolean" },
            ),
            (
                br#"{"data":[],"meta":{"next":1e999}}"#,
                PageError::CursorNotAString { found: "a number" },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                parse_page(body).unwrap_err(),
                *want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        for body in [
            &br#"{"data":"events"}"#[..],
            br#"{"data":5}"#,
            br#"{"data":true}"#,
            br#"{"data":[],"data":[]}"#,
        ] {
            assert!(
                matches!(parse_page(body), Err(PageError::Unexpected { .. })),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    /// serde reads a derived struct from a JSON array of positional members; a page or `meta`
    /// shaped like that must not pass as one.
    #[test]
    fn positional_arrays_are_not_read_as_a_page_or_meta() {
        assert_eq!(
            parse_page(br#"[[{"id":"a"}],{"next":"c"}]"#).unwrap_err(),
            PageError::NotAnObject { found: "an array" }
        );
        assert_eq!(
            parse_page(br#"{"data":[],"meta":["c"]}"#).unwrap_err(),
            PageError::MetaNotAnObject { found: "an array" }
        );
    }

    #[test]
    fn members_the_collector_ignores_may_hold_anything() {
        let p = parse_page(
            br#"{"links":{"next":{"href":"https://evil.example"}},"data":[1,"x",null,[],{}],"extra":[[[[]]]],"meta":{"page_size":"many","next":"c"}}"#,
        )
        .unwrap();
        assert_eq!(p.events.len(), 5);
        assert_eq!(p.next_cursor.as_deref(), Some("c"));
        let p = parse_page(br#"{"data":[],"links":7,"meta":{}}"#).unwrap();
        assert_eq!(p.next_cursor, None);
    }

    /// `data` may hold up to the cap; one event more is refused while `data` is read, whatever
    /// the events are, and the error says so.
    #[test]
    fn more_events_than_the_cap_are_refused() {
        let body = |n: usize| {
            let zeros = vec!["0"; n].join(",");
            format!(r#"{{"data":[{zeros}],"meta":{{"next":"c"}}}}"#)
        };
        assert_eq!(
            parse_page_at_most(body(10).as_bytes(), 10, &same)
                .unwrap()
                .events
                .len(),
            10
        );
        assert_eq!(
            parse_page_at_most(body(11).as_bytes(), 10, &same).unwrap_err(),
            PageError::TooManyEvents { max: 10 }
        );
        // Refused even when the rest of the page is broken: nothing past the cap is read.
        let cut = format!(r#"{{"data":[{}"#, ["{}"; 12].join(","));
        assert_eq!(
            parse_page_at_most(cut.as_bytes(), 10, &same).unwrap_err(),
            PageError::TooManyEvents { max: 10 }
        );
        assert!(parse_page_at_most(body(0).as_bytes(), 0, &same).is_ok());
        assert!(
            parse_page_at_most(br#"{"data":null}"#, 0, &same).unwrap_err() == PageError::NoData
        );
        let err = PageError::TooManyEvents { max: 1000 }.to_string();
        assert!(
            err.contains("1000") && err.contains("twice the limit"),
            "{err}"
        );
    }

    #[test]
    fn an_oversized_cursor_is_refused() {
        let at_limit = format!(
            r#"{{"data":[],"meta":{{"next":"{}"}}}}"#,
            "c".repeat(MAX_CURSOR_BYTES)
        );
        assert_eq!(
            parse_page(at_limit.as_bytes())
                .unwrap()
                .next_cursor
                .map(|c| c.len()),
            Some(MAX_CURSOR_BYTES)
        );
        let huge = format!(
            r#"{{"data":[],"meta":{{"next":"{}"}}}}"#,
            "c".repeat(5 << 20)
        );
        assert_eq!(
            parse_page(huge.as_bytes()).unwrap_err(),
            PageError::CursorTooLong { bytes: 5 << 20 }
        );
        // Escapes make the text longer than the value: the decoded length decides.
        let escaped = format!(
            r#"{{"data":[],"meta":{{"next":"{}"}}}}"#,
            r"\u0063".repeat(MAX_CURSOR_BYTES / 2)
        );
        assert_eq!(
            parse_page(escaped.as_bytes())
                .unwrap()
                .next_cursor
                .map(|c| c.len()),
            Some(MAX_CURSOR_BYTES / 2)
        );
    }

    /// 100k nested arrays: an event is only scanned, so it reaches the normalizer; in `meta`,
    /// serde_json's recursion limit refuses it. Neither may overflow the stack.
    #[test]
    fn deep_nesting_never_overflows_the_stack() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let body = format!(r#"{{"data":[{deep}],"meta":{{"next":null}},"links":{deep}}}"#);
        let p = parse_page(body.as_bytes()).unwrap();
        assert_eq!(p.events.len(), 1);
        assert_eq!(p.events[0].get().len(), 200_000);
        let body = format!(r#"{{"data":[],"meta":{{"next":{deep}}}}}"#);
        assert_eq!(
            parse_page(body.as_bytes()).unwrap_err(),
            PageError::CursorNotAString { found: "an array" }
        );
        let body = format!(r#"{{"data":[],"meta":{{"next":"c","x":{deep}}}}}"#);
        assert_eq!(
            parse_page(body.as_bytes()).unwrap().next_cursor.as_deref(),
            Some("c")
        );
        // Unclosed: cut short, wherever it is.
        let open = format!(r#"{{"data":[{}"#, "[".repeat(100_000));
        assert_eq!(
            parse_page(open.as_bytes()).unwrap_err(),
            PageError::CutShort { bytes: open.len() }
        );
        assert!(parse_page("[".repeat(100_000).as_bytes()).is_err());
    }

    #[test]
    fn messages_stay_short_and_on_one_line_whatever_the_body_says() {
        let long = format!(r#"{{"data":"{}\n{}"}}"#, "x".repeat(5 << 20), "y");
        let err = parse_page(long.as_bytes()).unwrap_err().to_string();
        assert!(err.len() < 400, "{} bytes", err.len());
        assert!(!err.contains('\n'), "{err}");
        let err = parse_page(b"{\"data\":[],\"meta\":{\"next\":\"\xff\xfe\"}}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not JSON"), "{err}");
    }

    #[test]
    fn non_utf8_bytes_are_refused() {
        for body in [
            &b"{\"data\":[{\"id\":\"\xc3\x28\"}],\"meta\":{\"next\":null}}"[..],
            b"{\"data\":[],\"meta\":{\"next\":null}}\xff",
            b"\xef\xbb\xbf{\"data\":[]}",
            b"{\"data\":[],\"meta\":{\"next\":null},\"\xed\xa0\x80\":1}",
        ] {
            assert!(
                matches!(parse_page(body), Err(PageError::NotJson { .. })),
                "{:?}",
                parse_page(body).map(|p| p.events.len())
            );
        }
    }
}
