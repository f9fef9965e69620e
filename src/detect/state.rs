//! What detection remembers between batches: a plain serde value, meant to be stored with the
//! checkpoint and committed with the batch that produced it.
//!
//! - **Idempotent.** Every event a rule matched is remembered by (rule, event id); an event
//!   seen again (a redone batch, an overlap re-read) changes nothing: it counts once.
//! - **Bounded, rule by rule.** At most [`MAX_MATCHES`] remembered matches and
//!   [`MAX_OPEN_ALERTS`] open alerts, shared out among the rules (half of the matches to the
//!   threshold rules, which count them), so a flood of one rule's matches never evicts another
//!   rule's counts; past a rule's quota its oldest (by event time) are dropped. Entries older than the rules'
//!   longest window or dedup period plus [`LATE_MARGIN_MS`], counted back from the newest
//!   matched event, are dropped too. At the caps, with long actor ids, the state serializes to
//!   about 170 KB; past [`MAX_STATE_BYTES`] of JSON (long titles, long ids) the oldest tenth of
//!   both is dropped until it fits. What is forgotten can count again: an event re-fed after more than
//!   [`MAX_MATCHES`] newer matches, or older than the horizon, is taken as new.
//! - **Clock-free.** Only event times are used, so feeding the same events gives the same state.
//!   An event dated more than an hour past when it was processed or parsed is not remembered
//!   (engine), so it can neither count toward a threshold nor become the newest match the
//!   horizon is counted back from.
//! - **Sealed.** The collector seals the state it commits ([`DetectState::seal`]) with a key
//!   whoever writes only the checkpoint's table does not hold, and discards a state whose seal
//!   does not verify: a planted open alert cannot swallow a real one.
//! - **Indexed.** Lookups (seen, window, open alert, by id) go through maps rebuilt from the
//!   lists when needed, so a batch of n matches costs about n lookups, not n².

use hashbrown::{HashMap, HashSet};
use serde::{Deserialize, Serialize};

pub const MAX_MATCHES: usize = 1_000;
pub const MAX_OPEN_ALERTS: usize = 100;
/// Most bytes of JSON the state may take: it lives in the checkpoint's DynamoDB item (400 KB
/// with everything else: the recent ids alone may take 192 KB), so long titles and ids must not
/// make it outgrow the caps' usual 170 KB.
pub const MAX_STATE_BYTES: usize = 128 * 1024;
/// How far behind the newest match an event may arrive and still be recognized (the
/// simulated org sends some 2–9 hours late).
pub const LATE_MARGIN_MS: i64 = 12 * 3_600_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectState {
    #[serde(default)]
    matches: Vec<MatchRecord>,
    #[serde(default)]
    open: Vec<OpenAlert>,
    /// HMAC-SHA256 of the rest, by the collector that committed it (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seal: Option<String>,
    #[serde(skip)]
    index: Option<Index>,
}

impl PartialEq for DetectState {
    fn eq(&self, other: &Self) -> bool {
        self.matches == other.matches && self.open == other.open && self.seal == other.seal
    }
}

impl Eq for DetectState {}

/// Maps over the lists, for lookups in constant time. Keyed by rule, then by event, group or
/// key: a lookup borrows both strings (a key built per lookup was most of the engine's
/// allocations), and only an entry inserted copies them.
#[derive(Debug, Clone, Default)]
struct Index {
    /// The events each rule matched.
    seen: Nested<()>,
    /// (time, event id) of each rule's matches per group, sorted.
    groups: Nested<Vec<(i64, String)>>,
    /// Positions in `open` per rule and key.
    open: Nested<Vec<usize>>,
    by_id: HashMap<String, usize>,
    /// The counted value of each rule's event that has one (value_count thresholds).
    values: Nested<String>,
}

/// A map keyed by two strings (rule, then event, group or key).
type Nested<V> = HashMap<String, HashMap<String, V>>;

fn get2<'m, V>(map: &'m Nested<V>, a: &str, b: &str) -> Option<&'m V> {
    map.get(a)?.get(b)
}

/// The entry of (`a`, `b`), inserted empty if missing; the strings are copied only then.
fn slot2<'m, V: Default>(map: &'m mut Nested<V>, a: &str, b: &str) -> &'m mut V {
    map.entry_ref(a).or_default().entry_ref(b).or_default()
}

/// One event one rule matched. `group`: a hash of the threshold group ("" without threshold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MatchRecord {
    pub rule: String,
    pub group: String,
    pub event: String,
    pub time_ms: i64,
    /// A hash of the value a `value_count` threshold counts (absent for the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// An alert still within its dedup period: events of its rule and key join it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OpenAlert {
    pub id: String,
    pub rule: String,
    pub key: String,
    pub title: String,
    pub runbook: String,
    pub opened_ms: i64,
    pub first_ms: i64,
    pub first_event: String,
    pub last_ms: i64,
    pub last_event: String,
    pub count: u64,
}

impl OpenAlert {
    pub fn add(&mut self, time_ms: i64, event: &str) {
        self.count += 1;
        // Copied into the strings held (most matches move `last`: no new allocation each).
        if time_ms < self.first_ms {
            self.first_ms = time_ms;
            self.first_event.clear();
            self.first_event.push_str(event);
        }
        if time_ms >= self.last_ms {
            self.last_ms = time_ms;
            self.last_event.clear();
            self.last_event.push_str(event);
        }
    }
}

/// How much of the state each rule may keep.
#[derive(Debug, Clone, Default)]
pub(super) struct Quotas {
    /// Matches per rule id.
    matches: HashMap<String, usize>,
    /// Open alerts per rule.
    open: usize,
}

impl Quotas {
    /// Half of [`MAX_MATCHES`] shared by the threshold rules, half by the others; the open
    /// alerts shared by all.
    pub fn of(pack: &super::RulePack) -> Quotas {
        let rules = pack.rules();
        let counting = rules.iter().filter(|r| r.threshold.is_some()).count();
        let plain = rules.len() - counting;
        let matches = rules
            .iter()
            .map(|r| {
                let share = if r.threshold.is_some() {
                    MAX_MATCHES / 2 / counting.max(1)
                } else {
                    MAX_MATCHES / 2 / plain.max(1)
                };
                (r.id.clone(), share.max(1))
            })
            .collect();
        Quotas {
            matches,
            open: (MAX_OPEN_ALERTS / rules.len().max(1)).max(1),
        }
    }

    fn matches_of(&self, rule: &str) -> usize {
        // A rule no longer in the pack keeps nothing.
        self.matches.get(rule).copied().unwrap_or(0)
    }
}

impl DetectState {
    pub fn is_empty(&self) -> bool {
        self.matches.is_empty() && self.open.is_empty()
    }

    /// (remembered matches, open alerts): what the caps bound.
    pub fn sizes(&self) -> (usize, usize) {
        (self.matches.len(), self.open.len())
    }

    fn index(&mut self) -> &mut Index {
        let (matches, open) = (&self.matches, &self.open);
        self.index.get_or_insert_with(|| {
            let mut index = Index::default();
            for m in matches {
                *slot2(&mut index.seen, &m.rule, &m.event) = ();
                if let Some(v) = &m.value {
                    *slot2(&mut index.values, &m.rule, &m.event) = v.clone();
                }
                slot2(&mut index.groups, &m.rule, &m.group).push((m.time_ms, m.event.clone()));
            }
            for times in index.groups.values_mut().flat_map(|g| g.values_mut()) {
                times.sort();
            }
            for (at, a) in open.iter().enumerate() {
                slot2(&mut index.open, &a.rule, &a.key).push(at);
                index.by_id.insert(a.id.clone(), at);
            }
            index
        })
    }

    pub(super) fn has_seen(&mut self, rule: &str, event: &str) -> bool {
        get2(&self.index().seen, rule, event).is_some()
    }

    pub(super) fn record(&mut self, record: MatchRecord) {
        let index = self.index();
        *slot2(&mut index.seen, &record.rule, &record.event) = ();
        if let Some(v) = &record.value {
            *slot2(&mut index.values, &record.rule, &record.event) = v.clone();
        }
        let times = slot2(&mut index.groups, &record.rule, &record.group);
        let entry = (record.time_ms, record.event.clone());
        let at = times.partition_point(|t| *t < entry);
        times.insert(at, entry);
        self.matches.push(record);
    }

    /// (time, event id) of the rule's matches in `group` with time in `(from, to]`, oldest first.
    pub(super) fn window(
        &mut self,
        rule: &str,
        group: &str,
        from: i64,
        to: i64,
    ) -> Vec<(i64, String)> {
        let Some(times) = get2(&self.index().groups, rule, group) else {
            return Vec::new();
        };
        let start = times.partition_point(|(t, _)| *t <= from);
        let end = times.partition_point(|(t, _)| *t <= to);
        times[start..end.max(start)].to_vec()
    }

    /// How many of the rule's matches in `group` have a time in `(from, to]`.
    pub(super) fn count_in_window(&mut self, rule: &str, group: &str, from: i64, to: i64) -> usize {
        let Some(times) = get2(&self.index().groups, rule, group) else {
            return 0;
        };
        let start = times.partition_point(|(t, _)| *t <= from);
        times
            .partition_point(|(t, _)| *t <= to)
            .saturating_sub(start)
    }

    /// How many distinct counted values the rule's matches in `group` with time in
    /// `(from, to]` have (a value_count threshold).
    pub(super) fn distinct_in_window(
        &mut self,
        rule: &str,
        group: &str,
        from: i64,
        to: i64,
    ) -> usize {
        let window = self.window(rule, group, from, to);
        let values = &self.index().values;
        window
            .iter()
            .filter_map(|(_, event)| get2(values, rule, event))
            .collect::<HashSet<_>>()
            .len()
    }

    /// The open alert of `rule` and `key` that an event at `time_ms` joins: one opened less
    /// than `period_ms` before it (or after it, for an event arriving late).
    pub(super) fn open_alert(
        &mut self,
        rule: &str,
        key: &str,
        time_ms: i64,
        period_ms: i64,
    ) -> Option<&mut OpenAlert> {
        self.index();
        let positions = get2(&self.index.as_ref()?.open, rule, key)?;
        let open = &self.open;
        let at = positions.iter().copied().find(|at| {
            open.get(*at)
                .is_some_and(|a| (time_ms - a.opened_ms).abs() < period_ms)
        })?;
        self.open.get_mut(at)
    }

    pub(super) fn open_new(&mut self, alert: OpenAlert) {
        let at = self.open.len();
        let index = self.index();
        slot2(&mut index.open, &alert.rule, &alert.key).push(at);
        index.by_id.insert(alert.id.clone(), at);
        self.open.push(alert);
    }

    pub(super) fn alert_by_id(&mut self, id: &str) -> Option<&OpenAlert> {
        let at = *self.index().by_id.get(id)?;
        self.open.get(at)
    }

    /// Drops what `pack`'s rules no longer need and the oldest past each rule's quota (see the
    /// module docs). Matches dated after `newest_believable_ms` (none should be) are dropped
    /// first, so nothing planted in the future can hold the horizon.
    pub fn prune_for(&mut self, pack: &super::RulePack, newest_believable_ms: Option<i64>) {
        self.prune(pack.retention_ms(), &Quotas::of(pack), newest_believable_ms);
    }

    pub(super) fn prune(
        &mut self,
        retention_ms: i64,
        quotas: &Quotas,
        newest_believable_ms: Option<i64>,
    ) {
        self.index = None;
        if let Some(limit) = newest_believable_ms {
            self.matches.retain(|m| m.time_ms <= limit);
            self.open.retain(|a| a.opened_ms <= limit);
        }
        let Some(newest) = self.matches.iter().map(|m| m.time_ms).max() else {
            return;
        };
        let horizon = newest.saturating_sub(retention_ms);
        self.matches.retain(|m| m.time_ms >= horizon);
        self.open.retain(|a| a.last_ms >= horizon);
        // Each rule keeps its newest, up to its quota; the lists stay oldest first (stable, so
        // the same input always gives the same state).
        keep_newest(
            &mut self.matches,
            |m| (m.time_ms, &m.rule),
            |r| quotas.matches_of(r),
        );
        keep_newest(&mut self.open, |a| (a.last_ms, &a.rule), |_| quotas.open);
        self.shrink_to(MAX_STATE_BYTES);
    }

    /// Drops the oldest tenth of the rule keeping the most until the JSON takes at most
    /// `max_bytes` (a function of the state alone, so a redone batch shrinks alike).
    fn shrink_to(&mut self, max_bytes: usize) {
        while json_len(self) > max_bytes {
            let mut sizes: HashMap<&str, usize> = HashMap::new();
            for rule in self
                .matches
                .iter()
                .map(|m| &m.rule)
                .chain(self.open.iter().map(|a| &a.rule))
            {
                *sizes.entry(rule.as_str()).or_default() += 1;
            }
            let Some((largest, _)) = sizes
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
            else {
                return;
            };
            let largest = largest.to_owned();
            drop_oldest_tenth(&mut self.matches, |m| m.rule == largest);
            drop_oldest_tenth(&mut self.open, |a| a.rule == largest);
        }
    }

    /// Seals the state for `context` (the source and generation it belongs to) with `key`.
    pub fn seal(&mut self, key: &SealKey, context: &str) {
        self.seal = None;
        self.seal = Some(self.mac(key, context));
    }

    /// Whether the state carries a seal by `key` for `context`.
    pub fn is_sealed_by(&self, key: &SealKey, context: &str) -> bool {
        let Some(seal) = &self.seal else {
            return false;
        };
        let mut unsealed = self.clone();
        unsealed.seal = None;
        // Compared in constant time: the seal is a MAC.
        let expected = unsealed.mac(key, context);
        expected.len() == seal.len()
            && expected
                .bytes()
                .zip(seal.bytes())
                .fold(0u8, |d, (a, b)| d | (a ^ b))
                == 0
    }

    fn mac(&self, key: &SealKey, context: &str) -> String {
        use hmac::{KeyInit, Mac};
        let json = serde_json::to_vec(self).unwrap_or_default();
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key.0)
            .expect("HMAC takes a key of any length");
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(&json);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// How many bytes of JSON `value` serializes to, counted without building them (the state's
/// 128 KiB, grown a piece at a time, were a large share of a batch's end).
fn json_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => 0,
    }
}

/// Keeps, of each rule's entries, the newest `quota(rule)`; sorts the list oldest first
/// (stable for equal times).
fn keep_newest<T>(
    list: &mut Vec<T>,
    key: impl Fn(&T) -> (i64, &String),
    quota: impl Fn(&str) -> usize,
) {
    list.sort_by_key(|x| key(x).0);
    let mut kept: HashMap<&str, usize> = HashMap::new();
    let mut keep = vec![false; list.len()];
    for (at, x) in list.iter().enumerate().rev() {
        let rule = key(x).1;
        let n = kept.entry(rule.as_str()).or_default();
        *n += 1;
        keep[at] = *n <= quota(rule);
    }
    drop(kept);
    let mut flags = keep.into_iter();
    list.retain(|_| flags.next().unwrap_or(false));
}

/// Drops the oldest tenth (at least one) of the entries `of` selects; the list is oldest first.
fn drop_oldest_tenth<T>(list: &mut Vec<T>, of: impl Fn(&T) -> bool) {
    let n = list.iter().filter(|x| of(x)).count().div_ceil(10);
    let mut dropped = 0;
    list.retain(|x| {
        if dropped < n && of(x) {
            dropped += 1;
            false
        } else {
            true
        }
    });
}

/// The key a collector seals its detection state with: derived from a secret that those who
/// can write the checkpoint's table do not hold (the API key). Never shown.
#[derive(Clone)]
pub struct SealKey([u8; 32]);

impl SealKey {
    /// A key derived from `secret` (HMAC-SHA256 with a fixed label), so the secret itself is
    /// never used as a key elsewhere.
    pub fn derive(secret: &[u8]) -> SealKey {
        use hmac::{KeyInit, Mac};
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret)
            .expect("HMAC takes a key of any length");
        mac.update(b"atlassian-audit-collector detection state seal v1");
        SealKey(mac.finalize().into_bytes().into())
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(…)")
    }
}
