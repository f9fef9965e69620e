//! `check`: a setup screen. Verifies the configuration, the secret, the API key and org, and
//! the storage, and says exactly what is wrong, or "Everything looks good".
mod sources;

pub use sources::{check_sources, SourcesCheck};

use crate::config::Config;
use crate::config::RuleSource;
use crate::credentials::{Credentials, KEY_EXPIRY_WARNING_DAYS};
use crate::detect::RulePack;
use crate::setup::{Backends, SetupError};
use crate::source::{EventSource, PageRequest, StreamPosition, WireCounters};
use std::time::Duration;
use tokio::time::Instant;

/// What `check` can say of the key's scopes. Atlassian's API tells a client nothing of the
/// scopes of the key it was called with (no header, no field of the events-stream answer, no
/// endpoint for it: see the shared API notes), so the check cannot verify them; it says so and
/// says what the key should be.
pub const KEY_SCOPE_NOTE: &str = "key scope: the API does not report it, so it is not checked here; the key needs read:events:admin and nothing more (docs/deploy.md, onboarding step 1)";

/// One line of the report.
#[derive(Debug, Clone)]
pub struct CheckLine {
    pub ok: bool,
    pub what: String,
}

#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub lines: Vec<CheckLine>,
}

impl CheckReport {
    pub fn all_ok(&self) -> bool {
        self.lines.iter().all(|l| l.ok)
    }

    fn push(&mut self, ok: bool, what: impl Into<String>) {
        self.lines.push(CheckLine {
            ok,
            what: what.into(),
        });
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            out.push_str(if l.ok { "  ✓ " } else { "  ✗ " });
            out.push_str(&l.what);
            out.push('\n');
        }
        if self.all_ok() {
            out.push_str("Everything looks good.\n");
        } else {
            let n = self.lines.iter().filter(|l| !l.ok).count();
            out.push_str(&format!(
                "{n} problem{} to fix before the collector can run.\n",
                if n == 1 { "" } else { "s" }
            ));
        }
        out
    }
}

/// The report of a setup that could not even be built (a bad rule file, a malformed
/// setting): one line saying what is wrong.
pub fn setup_failed(error: &SetupError) -> CheckReport {
    let mut report = CheckReport::default();
    report.push(false, error.to_string());
    report
}

/// The rules in force: how many, from which user file, which built-in ones it disabled.
pub fn rule_pack_line(config: &Config, pack: &RulePack) -> String {
    let total = pack.rules().len();
    let Some(file) = config.detection_rules.as_ref().map(RuleSource::describe) else {
        return format!("rule pack: the {total} built-in rules (DETECTION_RULES not set)");
    };
    let added = pack.rules().iter().filter(|r| r.origin == file).count();
    let disabled = disabled_builtin_ids(pack);
    let disabled = if disabled.is_empty() {
        "none".to_string()
    } else {
        disabled.join(", ")
    };
    format!("rule pack: {total} rules, {added} of them from {file}; built-in rules disabled: {disabled}")
}

/// Built-in ids absent from `pack`.
fn disabled_builtin_ids(pack: &RulePack) -> Vec<String> {
    let Ok(builtin) = RulePack::builtin() else {
        return Vec::new();
    };
    builtin
        .rules()
        .iter()
        .filter(|b| !pack.rules().iter().any(|r| r.id == b.id))
        .map(|b| b.id.clone())
        .collect()
}

/// How long the key has left, from the secret's `expires_at`: a problem only once it has expired.
pub fn key_expiry_line(
    credentials: &Credentials,
    key_location: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> (bool, String) {
    let Some(expiry) = credentials.expires_at else {
        let advice = if key_location.starts_with("secret ") {
            format!("add \"expires_at\" (the date admin.atlassian.com showed when the key was created, YYYY-MM-DD) to {key_location} to be warned before it expires")
        } else {
            format!("{key_location} carries none (a secret's \"expires_at\" does)")
        };
        return (true, format!("the API key's expiry is not known: {advice}"));
    };
    let (date, left) = (expiry.date_shown(), expiry.time_left(now));
    if expiry.has_expired(now) {
        (
            false,
            format!(
                "the API key expired on {date} ({left}): create a new one at admin.atlassian.com → Settings → API keys and put it, with its expires_at, in {key_location}"
            ),
        )
    } else if expiry.days_left(now) < KEY_EXPIRY_WARNING_DAYS {
        (
            true,
            format!(
                "the API key expires on {date} ({left}): rotate it now (docs/operations.md, \"Rotating the key without a gap\")"
            ),
        )
    } else {
        (true, format!("the API key expires on {date} ({left})"))
    }
}

/// Runs every check it can; a failed step stops only the checks that depend on it.
pub async fn run_checks(config: &Config, backends: &Backends) -> CheckReport {
    let mut report = CheckReport::default();
    report.push(
        true,
        format!("configuration read (API base URL {})", config.api_base_url),
    );

    report.push(true, rule_pack_line(config, &backends.detection.pack));

    let creds = match backends.credentials.get().await {
        Ok(c) => {
            report.push(
                true,
                format!(
                    "credentials read from {} (org id {})",
                    backends.credentials.describe(),
                    c.org_id
                ),
            );
            Some(c)
        }
        Err(e) => {
            report.push(false, e.to_string());
            None
        }
    };

    if creds.is_some() {
        let wire = WireCounters::default();
        let from_ms = (chrono::Utc::now().timestamp() - 3600) * 1000;
        let probe = PageRequest {
            position: StreamPosition::From { from_ms },
            limit: 1,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        match backends.source.fetch_page(&probe, deadline, &wire).await {
            Ok(_) => {
                report.push(
                    true,
                    "the Atlassian API accepted the key and serves this organization's audit log",
                );
                report.push(true, KEY_SCOPE_NOTE);
            }
            Err(e) => report.push(false, e.to_string()),
        }
        // After the probe: a 401 there re-reads the secret, so this is the key now in use.
        if let Ok(c) = backends.credentials.get().await {
            let (ok, line) =
                key_expiry_line(&c, &backends.credentials.describe(), chrono::Utc::now());
            report.push(ok, line);
        }
    }

    let source_id = match backends.source_id(config).await {
        Ok(id) => Some(id),
        Err(_) => config.source_id.clone(),
    };
    if let Some(source_id) = source_id {
        match backends.checkpoints.load(&source_id).await {
            Ok(Some(stored)) => report.push(
                true,
                format!(
                    "checkpoint readable in {} (source {source_id}: {} batches, {} events so far)",
                    backends.checkpoints.describe(),
                    stored.checkpoint.sequence,
                    stored.checkpoint.events_written
                ),
            ),
            Ok(None) => report.push(
                true,
                format!(
                    "checkpoint store {} reachable (source {source_id} has not run yet)",
                    backends.checkpoints.describe()
                ),
            ),
            Err(e) => report.push(false, e.to_string()),
        }
    }

    match backends.sink.probe().await {
        Ok(()) => report.push(
            true,
            format!("output {} is reachable", backends.sink.describe()),
        ),
        Err(e) => report.push(false, e.to_string()),
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::parse_expires_at;
    use crate::credentials::ApiKey;

    fn creds(expires_at: Option<&str>) -> Credentials {
        Credentials {
            org_id: "org".into(),
            api_key: ApiKey::new("hunter2"),
            expires_at: expires_at.map(|t| parse_expires_at(t).unwrap()),
        }
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc)
    }

    fn config_with_rules(value: Option<&str>) -> Config {
        Config::from_lookup(|name| match name {
            crate::config::env::CHECKPOINT_TABLE => Some("t".into()),
            crate::config::env::OUTPUT_BUCKET => Some("audit-bucket".into()),
            crate::config::env::DETECTION_RULES => value.map(str::to_string),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn the_check_names_the_rule_pack_in_force() {
        let builtin = RulePack::builtin().unwrap();
        let n = builtin.rules().len();
        let line = rule_pack_line(&config_with_rules(None), &builtin);
        assert_eq!(
            line,
            format!("rule pack: the {n} built-in rules (DETECTION_RULES not set)")
        );
        let file = "s3://rules-bkt/team/rules.yaml";
        let text = include_str!("../../tests/fixtures/rules/user-rules.yaml");
        let pack = builtin.with_user_rules(file, text, None).unwrap();
        let line = rule_pack_line(&config_with_rules(Some(file)), &pack);
        assert_eq!(
            line,
            format!("rule pack: {n} rules, 1 of them from {file}; built-in rules disabled: api_token_revoked")
        );
    }

    #[test]
    fn the_check_says_how_long_the_key_has_left() {
        let (ok, line) = key_expiry_line(&creds(Some("2027-03-01")), "secret s", now());
        assert!(ok);
        assert_eq!(line, "the API key expires on 2027-03-01 (in 59 days)");

        let (ok, line) = key_expiry_line(&creds(Some("2027-01-10")), "secret s", now());
        assert!(ok, "not yet a problem, but it says to rotate");
        assert!(
            line.contains("in 9 days") && line.contains("rotate it now"),
            "{line}"
        );

        let (ok, line) = key_expiry_line(&creds(Some("2026-12-29")), "secret s", now());
        assert!(!ok);
        assert!(
            line.contains("expired on 2026-12-29 (3 days ago)") && line.contains("secret s"),
            "{line}"
        );

        let (ok, line) = key_expiry_line(&creds(None), "secret s", now());
        assert!(ok);
        assert!(
            line.contains("not known") && line.contains("\"expires_at\""),
            "{line}"
        );
        let (ok, line) = key_expiry_line(&creds(None), "ATLASSIAN_API_KEY", now());
        assert!(ok);
        assert_eq!(
            line,
            "the API key's expiry is not known: ATLASSIAN_API_KEY carries none (a secret's \"expires_at\" does)"
        );
        for (_, line) in [
            key_expiry_line(&creds(Some("2027-03-01")), "secret s", now()),
            key_expiry_line(&creds(None), "secret s", now()),
        ] {
            assert!(!line.contains("hunter2"));
        }
    }
}
