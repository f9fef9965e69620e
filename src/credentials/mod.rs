//! Where the org id and API key come from: a Secrets Manager secret (cached in a warm Lambda
//! container for at most 15 minutes, and re-read at once on a 401, so a replaced key is picked
//! up) or values given directly.
mod secrets_manager;

pub use secrets_manager::{SecretsManagerCredentials, SECRET_MAX_AGE};

use crate::config::ApiKey;
use async_trait::async_trait;
use serde::Deserialize;
use thiserror::Error;

/// The value a freshly deployed stack puts in its secret, recognised so the error can say so.
pub const PLACEHOLDER: &str = "REPLACE_ME";

#[derive(Debug, Clone)]
pub struct Credentials {
    pub org_id: String,
    pub api_key: ApiKey,
}

#[derive(Debug, Error)]
pub enum CredentialError {
    #[error("could not read secret {secret_id}: {reason}")]
    Unreadable { secret_id: String, reason: String },
    #[error("secret {secret_id} is not usable: {reason}. Its SecretString must be JSON: {{\"org_id\": \"<org id>\", \"api_key\": \"<API key>\"}}")]
    Malformed { secret_id: String, reason: String },
    #[error("secret {secret_id} still holds the placeholder written at deploy time: put your org id and API key in it (admin.atlassian.com → Settings → API keys), see the README's onboarding")]
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

/// Credentials given at start (environment or flags).
pub struct StaticCredentials(Credentials);

impl StaticCredentials {
    pub fn new(org_id: String, api_key: ApiKey) -> Self {
        StaticCredentials(Credentials { org_id, api_key })
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
    crate::config::validate_org_id(&org_id, "org_id").map_err(|_| {
        malformed("its \"org_id\" is not an org id (letters, digits and dashes, as in admin.atlassian.com/o/<org id>)")
    })?;
    Ok(Credentials {
        org_id,
        api_key: ApiKey::new(api_key),
    })
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
    fn the_deploy_placeholder_is_recognised() {
        let err =
            parse_secret("s", r#"{"org_id":"REPLACE_ME","api_key":"REPLACE_ME"}"#).unwrap_err();
        assert!(matches!(err, CredentialError::Placeholder { .. }));
    }
}
