use crate::source::ApiAnswer;
use serde::Deserialize;

/// The useful part of an error answer, from either body style the API uses:
/// `{"errors":[{"code","title","detail"}]}` or the gateway's `{"error","message"}`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ErrorSummary {
    pub code: Option<String>,
    pub detail: Option<String>,
}

const MAX_DETAIL_CHARS: usize = 300;

impl ErrorSummary {
    /// The body's code and detail, scrubbed by `scrub` (of the key: server text may echo a
    /// request) and then clipped: a cut made first could fall inside the key and keep its start.
    pub fn from_body(body: &[u8], scrub: impl Fn(&str) -> String) -> Self {
        let clip = |s: &str| clip(&scrub(s));
        #[derive(Deserialize)]
        struct Item {
            code: Option<String>,
            title: Option<String>,
            detail: Option<String>,
        }
        #[derive(Deserialize)]
        struct Body {
            errors: Option<Vec<Item>>,
            error: Option<String>,
            message: Option<String>,
        }
        let Ok(body) = serde_json::from_slice::<Body>(body) else {
            return ErrorSummary::default();
        };
        if let Some(first) = body.errors.and_then(|e| e.into_iter().next()) {
            return ErrorSummary {
                code: first.code.map(|c| clip(&c)),
                detail: first.detail.or(first.title).map(|d| clip(&d)),
            };
        }
        ErrorSummary {
            code: None,
            detail: body.message.or(body.error).map(|d| clip(&d)),
        }
    }

    /// What the API said.
    pub fn answer(self) -> ApiAnswer {
        ApiAnswer {
            code: self.code,
            detail: self.detail,
        }
    }
}

/// Server text goes into operator messages: keep it short and on one line.
fn clip(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    one_line.chars().take(MAX_DETAIL_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::ApiKey;

    fn same(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn both_body_styles_are_understood() {
        let s = ErrorSummary::from_body(
            br#"{"errors":[{"id":"x","status":"400","code":"ADMIN-400-1","title":"Bad Request","detail":"Invalid cursor"}]}"#,
            same,
        );
        assert_eq!(s.code.as_deref(), Some("ADMIN-400-1"));
        assert_eq!(s.detail.as_deref(), Some("Invalid cursor"));
        let s = ErrorSummary::from_body(
            br#"{"timestamp":"t","path":"/p","status":403,"error":"Forbidden","message":"no access"}"#,
            same,
        );
        assert_eq!(s.code, None);
        assert_eq!(s.detail.as_deref(), Some("no access"));
        assert_eq!(
            ErrorSummary::from_body(b"<html>bad gateway</html>", same),
            ErrorSummary::default()
        );
    }

    #[test]
    fn details_are_clipped_to_one_short_line() {
        let long = format!(r#"{{"errors":[{{"detail":"a\nb{}"}}]}}"#, "x".repeat(5000));
        let s = ErrorSummary::from_body(long.as_bytes(), same);
        let d = s.detail.unwrap();
        assert!(d.len() <= MAX_DETAIL_CHARS && !d.contains('\n'));
    }

    #[test]
    fn the_key_is_scrubbed_before_the_cut_that_would_fall_inside_it() {
        let raw = "ATATT3xFfGF0/abc+def\"0123456789ABCDEF";
        let key = ApiKey::new(raw);
        let forms = [
            raw.to_string(),
            raw.replace('/', "%2F")
                .replace('+', "%2b")
                .replace('"', "%22"),
            raw.replace('/', "\\/").replace('"', "\\\""),
            raw.replace('/', "\\u002f").replace('"', "\\u0022"),
        ];
        for form in forms {
            // The key begins 13 characters before the cut.
            let text = format!("{}Bearer {form}", "x".repeat(MAX_DETAIL_CHARS - 20));
            let body = serde_json::json!({"errors": [{"code": text, "detail": text}]});
            let s = ErrorSummary::from_body(body.to_string().as_bytes(), |t| key.scrub(t));
            for said in [s.code.unwrap(), s.detail.unwrap()] {
                assert!(said.ends_with("Bearer [redacted]"), "{said}");
                assert!(!said.contains(&raw[..8]), "{said}");
            }
        }
    }
}
