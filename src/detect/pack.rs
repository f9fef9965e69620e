//! The rules in force: the built-in pack (Sigma files compiled in), less the ones a user's
//! rules make obsolete, plus the user's.

use std::collections::HashMap;

use super::error::RuleError;
use super::projection::Projection;
use super::rule::Rule;
use super::sigma::{parse_sigma_file, sidecar_path, PackSettings, SigmaFile};
use super::state::LATE_MARGIN_MS;

/// One file of the built-in pack: its name (in errors, `rules list` and `rules export`), its
/// Sigma text, its sidecar of test events.
pub struct BuiltinFile {
    pub name: &'static str,
    pub sigma: &'static str,
    pub tests: &'static str,
}

macro_rules! builtin {
    ($($stem:literal),* $(,)?) => {
        [$(BuiltinFile {
            name: concat!($stem, ".yml"),
            sigma: include_str!(concat!("rules/", $stem, ".yml")),
            tests: include_str!(concat!("rules/", $stem, ".tests.yaml")),
        }),*]
    };
}

/// The built-in pack, file by file (`src/detect/rules/`).
pub const BUILTIN: [BuiltinFile; 10] = builtin![
    "atlassian_impersonation",
    "atlassian_two_step",
    "atlassian_admin",
    "atlassian_api_tokens",
    "atlassian_policies",
    "atlassian_domains",
    "atlassian_exports",
    "atlassian_accounts",
    "atlassian_sites",
    "atlassian_thresholds",
];

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RulePack {
    rules: Vec<Rule>,
    settings: PackSettings,
    /// What of an event the rules read (kept in step with `rules`).
    projection: Projection,
    /// The positions of the rules an event with this action may match (those naming it and
    /// those naming none), in pack order; `any_action`: those naming none.
    by_action: HashMap<String, Vec<usize>>,
    any_action: Vec<usize>,
}

impl RulePack {
    /// The built-in pack with the default settings.
    pub fn builtin() -> Result<RulePack, RuleError> {
        RulePack::builtin_with(PackSettings::default())
    }

    /// The built-in pack, its placeholders filled from `settings`. Its files are tested to
    /// parse, so an error here is a bug in them (or a setting no rule can take).
    pub fn builtin_with(settings: PackSettings) -> Result<RulePack, RuleError> {
        let mut pack = RulePack {
            settings,
            ..RulePack::default()
        };
        for file in &BUILTIN {
            let name = format!("builtin:rules/{}", file.name);
            let tests_name = format!("builtin:rules/{}", sidecar_path(file.name));
            let parsed = parse_sigma_file(
                &name,
                file.sigma,
                Some((&tests_name, file.tests)),
                &pack.settings,
            )?;
            if let Some((rule, _)) = parsed.obsoletes.first() {
                return Err(RuleError::invalid(
                    &name,
                    rule,
                    "related",
                    "the built-in pack makes no rule obsolete",
                ));
            }
            pack.add(&name, parsed.rules)?;
        }
        Ok(pack)
    }

    /// Exactly these rules (a rule's own tests run on a pack of that rule alone).
    pub fn of(rules: Vec<Rule>) -> RulePack {
        let mut pack = RulePack {
            rules,
            ..RulePack::default()
        };
        pack.index();
        pack
    }

    /// Recomputes the projection and the action index from the rules.
    fn index(&mut self) {
        self.projection = Projection::of(self.rules.iter().flat_map(|r| r.paths()));
        self.by_action.clear();
        self.any_action.clear();
        for (at, rule) in self.rules.iter().enumerate() {
            match &rule.actions {
                Some(actions) => {
                    for action in actions {
                        self.by_action.entry(action.clone()).or_default().push(at);
                    }
                }
                None => self.any_action.push(at),
            }
        }
        for positions in self.by_action.values_mut() {
            positions.extend(&self.any_action);
            positions.sort_unstable();
        }
    }

    /// The fields of an event the rules read: what the engine is given of each event.
    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// The rules an event with `action` matches, in pack order: those whose detection is that
    /// action alone, and those of the candidates that match the event.
    pub fn matching<'a>(
        &'a self,
        action: Option<&str>,
        event: &'a serde_json::Value,
    ) -> impl Iterator<Item = &'a Rule> {
        self.candidates(action)
            .filter(move |r| r.action_only || r.matches(event))
    }

    /// The rules an event with `action` may match, in pack order (Sigma compares without case).
    pub fn candidates(&self, action: Option<&str>) -> impl Iterator<Item = &Rule> {
        let positions = match action {
            Some(a) if a.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.by_action.get(&a.to_ascii_lowercase())
            }
            Some(a) => self.by_action.get(a),
            None => None,
        };
        positions
            .unwrap_or(&self.any_action)
            .iter()
            .filter_map(|&at| self.rules.get(at))
    }

    /// Each action the rules name (lower case) with the texts one of which a line of that
    /// action must hold for some rule to match it (`None`: any line of it may match); `None`
    /// when some rule may match any action.
    pub fn action_needles(&self) -> Option<Vec<(String, Option<Vec<String>>)>> {
        if !self.any_action.is_empty() {
            return None;
        }
        let needles = |positions: &[usize]| -> Option<Vec<String>> {
            let lists: Option<Vec<&Vec<String>>> = positions
                .iter()
                .map(|&at| self.rules.get(at).and_then(|r| r.needles.as_ref()))
                .collect();
            Some(lists?.into_iter().flatten().cloned().collect())
        };
        Some(
            self.by_action
                .iter()
                .map(|(action, positions)| (action.clone(), needles(positions)))
                .collect(),
        )
    }

    /// With a user's Sigma file: the rules its `related: obsolete` entries name taken out, then
    /// its rules added.
    pub fn with_user_rules(
        mut self,
        file: &str,
        text: &str,
        tests: Option<(&str, &str)>,
    ) -> Result<RulePack, RuleError> {
        let SigmaFile { rules, obsoletes } = parse_sigma_file(file, text, tests, &self.settings)?;
        for (rule, id) in &obsoletes {
            let before = self.rules.len();
            self.rules.retain(|r| &r.sigma_id != id && &r.id != id);
            if self.rules.len() == before {
                return Err(RuleError::invalid(
                    file,
                    rule,
                    "related",
                    "an `obsolete` entry names no rule in force (`atlassian-audit rules list` shows their ids)",
                ));
            }
        }
        self.add(file, rules)?;
        Ok(self)
    }

    fn add(&mut self, file: &str, rules: Vec<Rule>) -> Result<(), RuleError> {
        for rule in rules {
            if self
                .rules
                .iter()
                .any(|r| r.id == rule.id || r.sigma_id == rule.sigma_id)
            {
                return Err(RuleError::invalid(file, &rule.id, "name", "another rule already has this name or id; both are unique (to replace a built-in rule, list its id under `related:` with `type: obsolete`)"));
            }
            self.rules.push(rule);
        }
        self.index();
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

/// `x.yml` or `x.yaml`, but not a sidecar `x.tests.yaml`.
pub fn is_rule_file(name: &str) -> bool {
    (name.ends_with(".yml") || name.ends_with(".yaml")) && !name.ends_with(".tests.yaml")
}
