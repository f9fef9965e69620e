use super::{parse_secret, CredentialError, CredentialProvider, Credentials};
use async_trait::async_trait;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// How long a warm container keeps using the key it read: a key replaced in the secret (say
/// because the old one leaked) stops being used within this time, without waiting for
/// Atlassian to reject the old one.
pub const SECRET_MAX_AGE: Duration = Duration::from_secs(15 * 60);

/// Reads `{"org_id", "api_key"}` from a Secrets Manager secret and caches it in the process (a
/// warm Lambda container) for at most [`SECRET_MAX_AGE`], so most scheduled runs cost no
/// secret read; a 401 re-reads it at once.
pub struct SecretsManagerCredentials {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    max_age: Duration,
    cache: Mutex<Option<(Credentials, Instant)>>,
}

impl SecretsManagerCredentials {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String) -> Self {
        SecretsManagerCredentials {
            client,
            secret_id,
            max_age: SECRET_MAX_AGE,
            cache: Mutex::new(None),
        }
    }

    /// The same, keeping a key read for at most `max_age` (tests use a short one).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    async fn read(&self) -> Result<Credentials, CredentialError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| CredentialError::Unreadable {
                secret_id: self.secret_id.clone(),
                reason: format!(
                    "{} (does the function's role allow secretsmanager:GetSecretValue on it, and does it exist in this region?)",
                    crate::aws_error::describe(&e)
                ),
            })?;
        let text = out
            .secret_string()
            .ok_or_else(|| CredentialError::Malformed {
                secret_id: self.secret_id.clone(),
                reason: "it has no SecretString (binary secrets are not supported)".into(),
            })?;
        parse_secret(&self.secret_id, text)
    }
}

#[async_trait]
impl CredentialProvider for SecretsManagerCredentials {
    async fn get(&self) -> Result<Credentials, CredentialError> {
        let mut cache = self.cache.lock().await;
        if let Some((c, read_at)) = cache.as_ref() {
            if read_at.elapsed() < self.max_age {
                return Ok(c.clone());
            }
        }
        // Expired (or never read): read again. A failed read leaves no key to fall back on, so
        // a key older than the limit is never used.
        *cache = None;
        let fresh = self.read().await?;
        *cache = Some((fresh.clone(), Instant::now()));
        Ok(fresh)
    }

    async fn refresh(&self) -> Result<Credentials, CredentialError> {
        let mut cache = self.cache.lock().await;
        let fresh = self.read().await;
        // A failed re-read drops the cache too: the next run must not reuse a rejected key.
        *cache = fresh.as_ref().ok().map(|c| (c.clone(), Instant::now()));
        fresh
    }

    fn describe(&self) -> String {
        format!("secret {}", self.secret_id)
    }
}
