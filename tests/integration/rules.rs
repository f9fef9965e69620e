//! The user's rule file from a local path (DETECTION_RULES, the CLI's `--rules`): read once at
//! start, applied to the pack the collector carries; a bad file, an unknown disabled id, a
//! missing or oversized file stop the process before any request, naming the file, the rule and
//! the field. (From S3, and the Lambda's init against it: in the `aws` target.)
use crate::support::harness::{cli_binary, TestEnv};
use crate::support::rules::{assert_user_rules_applied, fixture, ADDED, DISABLED, USER_RULES};
use atlassian_audit::config::env;
use atlassian_audit::detect::RulePack;
use atlassian_audit::setup::{Backends, MAX_RULE_FILE_BYTES};
use simulated_org::SimulatedOrgConfig;
use std::path::Path;

async fn local_env() -> TestEnv {
    TestEnv::local(SimulatedOrgConfig::default()).await
}

/// `Backends::from_config` with DETECTION_RULES at `path`: the pack, or the error's text.
async fn backends_with_rules(env: &mut TestEnv, path: &Path) -> Result<Backends, String> {
    env.set(env::DETECTION_RULES, path.display().to_string());
    Backends::from_config(&env.config(), &env.aws)
        .await
        .map_err(|e| e.to_string())
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a rule file");
    path
}

#[tokio::test]
async fn a_local_rule_file_is_applied_to_the_pack_the_collector_carries() {
    let mut env = local_env().await;
    let backends = backends_with_rules(&mut env, &fixture("user-rules.yaml"))
        .await
        .expect("a good rule file is read");
    assert_user_rules_applied(&backends.detection.pack);
    let builtin = RulePack::builtin().expect("the built-in pack");
    assert_eq!(backends.detection.pack.rules().len(), builtin.rules().len());
}

#[tokio::test]
async fn bad_files_are_refused_naming_the_file_the_rule_and_the_field() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let unknown = write(
        dir.path(),
        "unknown.yaml",
        &USER_RULES.replace(
            "c3e8dadf-5b00-5017-977f-94ccca4c1be9",
            "00000000-5b00-5017-977f-94ccca4c1be9",
        ),
    );
    let missing = dir.path().join("missing.yaml");
    let cases = [
        (
            fixture("bad-severity.yaml"),
            vec!["rule group_churn", "field level", "invalid level"],
        ),
        (
            unknown,
            vec!["rule group_churn_event", "field related", "rules list"],
        ),
        (
            missing,
            vec!["cannot read the rule file", "DETECTION_RULES"],
        ),
    ];
    let mut env = local_env().await;
    for (path, wanted) in cases {
        let err = backends_with_rules(&mut env, &path)
            .await
            .err()
            .expect("refused");
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        for part in wanted {
            assert!(err.contains(part), "{}: {err}", path.display());
        }
    }
    assert!(
        env.org.requests().is_empty(),
        "nothing was asked of the API"
    );
}

/// Up to 1 MiB is read; one byte more is refused before parsing.
#[tokio::test]
async fn a_rule_file_over_one_mib_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let padding = |total: usize| {
        let comment = total - USER_RULES.len() - 2;
        format!("{USER_RULES}#{}\n", "x".repeat(comment))
    };
    let mut env = local_env().await;
    let at_cap = write(dir.path(), "at-cap.yaml", &padding(MAX_RULE_FILE_BYTES));
    assert_eq!(
        std::fs::metadata(&at_cap).unwrap().len() as usize,
        MAX_RULE_FILE_BYTES
    );
    let backends = backends_with_rules(&mut env, &at_cap)
        .await
        .expect("1 MiB is read");
    assert_user_rules_applied(&backends.detection.pack);
    let over = write(dir.path(), "over.yaml", &padding(MAX_RULE_FILE_BYTES + 1));
    let err = backends_with_rules(&mut env, &over)
        .await
        .err()
        .expect("refused");
    assert!(
        err.contains("over.yaml") && err.contains("larger than 1048576 bytes"),
        "{err}"
    );
}

/// Anchors and aliases are refused before anything is expanded, naming the file: the classic
/// "billion laughs" (nine levels of nine aliases) and one alias list of a long anchored list
/// (under 1 MiB, ten billion nodes once expanded, past yaml_serde's own repetition limit).
#[tokio::test]
async fn a_rule_file_with_anchors_or_aliases_is_refused_before_expansion() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut laughs = format!("{USER_RULES}lol: &l0 lol\n");
    for level in 1..=9 {
        let aliases = vec![format!("*l{}", level - 1); 9].join(", ");
        laughs.push_str(&format!("l{level}: &l{level} [{aliases}]\n"));
    }
    let wide = format!(
        "{USER_RULES}a: &a [{}]\nb: [{}]\n",
        vec!["x"; 100_000].join(","),
        vec!["*a"; 100_000].join(",")
    );
    assert!(wide.len() < MAX_RULE_FILE_BYTES);
    let mut env = local_env().await;
    for (name, text) in [("laughs.yaml", laughs), ("wide.yaml", wide)] {
        let path = write(dir.path(), name, &text);
        let err = backends_with_rules(&mut env, &path)
            .await
            .err()
            .expect("refused");
        assert!(err.starts_with(&path.display().to_string()), "{err}");
        assert!(
            err.contains("anchors and aliases (`&name`, `*name`) are not allowed in rule files"),
            "{err}"
        );
    }
}

/// `&` and `*` as text (quoted, plain, in a block scalar, in a comment) are no anchors.
#[tokio::test]
async fn ampersands_and_stars_in_a_rule_files_text_are_read() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = USER_RULES
        .replace(
            "description: Many groups created by one admin.",
            "description: Many groups (R&D, *ops*) created & more # &a *b",
        )
        .replace(
            "alert_runbook: \"Confirm",
            "alert_runbook: |\n  *Never* remove them & ask first.\n  - *x &y\ntitle_note: \"Confirm",
        );
    assert!(text.contains("*Never*"), "the fixture changed");
    // The block scalar takes the runbook; the rest of the old line is commented out.
    let text = text.replace("title_note: ", "# ");
    let path = write(dir.path(), "text.yaml", &text);
    let mut env = local_env().await;
    let backends = backends_with_rules(&mut env, &path).await.expect("read");
    assert_user_rules_applied(&backends.detection.pack);
}

/// `check` names the pack in force, and a bad file is its one finding; `run --rules` with a bad
/// file fails before any request; `rules list FILE` shows the pack with the file applied.
#[tokio::test]
async fn the_cli_reports_the_pack_and_stops_on_a_bad_file_before_any_request() {
    let env = local_env().await;
    let good = fixture("user-rules.yaml");
    let out = env
        .cli(&["check"])
        .env(env::DETECTION_RULES, &good)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = format!(
        "rule pack: 32 rules, 1 of them from {}; built-in rules disabled: {DISABLED}",
        good.display()
    );
    assert!(out.status.success() && stdout.contains(&line), "{stdout}");
    let requests = env.org.requests().len();

    let bad = fixture("bad-severity.yaml");
    let out = env
        .cli(&["check"])
        .env(env::DETECTION_RULES, &bad)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let finding = format!("✗ {}: rule group_churn: field level", bad.display());
    assert!(
        !out.status.success() && stdout.contains(&finding),
        "{stdout}"
    );
    assert!(stdout.contains("1 problem to fix"), "{stdout}");

    let bad_path = bad.display().to_string();
    let out = env
        .cli(&["run", "--rules", &bad_path])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("field level"),
        "{stderr}"
    );
    assert_eq!(
        env.org.requests().len(),
        requests,
        "no request after the bad file"
    );

    let out = tokio::process::Command::new(cli_binary())
        .args(["rules", "list"])
        .arg(&good)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(ADDED) && !stdout.contains(DISABLED),
        "{stdout}"
    );

    // `rules test` runs the file's own test events with the pack's.
    for (file, ok) in [(&good, true), (&bad, false)] {
        let out = tokio::process::Command::new(cli_binary())
            .args(["rules", "test"])
            .arg(file)
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.success(), ok, "{}", file.display());
    }
}

/// The Lambda reads its rule file from S3 only: a local path fails its init, naming the setting.
#[tokio::test]
async fn the_lambda_refuses_a_local_rule_file_at_init() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_atlassian-audit-lambda"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(env::ORG_ID, "org-1")
        .env(env::API_KEY, "not-a-key")
        .env(env::CHECKPOINT_TABLE, "t")
        .env(env::OUTPUT_BUCKET, "audit-bucket")
        .env(env::DETECTION_RULES, fixture("user-rules.yaml"))
        // Nothing listens here: a Lambda that got past its checks would fail otherwise.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output()
        .await
        .expect("run the Lambda binary");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(env::DETECTION_RULES) && stderr.contains("from S3 only"),
        "{stderr}"
    );
}

type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, Option<String>)>>>;

/// Serves the user rule file for any GET, recording each request's path and
/// `x-amz-expected-bucket-owner` (moto does not check that header, so this stands in for S3).
async fn rule_file_server() -> (String, Seen) {
    use axum::http::{HeaderMap, Uri};
    let seen: Seen = Seen::default();
    let recorded = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let owner = headers
            .get("x-amz-expected-bucket-owner")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        recorded
            .lock()
            .expect("lock")
            .push((uri.path().to_string(), owner));
        async { USER_RULES }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let endpoint = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (endpoint, seen)
}

/// The object is asked for naming the account that must own its bucket, so rules are never read
/// from a bucket of the same name in another account.
#[tokio::test]
async fn the_rule_object_is_read_naming_the_expected_bucket_owner() {
    let (endpoint, seen) = rule_file_server().await;
    let out = tokio::process::Command::new(cli_binary())
        .args(["rules", "list", "s3://rules-bkt/detections/rules.yaml"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(env::S3_FORCE_PATH_STYLE, "true")
        .env(env::EXPECTED_BUCKET_OWNER, "123456789012")
        .output()
        .await
        .expect("run the CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(ADDED) && !stdout.contains(DISABLED),
        "{stdout}"
    );
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        [(
            "/rules-bkt/detections/rules.yaml".to_string(),
            Some("123456789012".to_string())
        )]
    );
}
