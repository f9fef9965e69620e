//! `GET /admin/v1/orgs/{orgId}/events`: Atlassian's older audit-log query endpoint, served from
//! the same events as `/events-stream`, for collectors that still use it (Grove among them).
//!
//! - Newest first by `attributes.time` (full precision), ties by insertion sequence, newest
//!   first. An event whose `time` does not parse sorts and filters by its processedAt.
//! - `from` / `to`: UNIX epoch milliseconds (strings), both inclusive, on `attributes.time`.
//!   `ADMIN-400-3` when not an integer, or when `from` is after `to` on a first page.
//! - `limit`: as on `/events-stream` (default and maximum from the config, `ADMIN-400-2`).
//! - `cursor`: opaque keyset position that also carries the first request's `from`/`to`;
//!   with a cursor, the request's own `from`/`to` are checked for syntax only (the cursor
//!   supersedes them). Not interchangeable with `/events-stream` cursors (`ADMIN-400-1`).
//! - `meta.next` and `links.next` only while more events remain: the last page has
//!   `meta.next: null` and `links` with `self` only (this endpoint ends, it is not polled).
//! - Same key and org checks and error bodies as `/events-stream`. Other query filters
//!   (`q`, `action`, `actor`, `ip`, ...) are accepted and ignored. No faults and no rate
//!   limit are drawn here: those stay on `/events-stream`.

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::form_urlencoded;

use super::server::{
    error_response, first, response, unauthorized, RequestCtx, INVALID_CURSOR, JSON,
};
use super::store::EventStore;
use super::SimulatedOrgConfig;

/// Longer input is not a cursor this server wrote.
const MAX_CURSOR_LEN: usize = 512;

/// The (percent-decoded) org id when `path` is `/admin/v1/orgs/{orgId}/events`.
pub(crate) fn events_query_org(path: &str) -> Option<String> {
    super::server::org_in_path(path, "events")
}

/// Sort key: `attributes.time` as (epoch ms, nanoseconds within the ms), then the
/// insertion sequence. Ascending order of this key is oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimeKey {
    pub ms: i64,
    pub sub_ms_nanos: u32,
    pub seq: u64,
}

/// The store's events sorted by [`TimeKey`], rebuilt when events were appended.
#[derive(Default)]
pub(crate) struct TimeIndex {
    /// Number of stored events the index covers.
    built_for: usize,
    /// (key, index into the store), ascending.
    keys: Vec<(TimeKey, usize)>,
}

impl TimeIndex {
    fn refresh(&mut self, store: &EventStore) {
        let stored = store.stored();
        if self.built_for == stored.len() {
            return;
        }
        self.keys = stored
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let (ms, sub_ms_nanos) = e
                    .value
                    .pointer("/attributes/time")
                    .and_then(Value::as_str)
                    .and_then(parse_time)
                    .unwrap_or((e.pos.processed_at_ms, 0));
                (
                    TimeKey {
                        ms,
                        sub_ms_nanos,
                        seq: e.pos.seq,
                    },
                    i,
                )
            })
            .collect();
        self.keys.sort_unstable();
        self.built_for = stored.len();
    }
}

/// RFC 3339 to (epoch ms, nanoseconds within that ms).
fn parse_time(s: &str) -> Option<(i64, u32)> {
    let dt = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some((
        dt.timestamp_millis(),
        dt.timestamp_subsec_nanos() % 1_000_000,
    ))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryCursor {
    /// Key of the last event served: the next page holds events strictly older.
    t: i64,
    n: u32,
    s: u64,
    /// The bounds of the query the cursor continues.
    from: Option<i64>,
    to: Option<i64>,
}

fn encode_cursor(c: &QueryCursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_string(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Option<QueryCursor> {
    if s.is_empty() || s.len() > MAX_CURSOR_LEN {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

struct Params {
    cursor: Option<QueryCursor>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    limit: usize,
}

fn parse_params(
    query: &[(String, String)],
    config: &SimulatedOrgConfig,
) -> Result<Params, (&'static str, String)> {
    let limit = match first(query, "limit") {
        None => config.default_limit,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=config.max_limit).contains(&n) => n,
            _ => {
                return Err((
                    "ADMIN-400-2",
                    format!(
                        "limit must be an integer between 1 and {}",
                        config.max_limit
                    ),
                ))
            }
        },
    };
    let epoch_ms = |name: &str| match first(query, name) {
        None => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            (
                "ADMIN-400-3",
                format!("{name} must be a UNIX epoch time in milliseconds"),
            )
        }),
    };
    let from_ms = epoch_ms("from")?;
    let to_ms = epoch_ms("to")?;
    let cursor = match first(query, "cursor") {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or((INVALID_CURSOR.0, INVALID_CURSOR.1.to_owned()))?),
    };
    if cursor.is_none() {
        if let (Some(f), Some(t)) = (from_ms, to_ms) {
            if f > t {
                return Err(("ADMIN-400-3", "from must not be after to".to_owned()));
            }
        }
    }
    Ok(Params {
        cursor,
        from_ms,
        to_ms,
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    })
}

/// Answers a request whose path is `/admin/v1/orgs/{org}/events`.
pub(crate) fn respond(ctx: &RequestCtx<'_>, method: &Method, org: &str) -> Response {
    let shared = ctx.shared;
    if method != Method::GET {
        let mut r = error_response(405, "ADMIN-405-1", "Method Not Allowed");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    if !ctx.authorized {
        return unauthorized();
    }
    if org != shared.config.org_id {
        return error_response(404, "ADMIN-404-2", "Org not found");
    }
    let params = match parse_params(ctx.query, &shared.config) {
        Ok(p) => p,
        Err((code, detail)) => return error_response(400, code, &detail),
    };
    let (from_ms, to_ms) = match &params.cursor {
        Some(c) => (c.from, c.to),
        None => (params.from_ms, params.to_ms),
    };
    // Keys at or above `upper` are out of range: the cursor's key, or the first ms after `to`.
    let upper = match &params.cursor {
        Some(c) => Some(TimeKey {
            ms: c.t,
            sub_ms_nanos: c.n,
            seq: c.s,
        }),
        None => to_ms.and_then(|t| t.checked_add(1)).map(|ms| TimeKey {
            ms,
            sub_ms_nanos: 0,
            seq: 0,
        }),
    };

    let (events, last_key, more) = {
        let mut guard = shared.lock();
        let st = &mut *guard;
        st.time_index.refresh(&st.store);
        let keys = &st.time_index.keys;
        let end = upper.map_or(keys.len(), |u| keys.partition_point(|(k, _)| *k < u));
        let stored = st.store.stored();
        let mut events = Vec::with_capacity(params.limit.min(end));
        let mut last_key = None;
        let mut more = false;
        for (key, i) in keys[..end].iter().rev() {
            if from_ms.is_some_and(|f| key.ms < f) {
                break;
            }
            if events.len() == params.limit {
                more = true;
                break;
            }
            let e = &stored[*i];
            if let Some(id) = &e.valid_id {
                st.served_ids.insert(id.clone());
            }
            events.push(e.value.clone());
            last_key = Some(*key);
        }
        (events, last_key, more)
    };

    let next = match (more, last_key) {
        (true, Some(k)) => Some(encode_cursor(&QueryCursor {
            t: k.ms,
            n: k.sub_ms_nanos,
            s: k.seq,
            from: from_ms,
            to: to_ms,
        })),
        _ => None,
    };
    let base = shared
        .config
        .links_base_url
        .as_deref()
        .unwrap_or(&shared.base_url)
        .trim_end_matches('/');
    let self_url = match ctx.raw_query {
        Some(q) => format!("{base}{}?{q}", ctx.path),
        None => format!("{base}{}", ctx.path),
    };
    let mut links = serde_json::Map::new();
    links.insert("self".to_owned(), Value::String(self_url));
    if let Some(c) = &next {
        let mut next_query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in ctx.query.iter().filter(|(k, _)| k != "cursor") {
            next_query.append_pair(k, v);
        }
        next_query.append_pair("cursor", c);
        links.insert(
            "next".to_owned(),
            Value::String(format!("{base}{}?{}", ctx.path, next_query.finish())),
        );
    }
    let page_size = events.len();
    let body = json!({
        "data": events,
        "meta": {"next": next, "page_size": page_size},
        "links": links,
    })
    .to_string();
    response(StatusCode::OK, JSON, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parsing() {
        assert_eq!(
            events_query_org("/admin/v1/orgs/abc-1/events").as_deref(),
            Some("abc-1")
        );
        assert_eq!(
            events_query_org("/admin/v1/orgs/a%2Db/events").as_deref(),
            Some("a-b")
        );
        assert_eq!(events_query_org("/admin/v1/orgs//events"), None);
        assert_eq!(events_query_org("/admin/v1/orgs/a/b/events"), None);
        assert_eq!(events_query_org("/admin/v1/orgs/a/events-stream"), None);
        assert_eq!(events_query_org("/admin/v1/orgs/a/events/x"), None);
    }

    #[test]
    fn time_parsing_keeps_sub_millisecond_order() {
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some((1000, 0)));
        assert_eq!(
            parse_time("1970-01-01T00:00:01.002345Z"),
            Some((1002, 345_000))
        );
        assert_eq!(parse_time("1969-12-31T23:59:59.9995Z"), Some((-1, 500_000)));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn cursor_round_trip_and_rejects() {
        let c = QueryCursor {
            t: 1_700_000_000_123,
            n: 456_000,
            s: 42,
            from: Some(5),
            to: None,
        };
        let s = encode_cursor(&c);
        assert!(!s.contains('=') && !s.contains('+') && !s.contains('/'));
        assert_eq!(decode_cursor(&s), Some(c.clone()));
        assert_eq!(decode_cursor(&format!("{s}==")), Some(c));
        // An /events-stream cursor is not one of ours.
        let stream = URL_SAFE_NO_PAD.encode(r#"{"p":1,"s":1,"o":"desc"}"#);
        for bad in ["", "!!!", "bm90IGpzb24", &"A".repeat(600), &stream] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
