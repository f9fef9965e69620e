//! The key goes to the configured host only: links to another host are not followed, redirects
//! are not followed, and a key that would inject a header is never sent.
use crate::support::harness::TestEnv;
use crate::support::{append_live, distinctive_key, fill_backlog};
use atlassian_audit::collector::RunError;
use atlassian_audit::config::env;
use atlassian_audit::source::SourceError;
use simulated_org::{CannedResponse, Fault, SimulatedOrg, SimulatedOrgConfig};

/// The org's `links` point at a second listener that accepts the same key: across pages and
/// polling, that listener receives no request at all.
#[tokio::test]
async fn links_next_pointing_at_another_host_is_never_followed() {
    let key = distinctive_key();
    let elsewhere = SimulatedOrg::start(
        SimulatedOrgConfig {
            api_key: key.clone(),
            ..SimulatedOrgConfig::default()
        },
        0,
    )
    .await
    .expect("a second listener");
    let env = TestEnv::local(SimulatedOrgConfig {
        api_key: key.clone(),
        links_base_url: Some(elsewhere.base_url()),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 93, 450, 2, 3);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.summary.pages_fetched >= 3);
    append_live(&env.org, 94, 10);
    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    assert!(r.summary.resumes_with_cursor, "polled with the cursor");

    let here = env.org.requests();
    assert!(here.len() >= 4 && here.iter().all(|q| q.authorized));
    assert!(
        elsewhere.requests().is_empty(),
        "the other host was contacted: {:?}",
        elsewhere.requests()
    );
    env.assert_exactly_once().await;
}

/// The message names the redirect, the setting to check and where it pointed, with the key
/// (carried in the Location) redacted.
fn assert_says_where_without_the_key(text: &str, status: u16, elsewhere: &str, key: &str) {
    assert!(
        text.contains(&format!("redirect ({status})")) && text.contains("ATLASSIAN_API_BASE_URL"),
        "{text}"
    );
    assert!(text.contains(elsewhere), "says where: {text}");
    assert!(!text.contains(key), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
}

/// A redirect to another host (which would accept the key) is not followed, not retried, and
/// the run fails naming the setting to check; the Location, which here even carries the
/// key, is quoted without it.
async fn a_redirect_is_not_followed(status: u16) {
    let key = distinctive_key();
    let elsewhere = SimulatedOrg::start(
        SimulatedOrgConfig {
            api_key: key.clone(),
            ..SimulatedOrgConfig::default()
        },
        0,
    )
    .await
    .expect("a second listener");
    let env = TestEnv::local(SimulatedOrgConfig {
        api_key: key.clone(),
        ..SimulatedOrgConfig::default()
    })
    .await;
    fill_backlog(&env.org, 94, 20, 0, 1);
    let location = format!(
        "{}/admin/v1/orgs/{}/events-stream?token={key}",
        elsewhere.base_url(),
        env.org.org_id()
    );
    env.org.push_faults([Fault::Respond(
        CannedResponse::new(status, "").header("location", location),
    )]);
    let r = env.run().await;
    let err = r.error.expect("a redirect fails the run");
    assert!(
        matches!(err, RunError::Source(SourceError::Redirected { status: s, .. }) if s == status),
        "{err:?}"
    );
    assert_says_where_without_the_key(&err.to_string(), status, &elsewhere.base_url(), &key);
    assert!(
        elsewhere.requests().is_empty(),
        "the other host was contacted"
    );
    assert_eq!(env.org.requests().len(), 1, "not retried");
    env.assert_untouched().await;

    let r = env.run().await;
    assert!(r.error.is_none(), "{:?}", r.error);
    env.assert_exactly_once().await;
}

#[tokio::test]
async fn a_301_to_another_host_is_not_followed() {
    a_redirect_is_not_followed(301).await;
}

#[tokio::test]
async fn a_302_to_another_host_is_not_followed() {
    a_redirect_is_not_followed(302).await;
}

#[tokio::test]
async fn a_307_to_another_host_is_not_followed() {
    a_redirect_is_not_followed(307).await;
}

#[tokio::test]
async fn a_308_to_another_host_is_not_followed() {
    a_redirect_is_not_followed(308).await;
}

/// A key with a line break would inject a header: it is refused before anything is sent,
/// with a message saying where the key came from and never what it is.
#[tokio::test]
async fn a_key_that_cannot_be_a_header_is_never_sent() {
    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 95, 5, 0, 1);
    env.set(
        env::API_KEY,
        "ATATT3xFfGF0-injected\r\nX-Forwarded-Host: evil.example",
    );
    let r = env.run().await;
    let err = r.error.expect("the run fails");
    assert!(
        matches!(err, RunError::Source(SourceError::KeyUnusable { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("ATLASSIAN_API_KEY")
            && text.contains("characters an HTTP header cannot carry")
            && text.contains("it was not sent"),
        "{text}"
    );
    assert!(
        !text.contains("injected") && !text.contains("evil"),
        "{text}"
    );
    assert!(env.org.requests().is_empty(), "nothing was sent");
    env.assert_untouched().await;
}
