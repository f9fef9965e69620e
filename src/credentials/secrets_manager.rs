use super::{parse_secret, CredentialError, CredentialProvider, Credentials};
use async_trait::async_trait;
use tokio::sync::Mutex;

/// Reads `{"org_id", "api_key"}` from a Secrets Manager secret and caches it for the life of the
/// process (a warm Lambda container), so each scheduled run costs no secret read.
pub struct SecretsManagerCredentials {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cache: Mutex<Option<Credentials>>,
}

impl SecretsManagerCredentials {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String) -> Self {
        SecretsManagerCredentials {
            client,
            secret_id,
            cache: Mutex::new(None),
        }
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
        if let Some(c) = cache.as_ref() {
            return Ok(c.clone());
        }
        let fresh = self.read().await?;
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    async fn refresh(&self) -> Result<Credentials, CredentialError> {
        let mut cache = self.cache.lock().await;
        let fresh = self.read().await;
        // A failed re-read drops the cache too: the next run must not reuse a rejected key.
        *cache = fresh.as_ref().ok().cloned();
        fresh
    }

    fn describe(&self) -> String {
        format!("secret {}", self.secret_id)
    }
}
