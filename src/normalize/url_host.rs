//! The host of a URL indicator, exactly as the `url` crate finds it, without a full parse for
//! the shape nearly every link in an audit event has (`https://lowercase.host/path`): parsing
//! built and percent-encoded the whole URL only to read its host.

use std::borrow::Cow;

use url::{Host, Url};

/// Where a URL points: an IP address (as text) or a domain name (lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlHost<'a> {
    Ip(Cow<'a, str>),
    Domain(Cow<'a, str>),
}

impl UrlHost<'_> {
    /// The same host, owning its text.
    pub fn into_owned(self) -> UrlHost<'static> {
        match self {
            UrlHost::Ip(ip) => UrlHost::Ip(Cow::Owned(ip.into_owned())),
            UrlHost::Domain(d) => UrlHost::Domain(Cow::Owned(d.into_owned())),
        }
    }
}

/// The host of `url` as [`parsed`] gives it.
pub fn url_host(url: &str) -> Option<UrlHost<'_>> {
    match simple(url) {
        Some(host) => Some(host),
        None => parsed(url),
    }
}

/// The host by parsing the URL with the `url` crate (WHATWG rules: IDNA, IPv4 forms,
/// percent-decoding, …). Non-special schemes keep the host as written, so it is lowercased.
pub fn parsed(url: &str) -> Option<UrlHost<'_>> {
    let url = Url::parse(url).ok()?;
    match url.host()? {
        Host::Ipv4(ip) => Some(UrlHost::Ip(Cow::Owned(ip.to_string()))),
        // Display of an Ipv6Addr has no brackets.
        Host::Ipv6(ip) => Some(UrlHost::Ip(Cow::Owned(ip.to_string()))),
        Host::Domain(d) if !d.is_empty() => Some(UrlHost::Domain(Cow::Owned(d.to_lowercase()))),
        Host::Domain(_) => None,
    }
}

/// The host of a URL of the simple shape, whose answer is known without parsing: `http://` or
/// `https://`, printable ASCII only, a host of lowercase letters, digits, dots and hyphens
/// (no user, no port, no escapes, no IDNA `xn--` label) that is a domain name (its last label
/// starts with a letter) or a plain dotted quad. `None` for anything else.
fn simple(url: &str) -> Option<UrlHost<'_>> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#' | b'\\'))
        .unwrap_or(rest.len());
    let host = &rest[..end];
    let ok_byte = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-');
    if !host.bytes().all(|b| ok_byte(&b)) {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels
        .iter()
        .any(|l| l.is_empty() || l.starts_with("xn--") || !l.as_bytes()[0].is_ascii_alphanumeric())
    {
        return None;
    }
    let last = labels.last()?;
    if last.as_bytes()[0].is_ascii_lowercase() {
        return Some(UrlHost::Domain(Cow::Borrowed(host)));
    }
    let canonical_octet = |l: &&str| {
        l.len() <= 3
            && l.bytes().all(|b| b.is_ascii_digit())
            && (l.len() == 1 || !l.starts_with('0'))
            && l.parse::<u16>().is_ok_and(|n| n <= 255)
    };
    (labels.len() == 4 && labels.iter().all(canonical_octet))
        .then_some(UrlHost::Ip(Cow::Borrowed(host)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_links() {
        for (url, want) in [
            (
                "https://admin.atlassian.com/o/abc/users/123",
                Some(UrlHost::Domain("admin.atlassian.com".into())),
            ),
            (
                "https://198.51.100.7/jira",
                Some(UrlHost::Ip("198.51.100.7".into())),
            ),
            (
                "http://example.com",
                Some(UrlHost::Domain("example.com".into())),
            ),
            (
                "https://EXAMPLE.com/",
                Some(UrlHost::Domain("example.com".into())),
            ),
            ("https://010.1.1.1/", Some(UrlHost::Ip("8.1.1.1".into()))),
            (
                "https://[2001:db8::1]/",
                Some(UrlHost::Ip("2001:db8::1".into())),
            ),
            ("mailto:someone@example.com", None),
            ("https://example.123/", None),
        ] {
            assert_eq!(url_host(url), want, "{url}");
            assert_eq!(parsed(url), want, "{url}");
        }
        assert!(simple("https://admin.atlassian.com/o/x").is_some());
        assert!(simple("https://198.51.100.7/jira").is_some());
    }

    fn url_text() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec![
            "https://",
            "http://",
            "HTTPS://",
            "http:/",
            "https:///",
            "https:\\\\",
            "ftp://",
            "ws://",
            "file://",
            "foo://",
            "mailto:",
            "",
        ]);
        let label = prop_oneof![
            "[a-z][a-z0-9-]{0,6}",
            "[a-z0-9-]{1,5}",
            "[0-9]{1,4}",
            "0[xX][0-9a-fA-F]{0,3}",
            "xn--[a-z0-9-]{0,6}",
            "[A-Za-z0-9._~%-]{0,6}",
            Just(String::new()),
            Just("münchen".to_owned()),
        ];
        let host = prop_oneof![
            4 => prop::collection::vec(label, 1..5).prop_map(|l| l.join(".")),
            1 => prop::sample::select(vec![
                "1.2.3.4", "01.2.3.4", "256.1.1.1", "1.2.3", "1.2.3.4.", "0x7f.1", "[::1]",
                "[2001:db8::1]", "a..b", ".a", "a.", "-a.b", "a-.b", "ex%41mple.com", "",
            ])
            .prop_map(str::to_owned),
        ];
        let userinfo = prop::sample::select(vec!["", "", "", "u@", "u:p@", "@"]);
        let port = prop::sample::select(vec!["", "", "", ":80", ":", ":99999", ":x"]);
        let tail = prop_oneof![
            "[ -~]{0,12}",
            prop::sample::select(vec![
                "/", "/p?q#f", "?q", "#f", "\\p", " x", "\t/", "/é", ""
            ])
            .prop_map(str::to_owned),
        ];
        (scheme, userinfo, host, port, tail).prop_map(|(s, u, h, p, t)| format!("{s}{u}{h}{p}{t}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The simple shape gives exactly what parsing gives, whatever the text.
        #[test]
        fn as_the_url_crate_finds_it(url in prop_oneof![url_text(), any::<String>()]) {
            prop_assert_eq!(url_host(&url), parsed(&url), "{}", url);
        }
    }
}
