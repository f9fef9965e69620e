//! After each page: did the API end the stream, and where does the next read start?
//!
//! Only the API ends a stream: a page with no events, no `meta.next`, or `meta.next` equal to
//! the cursor that was sent. A page holding fewer events than `limit` asked for is not an end
//! (servers cap pages for their own reasons), so a run reads on through any number of them.
use crate::source::StreamPosition;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NextRead {
    /// The cursor the checkpoint keeps: the page's `meta.next`, or, when the stream ended
    /// without one, the cursor that produced this page. Re-reading that page serves its events
    /// again (they are dropped by id) and whatever was appended after them, so events
    /// processed late are found by position, never by a `from` whose meaning is unknown.
    pub cursor: Option<String>,
    /// Whether the API ended the stream at this page.
    pub stream_ended: bool,
}

pub(crate) fn next_read(position: &StreamPosition, events: usize, next: Option<&str>) -> NextRead {
    let sent = match position {
        StreamPosition::Cursor(c) => Some(c.as_str()),
        StreamPosition::From { .. } => None,
    };
    let stream_ended = events == 0 || next.is_none() || next == sent;
    NextRead {
        cursor: next.or(sent).map(str::to_owned),
        stream_ended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (position, events on the page, meta.next, cursor kept, ended, what).
    type Case<'a> = (
        StreamPosition,
        usize,
        Option<&'a str>,
        Option<&'a str>,
        bool,
        &'a str,
    );

    #[test]
    fn only_the_api_ends_the_stream() {
        let cursor = |c: &str| StreamPosition::Cursor(c.into());
        let from = StreamPosition::From { from_ms: 5 };
        // (position, events on the page, meta.next) → (cursor kept, ended)
        let cases: [Case; 9] = [
            (cursor("a"), 500, Some("b"), Some("b"), false, "a full page"),
            (
                cursor("a"),
                37,
                Some("b"),
                Some("b"),
                false,
                "a short page is no end",
            ),
            (cursor("a"), 1, Some("b"), Some("b"), false, "one event"),
            (
                cursor("a"),
                0,
                Some("b"),
                Some("b"),
                true,
                "no events: the end, at its cursor",
            ),
            (
                cursor("a"),
                12,
                None,
                Some("a"),
                true,
                "next null: resume where this page began",
            ),
            (
                cursor("a"),
                12,
                Some("a"),
                Some("a"),
                true,
                "the same cursor again",
            ),
            (
                from.clone(),
                12,
                Some("b"),
                Some("b"),
                false,
                "a read by time goes on by cursor",
            ),
            (
                from.clone(),
                12,
                None,
                None,
                true,
                "null after a read by time: no cursor yet",
            ),
            (from, 0, None, None, true, "nothing at all"),
        ];
        for (position, events, next, cursor, ended, what) in cases {
            let got = next_read(&position, events, next);
            assert_eq!(got.cursor.as_deref(), cursor, "{what}");
            assert_eq!(got.stream_ended, ended, "{what}");
        }
    }
}
