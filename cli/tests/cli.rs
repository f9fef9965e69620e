//! The CLI as a user types it: the binary, its exit codes and what it prints. (The collector's
//! behaviour is tested in the root package; the root package's tests also run this binary.)
use std::process::Command;

fn cli() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atlassian-audit"));
    // Nothing from the developer's shell reaches the collector's configuration.
    for (name, _) in std::env::vars() {
        if name.starts_with("ATLASSIAN_") || name.starts_with("AWS_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

#[test]
fn the_demo_writes_every_event_once_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli()
        .args(["demo", "--events", "300", "--out-dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains('✓') && !stdout.contains("MISMATCH"),
        "{stdout}"
    );
    assert!(
        dir.path().join("demo/bucket/logs/atlassian_audit").is_dir(),
        "{stdout}"
    );
}

#[test]
fn a_run_without_a_source_of_credentials_says_which_setting_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli()
        .args(["run", "--out-dir"])
        .arg(dir.path())
        .arg("--state-file")
        .arg(dir.path().join("state.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("ATLASSIAN_"), "{stderr}");
}

#[test]
fn a_page_cap_of_zero_is_refused_before_anything_is_served() {
    let out = cli()
        .args(["simulate", "--port", "0", "--page-cap", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--page-cap"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `run` against a simulated organization, with its own storage under `dir`.
fn run_command(
    org: &simulated_org::SimulatedOrg,
    dir: &std::path::Path,
    extra: &[&str],
) -> Command {
    let mut cmd = cli();
    cmd.args(["run", "--page-limit", "100", "--out-dir"])
        .arg(dir.join("bucket"))
        .arg("--state-file")
        .arg(dir.join("checkpoint.json"))
        .args(extra)
        .env("ATLASSIAN_API_BASE_URL", org.base_url())
        .env("ATLASSIAN_ORG_ID", org.org_id())
        .env("ATLASSIAN_API_KEY", org.api_key())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("AWS_LAMBDA_FUNCTION_NAME");
    cmd
}

/// The command run on a pseudo-terminal (util-linux `script`): what a person at a terminal sees,
/// stdout and stderr together.
fn on_a_terminal(cmd: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    let line = std::iter::once(quote(cmd.get_program()))
        .chain(cmd.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let out = script.output().expect("util-linux `script` runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_draws_a_progress_line_on_a_terminal_only_and_stdout_stays_the_summary() {
    // Slow enough answers that the line is drawn with counts in it.
    let org = simulated_org::serve_demo_org(
        simulated_org::SimulatedOrgConfig {
            latency: std::time::Duration::from_millis(250),
            ..Default::default()
        },
        0,
        7,
        900,
        0,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // Not a terminal (a pipe): no line, and stdout is exactly the JSON summary.
    let piped = tokio::task::block_in_place(|| {
        run_command(&org, &dir.path().join("piped"), &[])
            .output()
            .unwrap()
    });
    assert!(piped.status.success());
    let summary: serde_json::Value =
        serde_json::from_slice(&piped.stdout).expect("stdout is the summary");
    assert_eq!(summary["events_processed"], 900);
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(!stderr.contains("events written"), "{stderr}");

    // A terminal: the line, then the same summary.
    let shown = tokio::task::block_in_place(|| {
        on_a_terminal(&run_command(&org, &dir.path().join("tty"), &[]))
    });
    assert!(shown.contains("events written ·"), "{shown}");
    assert!(
        shown.contains(" pages · stream ") && shown.contains("events/s"),
        "{shown}"
    );
    assert!(shown.contains("\"events_processed\": 900"), "{shown}");

    // --quiet: no line on the terminal either.
    let quiet = tokio::task::block_in_place(|| {
        on_a_terminal(&run_command(&org, &dir.path().join("quiet"), &["--quiet"]))
    });
    assert!(!quiet.contains("events written"), "{quiet}");
    assert!(quiet.contains("\"events_processed\": 900"), "{quiet}");

    // In Lambda: none.
    let mut lambda = run_command(&org, &dir.path().join("lambda"), &[]);
    lambda.env("AWS_LAMBDA_FUNCTION_NAME", "collector");
    let in_lambda = tokio::task::block_in_place(|| on_a_terminal(&lambda));
    assert!(!in_lambda.contains("events written"), "{in_lambda}");
    org.shutdown();
}

/// A key-shaped string put where a careless user might: the environment, a rule file.
const KEY: &str = "ATATT3xFfGF0-9f8e7d6c5b4a39281706f5e4d3c2b1a0-KEYMATERIAL";

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.env("ATLASSIAN_API_KEY", KEY).output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        !stdout.contains(&KEY[..24]) && !stderr.contains(&KEY[..24]),
        "the key leaked:\n{stdout}\n{stderr}"
    );
    (out.status.success(), stdout, stderr)
}

/// A user's Sigma rule: replaces api_token_revoked; its title reads a field named like the
/// key's variable.
const USER_RULES: &str = "title: Group churn\nid: 11111111-2222-4333-8444-555555555555\nname: group_churn\nlogsource: {product: atlassian, service: audit}\ndetection: {selection: {attributes.action: group_created}, condition: selection}\nlevel: low\nrelated: [{id: c3e8dadf-5b00-5017-977f-94ccca4c1be9, type: obsolete}]\nalert_title: \"group {attributes.context[].attributes.name} by {ATLASSIAN_API_KEY}\"\nalert_runbook: r\nalert_dedup_key: \"{attributes.context[].attributes.name}\"\n";
/// Its test events: the sidecar `rules.tests.yaml`.
const USER_TESTS: &str = "group_churn:\n  positive: [{name: p, events: [{attributes: {action: group_created}}]}]\n  negative: [{name: n, events: [{attributes: {action: group_deleted}}]}]\n";

#[test]
fn rules_test_runs_every_case_and_fails_on_a_failing_one() {
    let (ok, stdout, _) = run(cli().args(["rules", "test"]));
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("ok    user_logged_in_as_user  positive"),
        "{stdout}"
    );
    assert!(
        stdout.lines().last().unwrap().ends_with(" 0 failed"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, USER_RULES).unwrap();
    std::fs::write(
        dir.path().join("rules.tests.yaml"),
        USER_TESTS.replace("action: group_deleted", "action: group_created"),
    )
    .unwrap();
    let (ok, stdout, _) = run(cli().args(["rules", "test"]).arg(&file));
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("FAIL  group_churn  negative \"n\""),
        "{stdout}"
    );
    assert!(!stdout.contains("api_token_revoked"), "disabled: {stdout}");
}

#[test]
fn a_bad_rule_file_names_file_rule_and_field_and_not_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(
        &file,
        USER_RULES.replace("level: low", &format!("level: {KEY}")),
    )
    .unwrap();
    for args in [
        &["rules", "test"][..],
        &["rules", "list", "--rules"],
        &["detect", "--rules"],
    ] {
        let mut cmd = cli();
        cmd.args(args).arg(&file);
        if args[0] == "detect" {
            cmd.arg(dir.path());
        }
        let (ok, _, stderr) = run(&mut cmd);
        assert!(!ok);
        let want = format!(
            "{}: rule group_churn: field level: invalid level",
            file.display()
        );
        assert!(stderr.contains(&want), "{stderr}");
    }
}

/// The real page's events as the collector writes them (the normalizer's golden file), in one
/// gzip NDJSON object under `dir/logs/…`.
fn collected_real_page(dir: &std::path::Path) {
    use std::io::Write;
    let golden = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/golden/real.expected.ndjson"
    ))
    .unwrap();
    let hour = dir.join("logs/atlassian_audit/year=2021/month=04/day=01/hour=22");
    std::fs::create_dir_all(&hour).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for line in golden.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        if record["outcome"] == "valid" {
            writeln!(gz, "{}", record["line"]).unwrap();
        }
    }
    std::fs::write(
        hour.join("20210401T220000Z-gen-0000000001.json.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    // Not collected events: left out.
    std::fs::create_dir_all(dir.join("quarantine")).unwrap();
    std::fs::write(dir.join("quarantine/x.json.gz"), b"not gzip").unwrap();
}

#[test]
fn detect_prints_one_line_an_alert_or_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    collected_real_page(dir.path());
    let (ok, stdout, stderr) = run(cli().arg("detect").arg(dir.path()));
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("High     org_admin_added  Atlassian Internal System made ctreminiom079@gmail.com an organization admin")), "{stdout}");
    assert!(
        stderr.contains("4 alert(s) from 38 event(s) in 1 file(s)"),
        "{stderr}"
    );

    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, USER_RULES).unwrap();
    let (ok, stdout, stderr) = run(cli()
        .args(["detect", "--json", "--rules"])
        .arg(&rules)
        .arg(dir.path().join("logs")));
    assert!(ok, "{stderr}");
    let alerts: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let churn: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|a| a["rule_id"] == "group_churn")
        .collect();
    let jira_users = churn
        .iter()
        .find(|a| a["dedup_key"] == "jira-users")
        .unwrap();
    assert_eq!(jira_users["count"], 9, "{stdout}");
    assert_eq!(
        jira_users["title"],
        "group jira-users by (no ATLASSIAN_API_KEY)"
    );
    assert_eq!(jira_users["severity"], "Low");
}

#[test]
fn detect_without_a_path_or_with_a_missing_one_says_so() {
    let (ok, _, stderr) = run(cli().arg("detect"));
    assert!(!ok && stderr.contains("PATHS"), "{stderr}");
    let (ok, _, stderr) = run(cli().args(["detect", "/nonexistent/collected"]));
    assert!(!ok && stderr.contains("/nonexistent/collected"), "{stderr}");
}
