use crate::source::Page;
use serde::Deserialize;
use serde_json::value::RawValue;

/// Parses an events-stream page. Events stay raw: the normalizer keeps every field as received.
/// `links` is ignored on purpose: requests are built from the configured base URL, never from it.
pub fn parse_page(body: &[u8]) -> Result<Page, String> {
    #[derive(Deserialize)]
    struct Meta {
        next: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct Body {
        data: Option<Vec<Box<RawValue>>>,
        meta: Option<Meta>,
    }
    let parsed: Body = serde_json::from_slice(body).map_err(|e| {
        if e.is_eof() {
            format!("the page was cut short after {} bytes", body.len())
        } else {
            format!("the page is not the expected JSON ({e})")
        }
    })?;
    let events = parsed
        .data
        .ok_or_else(|| "the page has no `data` array".to_string())?;
    let next_cursor = match parsed.meta.and_then(|m| m.next) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.is_empty() => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => return Err(format!("`meta.next` is not a string or null but {other}")),
    };
    Ok(Page {
        events,
        next_cursor,
        body_bytes: body.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(parse_page(br#"{"data":[{"id":"a"}"#)
            .unwrap_err()
            .contains("cut short"));
    }
}
