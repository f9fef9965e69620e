//! Which normalized lines are worth parsing for detection: those whose `action` a rule names
//! and, when each of those rules needs a text in the event (a group name, a policy type), that
//! holds one of them. Rules match on `attributes.action` first, and few events are admin
//! actions, so the page path parses only those lines a second time instead of all of them.

use hashbrown::HashMap;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use memchr::arch::all::packedpair::HeuristicFrequencyRank;
use memchr::memmem::{Finder, FinderBuilder};

use super::pack::RulePack;

const ACTION_KEY: &str = "\"action\":\"";
/// [`ACTION_KEY`]'s searcher (SIMD): the search over every line is most of the filter's cost.
/// It looks first for two of the key's bytes at their distance; memchr's own choice, made for
/// prose, took `"` and `:`, which a JSON line holds at every key (0.6 µs a line in `perf`).
static ACTION_KEY_FINDER: LazyLock<Finder<'static>> =
    LazyLock::new(|| FinderBuilder::new().build_forward_with_ranker(JsonRank, ACTION_KEY));

/// How common a byte of [`ACTION_KEY`] is in the collector's lines: JSON's punctuation at
/// every key; ids and words hold `a`, `t`, `i`, `n` more than `c` and `o`, and `c…o` three
/// apart is rare outside `action` (a memchr heuristic, so a wrong guess costs speed, never a
/// match).
struct JsonRank;

impl HeuristicFrequencyRank for JsonRank {
    fn rank(&self, byte: u8) -> u8 {
        match byte {
            b'c' => 100,
            b'o' => 110,
            b'"' | b':' | b',' | b'{' | b'}' | b'[' | b']' => 255,
            _ => 200,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    /// Each action a rule names, with the texts a line of it must hold (`None`: any line).
    actions: HashMap<String, Option<AhoCorasick>>,
    /// Some rule names no action (its detection does not pin `attributes.action`): every
    /// line is let through.
    any: bool,
}

impl ActionFilter {
    pub fn of(pack: &RulePack) -> ActionFilter {
        let Some(actions) = pack.action_needles() else {
            return ActionFilter {
                actions: HashMap::new(),
                any: true,
            };
        };
        let actions = actions
            .into_iter()
            .map(|(action, needles)| {
                let finder = needles.and_then(|n| {
                    AhoCorasick::builder()
                        .ascii_case_insensitive(true)
                        .build(n)
                        .ok()
                });
                (action, finder)
            })
            .collect();
        ActionFilter {
            actions,
            any: false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && !self.any
    }

    /// Whether some `"action":"…"` in the compact JSON `line` is one a rule names, and the
    /// line holds a text one of its rules needs. An action written with escapes, or a line with
    /// any escape (a needed text might be written escaped), is let through: only a full parse
    /// can read it.
    pub fn may_match(&self, line: &str) -> bool {
        if self.any {
            return true;
        }
        let mut rest = line;
        while let Some(at) = ACTION_KEY_FINDER.find(rest.as_bytes()) {
            rest = &rest[at + ACTION_KEY.len()..];
            let Some(end) = rest.find('"') else {
                return false;
            };
            let value = &rest[..end];
            if value.contains('\\') {
                return true;
            }
            // Sigma compares case-insensitively: so does the filter.
            let found = match self.actions.get(value) {
                Some(found) => Some(found),
                None if value.bytes().any(|b| b.is_ascii_uppercase()) => {
                    self.actions.get(&value.to_ascii_lowercase())
                }
                None => None,
            };
            match found {
                Some(None) => return true,
                Some(Some(needles)) if needles.is_match(line) || line.contains('\\') => {
                    return true
                }
                _ => {}
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
            (r#"{"attributes":{"action":"API_TOKEN_CREATED"}}"#, true),
            // A group add is read only when the line names an admin group.
            (
                r#"{"attributes":{"action":"user_added_to_group","context":[{"attributes":{"name":"jira-users"}}]}}"#,
                false,
            ),
            (
                r#"{"attributes":{"action":"user_added_to_group","context":[{"attributes":{"name":"Jira-Administrators"}}]}}"#,
                true,
            ),
            (
                r#"{"attributes":{"action":"user_added_to_group","context":[{"attributes":{"name":"site-admins"}}]}}"#,
                true,
            ),
            (
                r#"{"attributes":{"action":"user_added_to_group","context":[{"attributes":{"name":"x\u002dadministrators"}}]}}"#,
                true,
            ),
            (r#"{"attributes":{"action":"api_token_created"#, false),
            ("", false),
        ];
        for (line, wanted) in cases {
            assert_eq!(filter.may_match(line), wanted, "{line}");
        }
    }
}
