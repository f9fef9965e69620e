//! A server or gateway that echoes the key (`Bearer <key>`) in what it says, in any form a URL
//! or a JSON string may carry it, placed where the quote is cut to length: no piece of the key
//! reaches the run's error.
use super::SHORT_BUDGET;
use crate::support::fill_backlog;
use crate::support::harness::TestEnv;
use atlassian_audit::collector::RunError;
use atlassian_audit::source::SourceError;
use serde_json::json;
use simulated_org::{CannedResponse, Fault, SimulatedOrgConfig};

/// A key with the characters that URLs and JSON escape.
fn escapable_key() -> String {
    format!(
        "ATATT3xFfGF0/{}+key\"material=",
        uuid::Uuid::new_v4().simple()
    )
}

/// The key as a gateway may echo it.
fn forms(key: &str) -> [String; 4] {
    [
        key.to_string(),
        key.replace('/', "%2F")
            .replace('+', "%2b")
            .replace('"', "%22"),
        key.replace('/', "\\/").replace('"', "\\\""),
        key.replace('/', "\\u002f").replace('"', "\\u0022"),
    ]
}

/// Neither the key nor any piece of it of 8 characters or more from its start.
fn assert_no_piece_of(key: &str, text: &str) {
    assert!(!text.contains(&key[..8]), "a piece of the key in: {text}");
}

async fn env_with(key: &str) -> TestEnv {
    let env = TestEnv::local(SimulatedOrgConfig {
        api_key: key.to_string(),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 91, 10, 0, 1);
    env
}

/// `pad` characters, then the echo: the old cut (300 characters of a detail, 200 of a parser
/// message) falls inside the key.
fn echo(pad: usize, form: &str) -> String {
    format!("{}Bearer {form}", "x".repeat(pad))
}

#[tokio::test]
async fn a_403_echoing_the_key_in_any_form_is_quoted_without_it() {
    let key = escapable_key();
    let env = env_with(&key).await;
    for form in forms(&key) {
        let body = json!({"errors": [{"code": "ADMIN-403-1", "detail": echo(280, &form)}]});
        env.org.clear_faults();
        env.org
            .push_faults([Fault::Respond(CannedResponse::new(403, body.to_string()))]);
        let err = env.run().await.error.expect("a 403 fails the run");
        assert!(
            matches!(err, RunError::Source(SourceError::Forbidden { .. })),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("Bearer [redacted]"), "{text}");
        assert_no_piece_of(&key, &text);
        assert_no_piece_of(&key, &format!("{err:?}"));
    }
}

#[tokio::test]
async fn a_5xx_or_a_bad_page_echoing_the_key_is_quoted_without_it() {
    let key = escapable_key();
    let env = env_with(&key).await;
    let server_error = json!({"errors": [{"code": "ADMIN-500-1", "detail": echo(280, &key)}]});
    // `data` not a list: the parser's message quotes it.
    let bad_page = json!({"data": echo(160, &key)});
    for answer in [
        CannedResponse::new(500, server_error.to_string()),
        CannedResponse::json(bad_page.to_string()),
    ] {
        env.org.clear_faults();
        env.org
            .set_random_faults(1.0, 91, vec![Fault::Respond(answer)]);
        let err = env
            .run_for(SHORT_BUDGET)
            .await
            .error
            .expect("the run fails");
        assert!(
            matches!(err, RunError::Source(SourceError::Unavailable { .. })),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("[redacted]"), "{text}");
        assert_no_piece_of(&key, &text);
        assert_no_piece_of(&key, &format!("{err:?}"));
    }
}
