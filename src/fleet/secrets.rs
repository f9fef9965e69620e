//! Where each registered source's credentials come from: its Secrets Manager secret (every
//! deployment), or keys given in the process (the demo's simulated organizations, tests).
use crate::config::CredentialSource;
use crate::credentials::ApiKey;
use crate::registry::RegisteredSource;
use std::collections::HashMap;

pub trait SourceSecrets: Send + Sync {
    /// The credentials of `source`; each source's key goes only to its own organization.
    fn credentials_of(&self, source: &RegisteredSource) -> Result<CredentialSource, String>;
}

/// The secret the registry names for the source, read from Secrets Manager.
pub struct SecretsManagerSecrets;

impl SourceSecrets for SecretsManagerSecrets {
    fn credentials_of(&self, source: &RegisteredSource) -> Result<CredentialSource, String> {
        Ok(CredentialSource::SecretsManager {
            secret_id: source.secret_id.clone(),
        })
    }
}

/// Org ids and keys held in the process, by secret id. A secret id it does not hold fails that
/// source's run alone, named.
#[derive(Default)]
pub struct StaticSecrets {
    by_secret: HashMap<String, (String, ApiKey)>,
}

impl StaticSecrets {
    pub fn new() -> Self {
        StaticSecrets::default()
    }

    pub fn with(mut self, secret_id: &str, org_id: &str, api_key: ApiKey) -> Self {
        self.by_secret
            .insert(secret_id.to_string(), (org_id.to_string(), api_key));
        self
    }
}

impl SourceSecrets for StaticSecrets {
    fn credentials_of(&self, source: &RegisteredSource) -> Result<CredentialSource, String> {
        let (org_id, api_key) =
            self.by_secret
                .get(&source.secret_id)
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "no credentials for secret {:?} of source {:?}",
                        source.secret_id, source.source_id
                    )
                })?;
        Ok(CredentialSource::Static { org_id, api_key })
    }
}
