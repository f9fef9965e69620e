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
