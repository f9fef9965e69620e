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
