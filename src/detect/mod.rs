//! Detections: rules over normalized events (the JSON lines the collector writes), raising
//! alerts. The pipeline runs it on every batch (`collector`); the CLI's `rules` and `detect` run it
//! on their own.
//!
//! # The rule format (YAML)
//!
//! A file is a mapping with `rules:` (a list) and, in a user's file, `disable:` (built-in rule
//! ids to turn off). Unknown fields are refused everywhere. A rule:
//!
//! ```yaml
//! rules:
//!   - id: user_logged_in_as_user          # a-z 0-9 _ . -, unique
//!     description: An admin logged in as another user.
//!     severity: High                      # Info, Low, Medium, High, Critical
//!     actions: [user_logged_in_as_user]   # attributes.action, lower case, any of
//!     conditions:                         # optional; all must hold
//!       - field: attributes.actor.id
//!         not_one_of: [atlassian-internal-system]
//!     title: "{attributes.actor.name} logged in as {attributes.context[].attributes.email}"
//!     runbook: "What it means, what to check, what to do."
//!     threshold:                          # optional: alert from the count-th match
//!       count: 20
//!       window: 1h                        # 1s to 24h
//!       group_by: [attributes.location.ip]
//!     dedup:                              # optional
//!       key: "{attributes.actor.id}"      # default: the group (threshold), else the title
//!       period: 1h                        # default 1h
//!     tests:                              # at least one of each
//!       positive:
//!         - name: an admin impersonates a user
//!           events: [{attributes: {action: user_logged_in_as_user}}]
//!           repeat: 1                     # optional: fed this many times, new ids, +1 s each
//!       negative:
//!         - name: a plain login
//!           events: [{attributes: {action: user_login}}]
//! ```
//!
//! - **Field paths** reach into the normalized event: `attributes.actor.name`,
//!   `attributes.context[].type` (`[]`: any element), `attributes.context[0].type`;
//!   `a|b` uses the first that has a value.
//! - **Conditions**: `field` and one of `equals`, `one_of`, `not_one_of`, `contains`
//!   (ignores case) or `exists: true|false`. Values compare as text; through `[]` a condition
//!   holds if any value satisfies it (`not_one_of`: if none is listed).
//! - **Templates** (`title`, `runbook`, `dedup.key`): `{path}` is the field's value (several
//!   `, `-joined; control characters become spaces; at most 200 characters each); an absent
//!   field renders `(no path)`. `{{` and `}}` are literal braces. Templates read only the
//!   event: nothing else (no environment, no configuration) can reach an alert.
//! - **Thresholds**: a match counts in its group (the `group_by` values; an event lacking one
//!   does not count); when a group holds `count` matches within `window`, an alert opens over
//!   them, and later matches join it while it is open.
//! - **Dedup**: matches of one rule with the same key within `period` of the alert's opening
//!   are one alert with a count, as Panther groups them. Its id is a hash of the rule id, the key
//!   and the first event's id: the same events give the same alert id.
//! - **Test events** need only the fields the rule reads: a missing `id` or `attributes.time`
//!   is filled in.
//!
//! A bad rule is a [`RuleError`] naming the file, the rule and the field, with what to fix.
//! The state between batches ([`DetectState`]) is bounded and idempotent (see [`state`]).

mod alert;
mod collected;
mod engine;
mod error;
mod event;
mod field_path;
mod pack;
mod prefilter;
mod projection;
mod rule;
mod rule_tests;
mod severity;
mod sigma;
mod template;
pub mod state;
#[cfg(test)]
mod tests;

pub use alert::{Alert, MAX_MATCHED_IDS};
pub use collected::{
    collected_files, detect_collected, read_events, CollectedDetection, CollectedError,
};
pub use engine::{
    detect, DetectRun, Detection, MAX_AHEAD_MS, MAX_NEW_ALERTS_PER_BATCH, OVER_CAP_RULE,
};
pub use error::RuleError;
pub use event::EventRef;
pub use pack::{is_rule_file, BuiltinFile, RulePack, BUILTIN};
pub use prefilter::ActionFilter;
pub use projection::{Projection, MAX_LEAF_NODES};
pub use rule::{
    Rule, DEFAULT_DEDUP_PERIOD_MS, MAX_DEDUP_KEY_CHARS, MAX_RUNBOOK_CHARS, MAX_TITLE_CHARS,
};
pub use rule_tests::{run_rule_tests, CaseResult, Expect};
pub use severity::Severity;
pub use sigma::{sidecar_path, PackSettings};
pub use state::{DetectState, SealKey};
