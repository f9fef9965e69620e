//! The event stream: events kept in processing order, read by keyset position.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::clock;

/// Order of a page; the API defaults to ascending processing time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

/// A point in the (processedAt, insertion sequence) order. Stored events have `seq >= 1`,
/// so `(p, 0)` sits just before every event processed at `p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Position {
    pub processed_at_ms: i64,
    pub seq: u64,
}

impl Position {
    /// Where an ascending read without cursor starts: just before `from` (inclusive bound).
    pub fn asc_start(from_ms: Option<i64>) -> Position {
        match from_ms.and_then(|f| f.checked_sub(1)) {
            Some(p) => Position {
                processed_at_ms: p,
                seq: u64::MAX,
            },
            None => Position {
                processed_at_ms: i64::MIN,
                seq: 0,
            },
        }
    }

    /// Where a descending read without cursor starts: just after `to` (inclusive bound).
    pub fn desc_start(to_ms: Option<i64>) -> Position {
        match to_ms.and_then(|t| t.checked_add(1)) {
            Some(p) => Position {
                processed_at_ms: p,
                seq: 0,
            },
            None => Position {
                processed_at_ms: i64::MAX,
                seq: u64::MAX,
            },
        }
    }
}

pub(crate) struct StoredEvent {
    pub pos: Position,
    /// `attributes.time` in epoch ms, when it parses.
    pub time_ms: Option<i64>,
    pub value: Value,
    /// `Some(id)` when the event is valid (see [`super::is_valid_event`]).
    pub valid_id: Option<String>,
}

pub(crate) struct PageRequest {
    /// Exclusive: the page holds events strictly after (asc) or before (desc) it.
    pub position: Position,
    pub order: SortOrder,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Which time `from_ms` and `to_ms` bound.
    pub bounds_on: TimeField,
    pub limit: usize,
    /// API-side duplicates to put at the head of the page (`Fault::RepeatPrevious`).
    pub repeat_previous: usize,
}

/// Where an event stands against a request's `from` and `to`.
enum Bound {
    Below,
    Within,
    Above,
}

impl PageRequest {
    fn bounds(&self, e: &StoredEvent) -> Bound {
        let t = e.bounded_time(self.bounds_on);
        if self.from_ms.is_some_and(|f| t < f) {
            Bound::Below
        } else if self.to_ms.is_some_and(|to| t > to) {
            Bound::Above
        } else {
            Bound::Within
        }
    }
}

pub(crate) struct Page {
    pub events: Vec<Value>,
    pub valid_ids: Vec<String>,
    /// `events.len() == limit`.
    pub full: bool,
    /// After the last new event of the page, or the request's own position when it had none.
    pub next_position: Position,
}

/// The time `from` and `to` filter on. Atlassian does not document which it is: processing
/// time is what most collectors assume; event time is the other plausible reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeField {
    /// `attributes.processedAt`, the stream's own order.
    #[default]
    ProcessedAt,
    /// `attributes.time` (when it happened; a late event's is older than its neighbours').
    /// Events whose `time` does not parse are bounded by their processedAt.
    Time,
}

impl StoredEvent {
    fn bounded_time(&self, field: TimeField) -> i64 {
        match field {
            TimeField::ProcessedAt => self.pos.processed_at_ms,
            TimeField::Time => self.time_ms.unwrap_or(self.pos.processed_at_ms),
        }
    }
}

#[derive(Default)]
pub(crate) struct EventStore {
    events: Vec<StoredEvent>,
    last_seq: u64,
    last_processed_at_ms: Option<i64>,
}

impl EventStore {
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// All stored events, in processing order.
    pub fn stored(&self) -> &[StoredEvent] {
        &self.events
    }

    pub fn values(&self) -> Vec<Value> {
        self.events.iter().map(|e| e.value.clone()).collect()
    }

    pub fn valid_ids(&self) -> HashSet<String> {
        self.events
            .iter()
            .filter_map(|e| e.valid_id.clone())
            .collect()
    }

    pub fn last_processed_at_ms(&self) -> Option<i64> {
        self.last_processed_at_ms
    }

    /// Appends with one processedAt for the whole batch, clamped so the stream never goes
    /// back in processing time (and into the supported range). Returns the value used.
    pub fn append(&mut self, events: Vec<Value>, processed_at_ms: i64) -> i64 {
        let mut p = clock::clamp_ms(processed_at_ms);
        if let Some(last) = self.last_processed_at_ms {
            p = p.max(last);
        }
        let stamp = clock::format_millis(p);
        for mut value in events {
            if let Some(attrs) = value.get_mut("attributes").and_then(|a| a.as_object_mut()) {
                // The server is the authority on processing time: overwrite any given value.
                attrs.insert("processedAt".to_owned(), Value::String(stamp.clone()));
            }
            self.last_seq += 1;
            let valid_id = if super::is_valid_event(&value) {
                value.get("id").and_then(|v| v.as_str()).map(str::to_owned)
            } else {
                None
            };
            let time_ms = value
                .pointer("/attributes/time")
                .and_then(Value::as_str)
                .and_then(clock::parse_rfc3339_ms);
            self.events.push(StoredEvent {
                pos: Position {
                    processed_at_ms: p,
                    seq: self.last_seq,
                },
                time_ms,
                value,
                valid_id,
            });
        }
        self.last_processed_at_ms = Some(p);
        p
    }

    pub fn page(&self, req: &PageRequest) -> Page {
        let mut picked: Vec<&StoredEvent> = Vec::new();
        let mut new_events: Vec<&StoredEvent> = Vec::new();
        match req.order {
            SortOrder::Asc => {
                let start = self.events.partition_point(|e| e.pos <= req.position);
                let dups = req.repeat_previous.min(start).min(req.limit);
                picked.extend(&self.events[start - dups..start]);
                let room = req.limit - dups;
                for e in &self.events[start..] {
                    if new_events.len() == room {
                        break;
                    }
                    match req.bounds(e) {
                        // In processing order nothing later can come back under `to`.
                        Bound::Above if req.bounds_on == TimeField::ProcessedAt => break,
                        Bound::Above | Bound::Below => continue,
                        Bound::Within => new_events.push(e),
                    }
                }
            }
            SortOrder::Desc => {
                let end = self.events.partition_point(|e| e.pos < req.position);
                let dups = req
                    .repeat_previous
                    .min(self.events.len() - end)
                    .min(req.limit);
                picked.extend(self.events[end..end + dups].iter().rev());
                let room = req.limit - dups;
                for e in self.events[..end].iter().rev() {
                    if new_events.len() == room {
                        break;
                    }
                    match req.bounds(e) {
                        Bound::Below if req.bounds_on == TimeField::ProcessedAt => break,
                        Bound::Above | Bound::Below => continue,
                        Bound::Within => new_events.push(e),
                    }
                }
            }
        }
        let next_position = new_events.last().map_or(req.position, |e| e.pos);
        picked.extend(new_events);
        Page {
            full: picked.len() == req.limit,
            valid_ids: picked.iter().filter_map(|e| e.valid_id.clone()).collect(),
            events: picked.into_iter().map(|e| e.value.clone()).collect(),
            next_position,
        }
    }
}
