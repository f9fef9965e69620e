//! The API's address: https to Atlassian (or a host listed in ATLASSIAN_API_ALLOWED_HOSTS),
//! plain http only to this machine, never with credentials in it.
use super::{env, ConfigError};
use crate::source::atlassian::is_loopback;
use url::Url;

/// `https` anywhere; plain `http` only to this machine, so the key never crosses a network in clear.
pub fn parse_base_url(value: &str) -> Result<Url, ConfigError> {
    // The value is quoted in the error: never with a password or token someone put in it.
    let invalid = |reason: String| ConfigError::Invalid {
        name: env::API_BASE_URL,
        value: without_userinfo(value),
        reason,
    };
    let url = Url::parse(value).map_err(|e| invalid(format!("not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment".into()));
    }
    let host = url
        .host()
        .ok_or_else(|| invalid("has no host".to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => return Err(invalid(
            "plain http is allowed only for loopback hosts (127.0.0.1, ::1, localhost); use https"
                .into(),
        )),
        other => return Err(invalid(format!("scheme {other:?} is not http(s)"))),
    }
    Ok(url)
}

/// `value` with anything between `scheme://` and the authority's last '@' replaced, so that
/// credentials written into a URL (even one that does not parse) are never repeated.
pub(super) fn without_userinfo(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else {
        return value.to_string();
    };
    let authority_start = scheme_end + 3;
    let rest = &value[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_len].rfind('@') {
        Some(at) => format!("{}[redacted]{}", &value[..authority_start], &rest[at..]),
        None => value.to_string(),
    }
}

/// Hosts as a comma-separated list, lowercased; each a plain DNS name or IP address.
pub(super) fn parse_allowed_hosts(value: &str) -> Result<Vec<String>, ConfigError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let ok = h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if ok {
                Ok(h.to_ascii_lowercase())
            } else {
                Err(ConfigError::Invalid {
                    name: env::API_ALLOWED_HOSTS,
                    value: value.to_string(),
                    reason: format!("{h:?} is not a host name; list hosts separated by commas, without scheme, port or path"),
                })
            }
        })
        .collect()
}
