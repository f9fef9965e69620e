//! Several simulated organizations behind one address, a registry in memory and local storage:
//! what `run --all-sources` does, driven from the library, with each organization's events
//! checked against what its source archived.
use super::harness::local_objects;
use atlassian_audit::config::{env, Config};
use atlassian_audit::credentials::ApiKey;
use atlassian_audit::fleet::{run_all, StaticSecrets, TaskOutcome};
use atlassian_audit::registry::{MemoryRegistry, RegisteredSource, SourceRegistry};
use atlassian_audit::setup::Aws;
use serde_json::Value;
use simulated_org::{now_ms, SimulatedOrg, SimulatedOrgConfig};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

pub const DAY_MS: i64 = 86_400_000;

pub struct FleetEnv {
    pub orgs: Vec<SimulatedOrg>,
    pub registry: Arc<MemoryRegistry>,
    pub secrets: Arc<StaticSecrets>,
    pub settings: HashMap<&'static str, String>,
    _dir: tempfile::TempDir,
}

impl FleetEnv {
    /// `count` organizations (org-1 … org-N, each with its own key), no events yet.
    pub async fn start(count: usize, template: SimulatedOrgConfig) -> FleetEnv {
        let orgs = start_orgs("org", count, template).await;
        let mut secrets = StaticSecrets::new();
        for org in &orgs {
            secrets = secrets.with(
                &secret_of(org.org_id()),
                org.org_id(),
                ApiKey::new(org.api_key()),
            );
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let local = dir.path().display().to_string();
        let mut settings = HashMap::new();
        settings.insert(env::API_BASE_URL, orgs[0].base_url());
        settings.insert(env::OUTPUT_DIR, format!("{local}/out"));
        settings.insert(env::STATE_FILE, format!("{local}/state.json"));
        settings.insert(env::PAGE_LIMIT, "200".to_string());
        FleetEnv {
            orgs,
            registry: Arc::new(MemoryRegistry::new()),
            secrets: Arc::new(secrets),
            settings,
            _dir: dir,
        }
    }

    pub fn config(&self) -> Config {
        let settings = self.settings.clone();
        Config::from_lookup(move |n| settings.get(n).cloned()).expect("a valid configuration")
    }

    pub fn org(&self, org_id: &str) -> &SimulatedOrg {
        self.orgs
            .iter()
            .find(|o| o.org_id() == org_id)
            .expect("a simulated org of this fleet")
    }

    /// Registers `org_id` as source `source_id` (labelled `Label of <id>`), as `sources add` does.
    pub async fn add(
        &self,
        source_id: &str,
        org_id: &str,
        backfill_days: Option<u32>,
        lookback_ms: i64,
    ) -> RegisteredSource {
        let source = RegisteredSource::new(
            source_id,
            &secret_of(org_id),
            &format!("Label of {source_id}"),
            backfill_days,
            lookback_ms,
            now_ms(),
        )
        .expect("a valid source");
        self.registry.add(&source).await.expect("registered");
        source
    }

    /// `run --all-sources` once.
    pub async fn run_all(&self, concurrency: usize) -> Vec<TaskOutcome> {
        self.run_all_within(concurrency, Duration::from_secs(60))
            .await
    }

    pub async fn run_all_within(&self, concurrency: usize, budget: Duration) -> Vec<TaskOutcome> {
        let sources = self.registry.list().await.expect("listed");
        run_all(
            Arc::new(self.config()),
            Arc::new(Aws::default()),
            self.registry.clone(),
            self.secrets.clone(),
            sources,
            concurrency,
            budget,
        )
        .await
    }

    /// Every line under logs/, parsed.
    pub fn logs(&self) -> Vec<Value> {
        let dir = std::path::PathBuf::from(&self.settings[env::OUTPUT_DIR]);
        local_objects(&dir)
            .into_iter()
            .filter(|o| o.key.starts_with("logs/"))
            .flat_map(|o| {
                o.text
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Event ids written per `p_source_id`, each with how many times.
    pub fn written_by_source(&self) -> BTreeMap<String, BTreeMap<String, usize>> {
        let mut by: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for line in self.logs() {
            let source = line["p_source_id"]
                .as_str()
                .expect("p_source_id")
                .to_string();
            let id = line["id"].as_str().expect("id").to_string();
            *by.entry(source).or_default().entry(id).or_default() += 1;
        }
        by
    }

    /// Asserts `source_id` wrote each valid event of `org_id` processed at or after `from_ms`
    /// exactly once, and nothing else.
    pub fn assert_exactly_once(&self, source_id: &str, org_id: &str, from_ms: i64) {
        let written = self
            .written_by_source()
            .remove(source_id)
            .unwrap_or_default();
        let repeated: Vec<_> = written.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            repeated.is_empty(),
            "{source_id} wrote these more than once: {repeated:?}"
        );
        let expected = processed_since(self.org(org_id), from_ms);
        let missing: Vec<_> = expected
            .iter()
            .filter(|id| !written.contains_key(*id))
            .collect();
        let extra: Vec<_> = written
            .keys()
            .filter(|id| !expected.contains(*id))
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{source_id}: {} expected, {} written, missing {missing:?}, not expected {extra:?}",
            expected.len(),
            written.len()
        );
    }
}

/// `count` organizations behind one address, `<prefix>-1` … `<prefix>-N`, each with a key of
/// its own that no test data contains by chance.
pub async fn start_orgs(
    prefix: &str,
    count: usize,
    template: SimulatedOrgConfig,
) -> Vec<SimulatedOrg> {
    let configs = (1..=count)
        .map(|n| SimulatedOrgConfig {
            org_id: format!("{prefix}-{n}"),
            api_key: format!(
                "ATATT3-key-of-{prefix}-{n}-{}",
                uuid::Uuid::new_v4().simple()
            ),
            ..template.clone()
        })
        .collect();
    SimulatedOrg::start_many(configs, 0).await.expect("listen")
}

/// Clears the single-organization settings a developer's shell may hold from a CLI child run in
/// registry mode (its sources' secrets name their organizations).
pub fn without_single_org_settings(cmd: &mut tokio::process::Command) {
    for name in [
        env::SECRET_ID,
        env::ORG_ID,
        env::API_KEY,
        env::SOURCE_ID,
        env::STATE_FILE,
        env::OUTPUT_DIR,
    ] {
        cmd.env_remove(name);
    }
}

/// The secret id the fleet's source of `org_id` names.
fn secret_of(org_id: &str) -> String {
    format!("atlassian-audit/{org_id}")
}

/// Ids of `org`'s valid events processed at or after `from_ms`.
pub fn processed_since(org: &SimulatedOrg, from_ms: i64) -> std::collections::BTreeSet<String> {
    let valid = org.valid_event_ids();
    org.events()
        .into_iter()
        .filter_map(|e| {
            let id = e["id"].as_str()?.to_string();
            let at = e["attributes"]["processedAt"].as_str()?;
            let ms = chrono::DateTime::parse_from_rfc3339(at)
                .ok()?
                .timestamp_millis();
            (ms >= from_ms && valid.contains(&id)).then_some(id)
        })
        .collect()
}
