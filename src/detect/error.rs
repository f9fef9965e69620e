//! A bad rule file: which file, which rule, which field, and what to fix. Messages never quote
//! a value from the file (a pasted secret must not end up in a log): only field names that look
//! like field names are shown.

/// Longest quoted token kept from a parser's message; anything longer, or not shaped like a
/// field name, is replaced by `…`.
const MAX_QUOTED_CHARS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{file}: cannot read the rule file: {reason}")]
    Read { file: String, reason: String },
    #[error("{file}: not a valid rule file: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: rule {rule}: field {field}: {message}")]
    Invalid {
        file: String,
        rule: String,
        field: String,
        message: String,
    },
}

impl RuleError {
    pub fn invalid(file: &str, rule: &str, field: &str, message: impl Into<String>) -> RuleError {
        RuleError::Invalid {
            file: file.to_owned(),
            rule: rule.to_owned(),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A parser's message with every quoted token that is not field-name-like replaced by `…`
/// (serde quotes offending values in `` `…` `` and `"…"`).
pub fn scrub(message: &str) -> String {
    scrub_quotes(message, &['`', '"'])
}

/// [`scrub`] for the Sigma parser's messages, which quote values in single quotes too (an
/// apostrophe may hide a little more text than needed: never less).
/// Unquoted words longer than a name may be (a pasted key) are hidden as well.
pub fn scrub_sigma(message: &str) -> String {
    scrub_quotes(message, &['`', '"', '\''])
        .split(' ')
        .map(|word| {
            if word.chars().count() > MAX_QUOTED_CHARS {
                "…"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn scrub_quotes(message: &str, quotes: &[char]) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(start) = rest.find(quotes) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        match after.find(quote) {
            Some(end) => {
                let token = &after[..end];
                out.push_str(if looks_like_a_name(token) {
                    token
                } else {
                    "…"
                });
                out.push(quote);
                rest = &after[end + 1..];
            }
            None => {
                out.push('…');
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn looks_like_a_name(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_QUOTED_CHARS
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}
