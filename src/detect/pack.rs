//! The rules in force: the built-in pack (compiled in), less the ones a user file disables,
//! plus the ones it adds.

use std::path::Path;

use super::error::RuleError;
use super::field_path::FieldPath;
use super::projection::Projection;
use super::rule::Rule;
use super::spec::{parse_rule_file, valid_id, RuleFile};
use super::state::LATE_MARGIN_MS;

/// The built-in pack: (name shown in errors and `rules list`, YAML).
const BUILTIN: [(&str, &str); 9] = [
    (
        "builtin:rules/impersonation.yaml",
        include_str!("rules/impersonation.yaml"),
    ),
    (
        "builtin:rules/two_step.yaml",
        include_str!("rules/two_step.yaml"),
    ),
    ("builtin:rules/admin.yaml", include_str!("rules/admin.yaml")),
    (
        "builtin:rules/api_tokens.yaml",
        include_str!("rules/api_tokens.yaml"),
    ),
    (
        "builtin:rules/policies.yaml",
        include_str!("rules/policies.yaml"),
    ),
    (
        "builtin:rules/domains.yaml",
        include_str!("rules/domains.yaml"),
    ),
    (
        "builtin:rules/exports.yaml",
        include_str!("rules/exports.yaml"),
    ),
    (
        "builtin:rules/accounts.yaml",
        include_str!("rules/accounts.yaml"),
    ),
    (
        "builtin:rules/thresholds.yaml",
        include_str!("rules/thresholds.yaml"),
    ),
];

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RulePack {
    rules: Vec<Rule>,
    /// What of an event the rules read (kept in step with `rules`).
    projection: Projection,
}

impl RulePack {
    /// The built-in pack. Its files are tested to parse, so an error here is a bug in them.
    pub fn builtin() -> Result<RulePack, RuleError> {
        let mut pack = RulePack::default();
        for (file, text) in BUILTIN {
            let parsed = parse_rule_file(file, text)?;
            if let Some(id) = parsed.disable.first() {
                return Err(RuleError::invalid(
                    file,
                    id,
                    "disable",
                    "the built-in pack disables nothing",
                ));
            }
            pack.add(file, parsed.rules)?;
        }
        Ok(pack)
    }

    /// Exactly these rules (a rule's own tests run on a pack of that rule alone).
    pub fn of(rules: Vec<Rule>) -> RulePack {
        let mut pack = RulePack {
            rules,
            projection: Projection::default(),
        };
        pack.project();
        pack
    }

    /// Recomputes the projection from the rules.
    fn project(&mut self) {
        let fields: Vec<&FieldPath> = self
            .rules
            .iter()
            .flat_map(|r| r.fields())
            .flat_map(|f| f.paths())
            .collect();
        self.projection = Projection::of(fields);
    }

    /// The fields of an event the rules read: what the engine is given of each event.
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// With a user's rule file read from `path`.
    pub fn with_user_file(self, path: &Path) -> Result<RulePack, RuleError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RuleError::Read {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        self.with_user_rules(&file, &text)
    }

    /// With a user's rule file: its `disable:` ids turned off, then its `rules:` added.
    pub fn with_user_rules(mut self, file: &str, text: &str) -> Result<RulePack, RuleError> {
        let RuleFile { rules, disable } = parse_rule_file(file, text)?;
        for (i, id) in disable.iter().enumerate() {
            // (the projection is recomputed by `add` below)
            let before = self.rules.len();
            self.rules.retain(|r| &r.id != id);
            if self.rules.len() == before {
                // An id that is no id is not echoed: it may be anything pasted there.
                let shown = if valid_id(id) {
                    id.clone()
                } else {
                    format!("#{} (not a valid id)", i + 1)
                };
                return Err(RuleError::invalid(
                    file,
                    &shown,
                    &format!("disable[{i}]"),
                    "no rule in force has this id (`atlassian-audit rules list` shows them)",
                ));
            }
        }
        self.add(file, rules)?;
        Ok(self)
    }

    fn add(&mut self, file: &str, rules: Vec<Rule>) -> Result<(), RuleError> {
        for rule in rules {
            if self.rules.iter().any(|r| r.id == rule.id) {
                return Err(RuleError::invalid(file, &rule.id, "id", "another rule already has this id; ids are unique (to replace a built-in rule, disable it and give yours another id)"));
            }
            self.rules.push(rule);
        }
        self.project();
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How long the state keeps a match: the longest window or dedup period, plus the margin
    /// for events arriving late.
    pub fn retention_ms(&self) -> i64 {
        let longest = self
            .rules
            .iter()
            .map(|r| {
                r.dedup_period_ms
                    .max(r.threshold.as_ref().map_or(0, |t| t.window_ms))
            })
            .max()
            .unwrap_or(0);
        longest + LATE_MARGIN_MS
    }
}
