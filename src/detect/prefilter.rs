//! Which normalized lines are worth parsing for detection: those whose `action` a rule names.
//! Rules match on `attributes.action` first, and few events are admin actions, so the page path
//! parses only those lines a second time instead of all of them.

use std::collections::HashSet;

use super::pack::RulePack;

const ACTION_KEY: &str = "\"action\":\"";

#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    actions: HashSet<String>,
    /// Some rule names no action (its detection does not pin `attributes.action`): every
    /// line is let through.
    any: bool,
}

impl ActionFilter {
    pub fn of(pack: &RulePack) -> ActionFilter {
        match pack.actions() {
            Some(actions) => ActionFilter {
                actions: actions.into_iter().collect(),
                any: false,
            },
            None => ActionFilter {
                actions: HashSet::new(),
                any: true,
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && !self.any
    }

    /// Whether some `"action":"…"` in the compact JSON `line` is one a rule names. An action
    /// written with escapes is let through: only a full parse can read it.
    pub fn may_match(&self, line: &str) -> bool {
        if self.any {
            return true;
        }
        let mut rest = line;
        while let Some(at) = rest.find(ACTION_KEY) {
            rest = &rest[at + ACTION_KEY.len()..];
            let Some(end) = rest.find('"') else {
                return false;
            };
            let value = &rest[..end];
            // Sigma compares case-insensitively: so does the filter.
            if value.contains('\\') || self.actions.contains(&value.to_ascii_lowercase()) {
                return true;
            }
            rest = &rest[end..];
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_naming_a_rule_action_are_let_through() {
        let pack = RulePack::builtin().expect("the built-in pack");
        let filter = ActionFilter::of(&pack);
        let cases = [
            (
                r#"{"attributes":{"action":"user_logged_in_as_user"}}"#,
                true,
            ),
            (r#"{"attributes":{"action":"user_login"}}"#, false),
            (
                r#"{"x":{"action":"other"},"attributes":{"action":"api_token_created"}}"#,
                true,
            ),
            (
                r#"{"attributes":{"action":"user\u005flogged_in_as_user"}}"#,
                true,
            ),
            (r#"{"attributes":{"actions":"api_token_created"}}"#, false),
            (r#"{"attributes":{"action":"api_token_created"#, false),
            ("", false),
        ];
        for (line, wanted) in cases {
            assert_eq!(filter.may_match(line), wanted, "{line}");
        }
    }
}
