//! Where the org id and API key come from: a Secrets Manager secret (cached in a warm Lambda
//! container for at most 15 minutes, and re-read at once on a 401, so a replaced key is picked
//! up) or values given directly. The secret may also say when the key expires (`expires_at`),
//! so the operator is warned ahead.
mod api_key;
mod expiry;
mod secrets_manager;

pub use api_key::ApiKey;
pub use expiry::{parse_expires_at, KeyExpiry, EXPIRES_AT_FORMATS, KEY_EXPIRY_WARNING_DAYS};
pub use secrets_manager::{SecretsManagerCredentials, SECRET_MAX_AGE};

use async_trait::async_trait;
use serde::Deserialize;
use thiserror::Error;

/// The value a freshly deployed stack puts in its secret, recognised so the error can say so.
pub const PLACEHOLDER: &str = "REPLACE_ME";

#[derive(Debug, Clone)]
pub struct Credentials {
    pub org_id: String,
    pub api_key: ApiKey,
    /// When the key stops working, as the secret's `expires_at` says (the date admin.atlassian.com
    /// shows when the key is created); `None` when the secret does not say.
    pub expires_at: Option<KeyExpiry>,
}

#[derive(Debug, Error)]
pub enum CredentialError {
    #[error("could not read secret {secret_id}: {reason}")]
    Unreadable { secret_id: String, reason: String },
    #[error("secret {secret_id} is not usable: {reason}. Its SecretString must be JSON: {{\"org_id\": \"<org id>\", \"api_key\": \"<API key>\"}}")]
    Malformed { secret_id: String, reason: String },
    #[error("secret {secret_id} still holds the placeholder written at deploy time: put your org id and API key in it (admin.atlassian.com → Settings → API keys), see docs/deploy.md (onboarding)")]
    Placeholder { secret_id: String },
}

#[async_trait]
pub trait CredentialProvider: Send + Sync {
    /// The current credentials, from cache when there is one.
    async fn get(&self) -> Result<Credentials, CredentialError>;
    /// Reads the credentials again, bypassing any cache (after the API rejected the key).
    async fn refresh(&self) -> Result<Credentials, CredentialError>;
    /// Where the key lives, for error messages: "secret <id>" or "ATLASSIAN_API_KEY".
    fn describe(&self) -> String;
}

/// Days the current key has left (negative once expired), when the secret says when it expires.
/// Reads the credentials as a run does (from the cache when there is one).
pub async fn key_days_left(
    provider: &dyn CredentialProvider,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<f64> {
    Some(provider.get().await.ok()?.expires_at?.days_left(now))
}

/// Credentials given at start (environment or flags).
pub struct StaticCredentials(Credentials);

impl StaticCredentials {
    pub fn new(org_id: String, api_key: ApiKey) -> Self {
        StaticCredentials(Credentials {
            org_id,
            api_key,
            expires_at: None,
        })
    }
}

#[async_trait]
impl CredentialProvider for StaticCredentials {
    async fn get(&self) -> Result<Credentials, CredentialError> {
        Ok(self.0.clone())
    }
    async fn refresh(&self) -> Result<Credentials, CredentialError> {
        Ok(self.0.clone())
    }
    fn describe(&self) -> String {
        "ATLASSIAN_API_KEY".to_string()
    }
}

/// Parses a secret's text. Error messages name the secret and the problem, never the content.
pub fn parse_secret(secret_id: &str, text: &str) -> Result<Credentials, CredentialError> {
    #[derive(Deserialize)]
    struct SecretJson {
        org_id: Option<serde_json::Value>,
        api_key: Option<serde_json::Value>,
        expires_at: Option<serde_json::Value>,
    }
    let malformed = |reason: &str| CredentialError::Malformed {
        secret_id: secret_id.to_string(),
        reason: reason.to_string(),
    };
    // serde's derived structs also read a JSON array as positional fields: only an object is
    // a secret. (The text itself never goes into a message.)
    if !text.trim_start().starts_with('{') {
        return Err(malformed("it is not a JSON object"));
    }
    let parsed: SecretJson =
        serde_json::from_str(text).map_err(|_| malformed("it is not a JSON object"))?;
    let field = |v: Option<serde_json::Value>, name: &str| -> Result<String, CredentialError> {
        match v {
            None => Err(malformed(&format!("it has no \"{name}\" field"))),
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
            Some(_) => Err(malformed(&format!(
                "its \"{name}\" field is not a non-empty string"
            ))),
        }
    };
    let org_id = field(parsed.org_id, "org_id")?;
    let api_key = field(parsed.api_key, "api_key")?;
    if org_id == PLACEHOLDER || api_key == PLACEHOLDER {
        return Err(CredentialError::Placeholder {
            secret_id: secret_id.to_string(),
        });
    }
    if !is_org_id(&org_id) {
        return Err(malformed("its \"org_id\" is not an org id (letters, digits and dashes, as in admin.atlassian.com/o/<org id>)"));
    }
    let expires_at = match parsed.expires_at {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => {
            Some(parse_expires_at(&text).ok_or_else(|| {
                malformed(&format!(
                    "its \"expires_at\" is not a date or time ({EXPIRES_AT_FORMATS})"
                ))
            })?)
        }
        Some(_) => {
            return Err(malformed(&format!(
                "its \"expires_at\" is not a string ({EXPIRES_AT_FORMATS})"
            )))
        }
    };
    Ok(Credentials {
        org_id,
        api_key: ApiKey::new(api_key),
        expires_at,
    })
}

/// Whether `org_id` can be an Atlassian org id (admin.atlassian.com/o/<org id>): 1–128 letters,
/// digits, dashes and underscores. Anything else never reaches a URL.
pub fn is_org_id(org_id: &str) -> bool {
    !org_id.is_empty()
        && org_id.len() <= 128
        && org_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_secret_parses() {
        let c = parse_secret("s", r#"{"org_id":"abc-123","api_key":"KEY"}"#).unwrap();
        assert_eq!(c.org_id, "abc-123");
        assert_eq!(c.api_key.expose(), "KEY");
    }

    #[test]
    fn errors_name_the_secret_and_never_its_content() {
        let cases = [
            "not json at all hunter2",
            r#"{"org_id":"abc"}"#,
            r#"{"api_key":"hunter2"}"#,
            r#"{"org_id":"abc","api_key":42}"#,
            r#"{"org_id":"a b c","api_key":"hunter2"}"#,
            r#"["hunter2"]"#,
        ];
        for text in cases {
            let err = parse_secret("my/secret", text).unwrap_err().to_string();
            assert!(err.contains("my/secret"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    /// Hostile shapes: positional arrays, deep nesting, huge values, duplicate members.
    #[test]
    fn odd_secrets_are_refused_by_name_only() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let cases = [
            r#"["abc-123","hunter2"]"#.to_string(),
            format!(r#"{{"org_id":"abc","api_key":{deep},"x":"hunter2"}}"#),
            format!(
                r#"{{"org_id":"{}","api_key":"hunter2"}}"#,
                "a".repeat(5 << 20)
            ),
            r#"{"org_id":"abc","org_id":"def","api_key":"hunter2"}"#.to_string(),
            "\u{feff}{\"org_id\":\"abc\",\"api_key\":\"hunter2\"}".to_string(),
            "{\"org_id\":\"abc\",\"api_key\":\"hunter2\"".to_string(),
        ];
        for text in &cases {
            let err = parse_secret("my/secret", text).unwrap_err().to_string();
            assert!(err.contains("my/secret"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.len() < 400, "{} bytes", err.len());
        }
        // Members it does not use may hold anything, at any depth.
        let c = parse_secret(
            "s",
            &format!(r#"{{"org_id":"abc","api_key":"k","x":{deep}}}"#),
        )
        .unwrap();
        assert_eq!(c.api_key.expose(), "k");
    }

    #[test]
    fn the_key_expiry_is_read_when_the_secret_gives_it() {
        let c = parse_secret("s", r#"{"org_id":"abc","api_key":"k"}"#).unwrap();
        assert!(c.expires_at.is_none());
        let c = parse_secret("s", r#"{"org_id":"abc","api_key":"k","expires_at":null}"#).unwrap();
        assert!(c.expires_at.is_none());
        let c = parse_secret(
            "s",
            r#"{"org_id":"abc","api_key":"k","expires_at":"2027-01-15"}"#,
        )
        .unwrap();
        assert_eq!(
            c.expires_at.unwrap().at().to_rfc3339(),
            "2027-01-15T00:00:00+00:00"
        );
        let c = parse_secret(
            "s",
            r#"{"org_id":"abc","api_key":"k","expires_at":" 2027-01-15T10:30:00+02:00 "}"#,
        )
        .unwrap();
        assert_eq!(
            c.expires_at.unwrap().at().to_rfc3339(),
            "2027-01-15T08:30:00+00:00"
        );
    }

    /// A wrong `expires_at` is refused like any other field: the check and the run say so,
    /// naming the field and the formats, never the key.
    #[test]
    fn an_unreadable_expiry_is_refused_by_name() {
        for value in [
            r#""15/01/2027""#,
            r#""Jan 15, 2027""#,
            r#""2027-02-30""#,
            r#""""#,
            "20270115",
            "true",
            r#"{"date":"2027-01-15"}"#,
        ] {
            let text = format!(r#"{{"org_id":"abc","api_key":"hunter2","expires_at":{value}}}"#);
            let err = parse_secret("my/secret", &text).unwrap_err();
            assert!(matches!(err, CredentialError::Malformed { .. }), "{value}");
            let err = err.to_string();
            assert!(err.contains("\"expires_at\""), "{err}");
            assert!(err.contains("YYYY-MM-DD"), "{err}");
            assert!(
                err.contains("my/secret") && !err.contains("hunter2"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_deploy_placeholder_is_recognised() {
        let err =
            parse_secret("s", r#"{"org_id":"REPLACE_ME","api_key":"REPLACE_ME"}"#).unwrap_err();
        assert!(matches!(err, CredentialError::Placeholder { .. }));
    }
}
