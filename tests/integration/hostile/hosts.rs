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

/// Proxy settings point at a listener of this test: a loopback API (by address, and by the name
/// `localhost`) is reached directly, so its plain-http requests, key included, never go through
/// the proxy. The real CLI runs with every proxy variable set, in both spellings.
#[tokio::test]
async fn a_loopback_api_never_goes_through_a_proxy() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a proxy listener");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("address"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = proxy.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });

    let mut env = TestEnv::local(SimulatedOrgConfig::default()).await;
    fill_backlog(&env.org, 96, 40, 0, 1);
    let by_name = env.org.base_url().replace("127.0.0.1", "localhost");
    let mut written = 0;
    for base_url in [env.org.base_url(), by_name] {
        env.set(env::API_BASE_URL, base_url.clone());
        let mut cmd = env.cli(&["run", "--budget-seconds", "20"]);
        for name in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ] {
            cmd.env(name, &proxy_url);
        }
        cmd.env_remove("NO_PROXY").env_remove("no_proxy");
        let out = cmd.output().await.expect("run the CLI");
        assert!(
            out.status.success(),
            "{base_url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("the run summary");
        written += summary["events_processed"].as_u64().unwrap_or(0);
    }
    assert_eq!(written, 40);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "a request went to the proxy"
    );
    assert!(env.org.requests().iter().all(|q| q.authorized));
    env.assert_exactly_once_but_announcements().await;
}
