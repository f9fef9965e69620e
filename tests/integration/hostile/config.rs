//! A careless configuration: plain http to another host is refused at start, and nothing that
//! holds the key shows it in `Debug`.
use crate::support::distinctive_key;
use atlassian_audit::config::{env, Config, CredentialSource};
use atlassian_audit::credentials::parse_secret;
use atlassian_audit::credentials::ApiKey;
use serde_json::json;
use simulated_org::{SimulatedOrg, SimulatedOrgConfig};

/// Plain http to a host that is not this machine is refused at start, before any request,
/// storage or checkpoint, with a message saying what to do.
#[tokio::test]
async fn plain_http_to_another_host_is_refused_at_start() {
    let key = distinctive_key();
    let dir = tempfile::tempdir().expect("a temporary directory");
    for base in [
        "http://api.atlassian.com",
        "http://10.0.0.1:8080",
        "http://[2001:db8::1]/",
        "http://127.0.0.1.example.com",
    ] {
        let out = tokio::process::Command::new(crate::support::harness::cli_binary())
            .args(["run", "--budget-seconds", "10"])
            .arg("--out-dir")
            .arg(dir.path().join("out"))
            .arg("--state-file")
            .arg(dir.path().join("state.json"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(env::API_BASE_URL, base)
            .env(env::ORG_ID, "org-1")
            .env(env::API_KEY, &key)
            .output()
            .await
            .expect("run the CLI");
        assert!(!out.status.success(), "{base} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("ATLASSIAN_API_BASE_URL")
                && stderr.contains("plain http is allowed only for loopback hosts")
                && stderr.contains("use https"),
            "{base}: {stderr}"
        );
        assert!(!stderr.contains(&key) && !String::from_utf8_lossy(&out.stdout).contains(&key));
        assert!(
            !dir.path().join("out").exists() && !dir.path().join("state.json").exists(),
            "nothing was set up for {base}"
        );
    }
}

/// None of `shown` holds the key, nor a 20-character piece of it.
fn assert_never_shows(key: &str, shown: &[String]) {
    for text in shown {
        assert!(!text.contains(key), "{text}");
        assert!(!text.contains(&key[..20]), "part of the key: {text}");
    }
}

/// `Debug` (and `Display`) of the configuration and the credentials, as a panic or a `{:?}` in
/// a log would print them: the key is redacted, the rest shown.
#[test]
fn debug_of_the_configuration_and_the_credentials_never_shows_the_key() {
    let key = distinctive_key();
    let config = Config::from_lookup(|name| match name {
        env::ORG_ID => Some("org-1".to_owned()),
        env::API_KEY => Some(key.clone()),
        env::STATE_FILE => Some("state.json".to_owned()),
        env::OUTPUT_DIR => Some("out".to_owned()),
        _ => None,
    })
    .expect("a config");
    let credentials = parse_secret(
        "my/secret",
        &json!({"org_id": "org-1", "api_key": key}).to_string(),
    )
    .expect("a secret");
    let source = config.credentials.clone().expect("credentials");
    assert!(matches!(source, CredentialSource::Static { .. }));
    let shown = [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{source:?}"),
        format!("{credentials:?}"),
        format!("{credentials:#?}"),
        format!("{:?}", ApiKey::new(key.clone())),
        format!("{}", ApiKey::new(key.clone())),
        format!("{:?}", Some(Ok::<_, ()>(credentials.clone()))),
    ];
    assert_never_shows(&key, &shown);
    assert!(shown[0].contains("redacted"), "{}", shown[0]);
    assert!(
        shown[3].contains("org-1"),
        "the rest is shown: {}",
        shown[3]
    );
}

/// `Debug` of the simulated org the tests and the demo use, and of its configuration.
#[tokio::test]
async fn debug_of_the_simulated_org_never_shows_the_key() {
    let key = distinctive_key();
    let org = SimulatedOrg::start(
        SimulatedOrgConfig {
            api_key: key.clone(),
            ..SimulatedOrgConfig::default()
        },
        0,
    )
    .await
    .expect("an org");
    assert_never_shows(&key, &[format!("{:?}", org.config()), format!("{org:?}")]);
}

/// The Lambda refuses to start with a base URL that is not Atlassian's, or a listed host: it
/// says so, names the setting to fix, and never reaches its runtime API or the host. (`https`
/// to anywhere passes the CLI's checks; the Lambda's are stricter.)
#[tokio::test]
async fn the_lambda_sends_the_key_only_to_atlassian_or_a_listed_host() {
    let key = distinctive_key();
    let lambda = env!("CARGO_BIN_EXE_atlassian-audit-lambda");
    for (base, allowed) in [
        ("https://evil.example", ""),
        ("https://api.atlassian.com.evil.example/", ""),
        ("http://127.0.0.1:9", ""),
        ("https://evil.example", "gateway.example.com"),
    ] {
        let out = tokio::process::Command::new(lambda)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(env::API_BASE_URL, base)
            .env(env::API_ALLOWED_HOSTS, allowed)
            .env(env::ORG_ID, "org-1")
            .env(env::API_KEY, &key)
            .env(env::CHECKPOINT_TABLE, "t")
            .env(env::OUTPUT_BUCKET, "audit-bucket")
            // Nothing listens here: a Lambda that got past its checks would fail otherwise.
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .output()
            .await
            .expect("run the Lambda binary");
        assert!(!out.status.success(), "{base} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(env::API_ALLOWED_HOSTS)
                && stderr.contains("only to https://api.atlassian.com"),
            "{base}: {stderr}"
        );
        assert!(!stderr.contains(&key), "{stderr}");
    }
}
