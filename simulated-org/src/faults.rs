//! Faults the simulated API can inject, scripted or drawn at random.

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;

/// A misbehaviour applied to one events-stream request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 `ADMIN-429-1` with `X-RateLimit-Limit`/`-Remaining`/`-Reset` headers and an optional
    /// `Retry-After` (seconds).
    RateLimited {
        reset: ResetHeader,
        retry_after_secs: Option<u64>,
    },
    /// 500 → Atlassian error body `ADMIN-500-1`; 502/503/504 → an HTML page like a proxy's;
    /// any other status → an Atlassian error body with code `ADMIN-<status>-1`.
    ServerError { status: u16 },
    /// 200 with the real page's JSON cut in half (Content-Length matches the cut body).
    TruncatedBody,
    /// 200 with an HTML body (`text/html`).
    NotJson,
    /// Waits this long, then answers normally.
    Stall { millis: u64 },
    /// The page begins with `count` events that were served just before the request's position
    /// (API-side duplicates); they take slots of the page's `limit`.
    RepeatPrevious { count: usize },
    /// 400 `ADMIN-400-1` "Invalid cursor" whatever the cursor (an expired cursor).
    InvalidCursor,
    /// 401 `ADMIN-401-1` whatever the key (a key revoked mid-run).
    Unauthorized,
    /// Exactly this answer, before the request is checked: a proxy, a redirect, a broken or
    /// hostile server.
    Respond(CannedResponse),
}

/// An answer given byte for byte: status, headers (in order, repeats kept) and body.
#[derive(Clone, PartialEq, Eq)]
pub struct CannedResponse {
    /// An HTTP status; one outside 100..=999 is answered as 500.
    pub status: u16,
    /// Headers whose name or value HTTP cannot carry are left out.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Sent in pieces without a Content-Length (chunked), as a proxy or a streaming server
    /// does: the client learns the body's size only by reading it.
    pub chunked: bool,
}

impl CannedResponse {
    /// `status` with `body` and no headers (not even a Content-Type).
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        CannedResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
            chunked: false,
        }
    }

    /// The same answer, sent chunked with no Content-Length.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A 200 `application/json` answer with this body.
    pub fn json(body: impl Into<Bytes>) -> Self {
        Self::new(200, body).header("content-type", "application/json")
    }
}

/// Bodies may be megabytes: show their size and start only.
impl fmt::Debug for CannedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let start = &self.body[..self.body.len().min(80)];
        f.debug_struct("CannedResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("chunked", &self.chunked)
            .field("body_start", &String::from_utf8_lossy(start))
            .finish()
    }
}

/// How a 429 states when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetHeader {
    /// The next minute boundary at minute precision: `2023-10-11T18:22Z`.
    IsoMinute,
    /// now + `in_secs` at second precision: `2026-11-25T07:31:05Z`.
    IsoSeconds { in_secs: u64 },
    /// No `X-RateLimit-Reset` header.
    Absent,
}

struct RandomFaults {
    rate: f64,
    rng: fastrand::Rng,
    kinds: Vec<Fault>,
}

#[derive(Default)]
pub(crate) struct FaultPlan {
    queue: VecDeque<Fault>,
    random: Option<RandomFaults>,
}

impl FaultPlan {
    pub fn push(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.queue.extend(faults);
    }

    pub fn set_random(&mut self, rate: f64, seed: u64, kinds: Vec<Fault>) {
        self.random = if kinds.is_empty() || rate.is_nan() || rate <= 0.0 {
            None
        } else {
            Some(RandomFaults {
                rate: rate.min(1.0),
                rng: fastrand::Rng::with_seed(seed),
                kinds,
            })
        };
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.random = None;
    }

    /// Scripted faults first; the random draw happens only when none is queued, so a given seed
    /// yields the same sequence over the requests that reach it.
    pub fn next(&mut self) -> Option<Fault> {
        if let Some(f) = self.queue.pop_front() {
            return Some(f);
        }
        let r = self.random.as_mut()?;
        if r.rng.f64() < r.rate {
            let i = r.rng.usize(..r.kinds.len());
            r.kinds.get(i).cloned()
        } else {
            None
        }
    }
}

/// What a proxy in front of the API answers with 502/503/504.
pub(crate) fn proxy_html(status: u16, reason: &str) -> String {
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{status} {reason}</h1></center>\r\n<hr><center>awselb/2.0</center>\r\n\
         </body>\r\n</html>\r\n"
    )
}

/// A 200 that is not the API: a login or maintenance page served by something in between.
pub(crate) const NOT_JSON_HTML: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\
<meta charset=\"utf-8\"><title>Log in with Atlassian account</title></head>\n<body>\
<div id=\"root\"><h1>Log in to continue</h1><p>Redirecting to id.atlassian.com\u{2026}</p></div>\
</body>\n</html>\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_then_seeded_random() {
        let kinds = vec![Fault::NotJson, Fault::TruncatedBody];
        let draw = |seed| {
            let mut p = FaultPlan::default();
            p.push([Fault::Unauthorized]);
            p.set_random(0.5, seed, kinds.clone());
            (0..40).map(|_| p.next()).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a[0], Some(Fault::Unauthorized));
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        let hits = a[1..].iter().filter(|f| f.is_some()).count();
        assert!((8..=32).contains(&hits), "{hits}");
        assert!(a[1..].iter().flatten().any(|f| *f == Fault::NotJson));

        let mut none = FaultPlan::default();
        none.set_random(1.0, 1, Vec::new());
        assert_eq!(none.next(), None);
    }
}
