//! The API's address and the hosts the key may go to.
use super::*;
use crate::config::api_url::without_userinfo;

#[test]
fn plain_http_only_for_loopback() {
    assert!(config(&[(env::API_BASE_URL, "http://127.0.0.1:8080")]).is_ok());
    assert!(config(&[(env::API_BASE_URL, "http://localhost:1")]).is_ok());
    assert!(config(&[(env::API_BASE_URL, "http://[::1]:1")]).is_ok());
    let err = config(&[(env::API_BASE_URL, "http://api.atlassian.com")]).unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    assert!(config(&[(env::API_BASE_URL, "ftp://x")]).is_err());
    assert!(config(&[(env::API_BASE_URL, "https://u:p@x")]).is_err());
}

/// Credentials pasted into the base URL are refused without being repeated, even when
/// the URL does not parse.
#[test]
fn a_base_url_with_credentials_is_refused_without_quoting_them() {
    for (value, shown) in [
        (
            "https://admin:hunter2-secret@api.atlassian.com",
            "https://[redacted]@api.atlassian.com",
        ),
        (
            "https://hunter2-secret@api.atlassian.com/x?y",
            "https://[redacted]@api.atlassian.com/x?y",
        ),
        (
            "http://u:hunter2-secret@10.0.0.1",
            "http://[redacted]@10.0.0.1",
        ),
        // Not a URL (a space in the host), still redacted.
        (
            "https://u:hunter2-secret@api atlassian.com",
            "https://[redacted]@api atlassian.com",
        ),
        ("https://a@b:hunter2-secret@x/", "https://[redacted]@x/"),
    ] {
        let err = config(&[(env::API_BASE_URL, value)])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains(shown), "{err}");
        assert!(err.contains(env::API_BASE_URL), "{err}");
    }
    assert_eq!(without_userinfo("https://x/a@b"), "https://x/a@b");
    assert_eq!(without_userinfo("no scheme@all"), "no scheme@all");
}

/// The Lambda sends the key to api.atlassian.com, or a listed host, and nowhere else.
#[test]
fn the_lambda_sends_the_key_only_to_atlassian_or_a_listed_host() {
    assert!(config(&[]).unwrap().require_allowed_api_host().is_ok());
    assert!(config(&[(env::API_BASE_URL, "https://API.atlassian.com/")])
        .unwrap()
        .require_allowed_api_host()
        .is_ok());
    for url in [
        "https://api.atlassian.com.evil.example",
        "https://evil.example",
        "http://127.0.0.1:8080",
        "http://localhost:1",
    ] {
        let err = config(&[(env::API_BASE_URL, url)])
            .unwrap()
            .require_allowed_api_host()
            .unwrap_err()
            .to_string();
        assert!(err.contains(env::API_ALLOWED_HOSTS), "{err}");
        assert!(err.contains(env::API_BASE_URL), "{err}");
    }
    let listed = config(&[
        (env::API_BASE_URL, "https://gateway.example.com/atlassian"),
        (env::API_ALLOWED_HOSTS, " Gateway.example.com , 127.0.0.1"),
    ])
    .unwrap();
    assert_eq!(
        listed.api_allowed_hosts,
        ["gateway.example.com", "127.0.0.1"]
    );
    assert!(listed.require_allowed_api_host().is_ok());
    let local = config(&[
        (env::API_BASE_URL, "http://127.0.0.1:9"),
        (env::API_ALLOWED_HOSTS, "127.0.0.1"),
    ])
    .unwrap();
    assert!(local.require_allowed_api_host().is_ok());
    assert!(config(&[(env::API_ALLOWED_HOSTS, "https://x/")]).is_err());
}
