//! Throttling with garbage headers: the collector backs off, and neither trusts a nonsensical
//! wait nor hammers the API.
use super::SHORT_BUDGET;
use crate::support::fill_backlog;
use crate::support::harness::TestEnv;
use atlassian_audit::collector::StopReason;
use simulated_org::{CannedResponse, Fault, SimulatedOrgConfig};

/// One 429 with these headers, then the API: the collector backs off briefly (it neither
/// waits what a nonsensical header asks nor hammers), then collects everything once.
async fn throttled_once_with(headers: &[(&str, String)]) {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 91, 30, 0, 2);
    let mut answer = CannedResponse::new(
        429,
        r#"{"errors":[{"id":"x","status":"429","code":"ADMIN-429-1","title":"Too Many Requests","detail":"Rate limit exceeded"}]}"#,
    )
    .header("content-type", "application/json");
    for (name, value) in headers {
        answer = answer.header(*name, value.clone());
    }
    env.org.push_faults([Fault::Respond(answer)]);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert_eq!(r.summary.api_throttled, 1);
    assert_eq!(r.summary.events_processed, 30);
    let requests = env.org.requests();
    assert_eq!(requests[0].status, 429);
    let waited = requests[1].received_at_ms - requests[0].received_at_ms;
    assert!(
        (100..5_000).contains(&waited),
        "backed off briefly: {waited} ms"
    );
    env.assert_exactly_once().await;
}

fn iso_minute_in(secs: i64) -> String {
    simulated_org::format_processed_at(simulated_org::now_ms() + secs * 1000)[..16].to_owned() + "Z"
}

#[tokio::test]
async fn a_rate_limit_reset_that_is_garbage() {
    throttled_once_with(&[("x-ratelimit-reset", "soon".into())]).await;
}

#[tokio::test]
async fn a_rate_limit_reset_a_year_away() {
    let reset = iso_minute_in(365 * 86_400);
    assert!(reset.ends_with('Z') && reset.len() == 17, "{reset}");
    throttled_once_with(&[("x-ratelimit-reset", reset)]).await;
}

#[tokio::test]
async fn a_rate_limit_reset_that_is_not_ascii() {
    throttled_once_with(&[("x-ratelimit-reset", format!("{}é", iso_minute_in(30)))]).await;
}

#[tokio::test]
async fn a_negative_retry_after() {
    throttled_once_with(&[("retry-after", "-5".into())]).await;
}

#[tokio::test]
async fn a_retry_after_beyond_u64() {
    throttled_once_with(&[("retry-after", "99999999999999999999999".into())]).await;
}

#[tokio::test]
async fn a_retry_after_of_a_year() {
    throttled_once_with(&[("retry-after", "31536000".into())]).await;
}

#[tokio::test]
async fn a_fractional_retry_after_and_an_epoch_reset() {
    throttled_once_with(&[
        ("retry-after", "1.5".into()),
        ("x-ratelimit-reset", "1697048520".into()),
    ])
    .await;
}

/// Throttled on every request with headers that say nothing usable: the run backs off until
/// its budget is spent and stops softly, the checkpoint where it was.
#[tokio::test]
async fn endless_throttling_with_garbage_headers_stops_softly() {
    let env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 92, 10, 0, 1);
    env.org.set_random_faults(
        1.0,
        92,
        vec![Fault::Respond(
            CannedResponse::new(429, "slow down")
                .header("x-ratelimit-reset", "never")
                .header("retry-after", "-1"),
        )],
    );
    let r = env.run_for(SHORT_BUDGET).await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.summary.run_succeeded);
    assert!(
        matches!(
            r.summary.stop_reason,
            StopReason::RateLimited | StopReason::Budget
        ),
        "{:?}",
        r.summary.stop_reason
    );
    assert!(r.summary.api_throttled >= 2, "backed off and retried");
    assert!(
        r.summary.api_throttled <= 12,
        "did not hammer: {}",
        r.summary.api_throttled
    );
    env.assert_untouched().await;
}
