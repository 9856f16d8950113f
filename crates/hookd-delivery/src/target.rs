//! Endpoint URLs parsed once per sender: the request URI, the basic credentials of the
//! URL's user-info, and the SSRF check of an IP-literal host are worked out on a URL's
//! first delivery and reused by the next ones, so a delivery does not parse its URL.
//!
//! **Invariant:** a cached [`Target`] is exactly what [`Target::parse`] makes of its URL
//! string under the sender's network policy, which never changes after the sender is
//! built; only URLs that can be sent are cached, and the cache holds at most
//! [`MAX_CACHED_TARGETS`] of them (it is emptied when full), so endpoints that come and go
//! cannot grow it without bound.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};

use base64::prelude::BASE64_STANDARD;
use base64::Engine as _;
use hookd_core::network::{BlockedAddress, NetworkPolicy};
use http::{HeaderValue, Uri};
use percent_encoding::percent_decode_str;

/// How many parsed URLs a sender keeps.
pub(crate) const MAX_CACHED_TARGETS: usize = 4096;

/// What a request to one endpoint URL needs.
#[derive(Debug)]
pub(crate) struct Target {
    /// Absolute (scheme and authority), without the URL's user-info.
    pub(crate) uri: Uri,
    /// `Basic` credentials from the URL's user-info, sent as `Authorization`.
    pub(crate) authorization: Option<HeaderValue>,
    /// The `Host` header: the host, and the port unless it is the scheme's default.
    pub(crate) host: HeaderValue,
}

/// Why a URL cannot be sent to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unsendable {
    /// The URL does not parse.
    #[error("invalid endpoint URL: {0}")]
    InvalidUrl(#[source] url::ParseError),
    /// The URL parses but names another scheme than `http` or `https`.
    #[error("request failed: URL scheme {0:?} is not http or https")]
    Scheme(String),
    /// The URL parses but is no valid HTTP request target.
    #[error("request failed: the URL is not a valid HTTP URI: {0}")]
    NotHttp(#[source] http::uri::InvalidUri),
    /// The URL has no host to send to.
    #[error("request failed: the URL has no host")]
    NoHost,
    /// The URL's host is an IP address the network policy refuses.
    #[error("{0}")]
    Refused(BlockedAddress),
}

impl Target {
    /// Parses `url` as a delivery target that `policy` allows (as far as it can tell
    /// before resolving: a DNS name is checked by the guard at connect time).
    ///
    /// # Errors
    /// [`Unsendable`] saying why the URL cannot be sent to.
    pub(crate) fn parse(url: &str, policy: &NetworkPolicy) -> Result<Self, Unsendable> {
        let mut parsed = url::Url::parse(url).map_err(Unsendable::InvalidUrl)?;
        if let Some(ip) = literal_ip(&parsed) {
            policy.check(ip).map_err(Unsendable::Refused)?;
        }
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Unsendable::Scheme(parsed.scheme().to_owned()));
        }
        let authorization = take_credentials(&mut parsed)
            .map(|(username, password)| basic_authorization(&username, password.as_deref()));
        // N.B.: a serialised `url::Url` is ASCII (international names are punycode, other
        // characters percent-encoded), which is what `Uri` accepts.
        let uri = Uri::try_from(parsed.as_str()).map_err(Unsendable::NotHttp)?;
        let host = host_header(&uri).ok_or(Unsendable::NoHost)?;
        Ok(Self {
            uri,
            authorization,
            host,
        })
    }
}

/// Parsed targets by URL string.
#[derive(Debug, Default)]
pub(crate) struct Targets {
    by_url: RwLock<HashMap<Box<str>, Arc<Target>>>,
}

impl Targets {
    /// The target of `url`, parsed on its first use.
    ///
    /// # Errors
    /// [`Unsendable`] from [`Target::parse`] (never cached, so it is parsed again).
    pub(crate) fn get(&self, url: &str, policy: &NetworkPolicy) -> Result<Arc<Target>, Unsendable> {
        let cached = self
            .by_url
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(url)
            .cloned();
        if let Some(target) = cached {
            return Ok(target);
        }
        let target = Arc::new(Target::parse(url, policy)?);
        let mut by_url = self.by_url.write().unwrap_or_else(PoisonError::into_inner);
        if by_url.len() >= MAX_CACHED_TARGETS {
            by_url.clear();
        }
        by_url.insert(url.into(), Arc::clone(&target));
        Ok(target)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_url
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

fn literal_ip(url: &url::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// `host[:port]` as a `Host` header; `url` has already left out a port that is the
/// scheme's default.
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let host = uri.host().filter(|host| !host.is_empty())?;
    let value = match uri.port_u16() {
        Some(port) => HeaderValue::try_from(format!("{host}:{port}")),
        None => HeaderValue::from_str(host),
    };
    value.ok()
}

/// Removes the user-info from `url` and returns it percent-decoded, when there is one
/// and it decodes to UTF-8 (otherwise the URL is left as it is).
fn take_credentials(url: &mut url::Url) -> Option<(String, Option<String>)> {
    if !url.has_authority() {
        return None;
    }
    let username = percent_decode_str(url.username()).decode_utf8().ok()?;
    let username = username.into_owned();
    let password = url.password().and_then(|password| {
        percent_decode_str(password)
            .decode_utf8()
            .ok()
            .map(|password| password.into_owned())
    });
    if username.is_empty() && password.is_none() {
        return None;
    }
    // Neither can fail: the URL has an authority, so it can carry (or drop) user-info.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    Some((username, password))
}

/// `Basic base64(username ":" password)`, marked sensitive so it is never logged.
fn basic_authorization(username: &str, password: Option<&str>) -> HeaderValue {
    let mut credentials = String::with_capacity(username.len() + 1 + password.map_or(0, str::len));
    let _ = write!(credentials, "{username}:{}", password.unwrap_or(""));
    let mut value = String::from("Basic ");
    BASE64_STANDARD.encode_string(credentials.as_bytes(), &mut value);
    let mut header =
        HeaderValue::try_from(value).expect("`Basic ` followed by base64 is a valid header value");
    header.set_sensitive(true);
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_refused() -> NetworkPolicy {
        NetworkPolicy::default()
    }

    #[test]
    fn a_url_becomes_an_absolute_uri() {
        let target = Target::parse("https://example.com:8443/hook?a=1", &loopback_refused())
            .expect("a valid URL");
        assert_eq!(target.uri, "https://example.com:8443/hook?a=1");
        assert_eq!(target.host, "example.com:8443");
        assert!(target.authorization.is_none());
        let default_port =
            Target::parse("https://example.com:443/", &loopback_refused()).expect("a valid URL");
        assert_eq!(default_port.host, "example.com");
        let ipv6 = Target::parse("http://[2606:4700::1111]:8080/", &loopback_refused())
            .expect("a valid URL");
        assert_eq!(ipv6.host, "[2606:4700::1111]:8080");
    }

    #[test]
    fn international_names_and_odd_characters_are_encoded_as_url_does() {
        let target =
            Target::parse("http://bücher.example/a b", &loopback_refused()).expect("a valid URL");
        assert_eq!(target.uri, "http://xn--bcher-kva.example/a%20b");
    }

    #[test]
    fn user_info_becomes_basic_credentials_and_leaves_the_uri() {
        let target = Target::parse("https://user:p%40ss@example.com/", &loopback_refused())
            .expect("a valid URL");
        assert_eq!(target.uri, "https://example.com/");
        let authorization = target.authorization.expect("credentials");
        // base64("user:p@ss")
        assert_eq!(authorization, "Basic dXNlcjpwQHNz");
        assert!(authorization.is_sensitive());

        let only_name =
            Target::parse("https://user@example.com/", &loopback_refused()).expect("a valid URL");
        // base64("user:")
        assert_eq!(
            only_name.authorization.expect("credentials"),
            "Basic dXNlcjo="
        );
    }

    #[test]
    fn unsendable_urls_say_why() {
        let policy = loopback_refused();
        let check = |url: &str| Target::parse(url, &policy).map(|_| ()).unwrap_err();
        assert!(matches!(check("not a url"), Unsendable::InvalidUrl(_)));
        assert!(matches!(check("ftp://example.com/"), Unsendable::Scheme(_)));
        assert!(matches!(
            check("http://127.0.0.1:9/"),
            Unsendable::Refused(_)
        ));
        assert!(matches!(check("http://[::1]:9/"), Unsendable::Refused(_)));
        // url normalises other spellings of an IPv4 address, so they are literals too.
        assert!(matches!(check("http://0x7f.1:9/"), Unsendable::Refused(_)));
        let refused = check("http://169.254.169.254/latest/meta-data").to_string();
        assert!(refused.contains("--allow-private-network"), "{refused}");
    }

    #[test]
    fn the_cache_keeps_sendable_urls_and_stays_bounded() {
        let policy = loopback_refused();
        let targets = Targets::default();
        let first = targets
            .get("http://example.com/a", &policy)
            .expect("a valid URL");
        let again = targets
            .get("http://example.com/a", &policy)
            .expect("a valid URL");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second use is the cached parse"
        );
        assert!(targets.get("http://127.0.0.1/", &policy).is_err());
        assert_eq!(targets.len(), 1, "refused URLs are not cached");
        for index in 0..MAX_CACHED_TARGETS + 10 {
            targets
                .get(&format!("http://example.com/{index}"), &policy)
                .expect("a valid URL");
        }
        assert!(targets.len() <= MAX_CACHED_TARGETS);
    }
}
