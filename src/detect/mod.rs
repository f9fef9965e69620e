//! Detections: Sigma rules over normalized events (the JSON lines the collector writes),
//! raising alerts. The pipeline runs it on every batch (`collector`); the CLI's `rules` and
//! `detect` run it on their own.
//!
//! - **The rules are Sigma** (`sigma`): parsed by `rsigma-parser`; each detection compiled and
//!   evaluated by `rsigma-eval`; correlation rules (`event_count`, `value_count`) become
//!   thresholds counted here, in the state the checkpoint carries. The built-in pack is
//!   `rules/*.yml`, its test events the sidecars `rules/*.tests.yaml` (docs/detections.md).
//! - **Ours around it**: the prefilter (`prefilter`: only lines whose action a rule pins are read
//!   again), the projection (`projection`: only the fields the rules read, bounded), the engine
//!   (`engine`: dedup, thresholds, the batch's alert cap, future-dated events), the alerts and
//!   their templates (`alert`, `template`: our custom attributes `alert_title`,
//!   `alert_runbook`, `alert_dedup_key`), and the bounded, idempotent, sealed state (`state`).
//!
//! A bad rule is a [`RuleError`] naming the file, the rule and the field, with what to fix.

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
