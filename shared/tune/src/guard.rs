//! SSRF guard. `api_domain` is user input, so the client must not become a way to reach
//! internal services (instance metadata at 169.254.169.254, VPC hosts, localhost...).
//!
//! Strict mode (the default):
//! * the base URL is always `https://{network_id}.{api_domain}`; `api_domain` must be a DNS name
//!   (no IP literal, no port other than 443, no path, no user info);
//! * the host is resolved by [`GuardedResolver`], which refuses it if **any** address is not
//!   public ([`is_forbidden_ip`]) and hands reqwest exactly the checked addresses, so a second
//!   lookup cannot return something else (DNS rebinding);
//! * redirects and proxies are disabled by the client.
//!
//! Allow-private mode (local server with `AFFNET_ALLOW_PRIVATE_NETWORK=1`): `api_domain` may also
//! be a full base URL such as `http://127.0.0.1:8080`, used as is, and addresses are not checked.

use crate::error::TuneError;
use std::net::Ipv4Addr;
use url::{Host, Url};

// The address rules and the resolver are shared with the CPA network adapters.
pub use affnet_netguard::{
    GuardedResolver, HostLookup, LookupFailed, LookupFuture, RefusedAddress, SystemLookup,
    check_addrs, guarded_client_builder, is_forbidden_ip, is_forbidden_v4, is_forbidden_v6,
    refusal, resolve_checked,
};

/// Where the client sends its calls, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `{base}/Apiv3/json`
    pub api_url: Url,
    /// The host name, for messages.
    pub host: String,
    /// Addresses must be checked by [`GuardedResolver`] (strict mode).
    pub strict: bool,
    /// A full base URL was given (allow-private mode): the network id is not in the host name,
    /// so the client also sends `NetworkId=`.
    pub custom_base: bool,
}

/// Validates a network id: a DNS label (letters, digits, hyphens; 1–63 characters), lower-cased.
pub fn normalize_network_id(network_id: &str) -> Result<String, TuneError> {
    let id = network_id.trim().to_ascii_lowercase();
    let ok = !id.is_empty()
        && id.len() <= 63
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(id)
    } else {
        Err(TuneError::InvalidConfig(
            "the network id must be letters, digits and hyphens only (like `demo`)".into(),
        ))
    }
}

/// Builds and validates the endpoint from the user's `network_id` and `api_domain`.
pub fn endpoint(
    network_id: &str,
    api_domain: &str,
    allow_private: bool,
) -> Result<Endpoint, TuneError> {
    let network_id = normalize_network_id(network_id)?;
    let raw = api_domain.trim();
    let invalid = |why: &str| TuneError::InvalidConfig(format!("invalid API domain: {why}"));
    if raw.is_empty() {
        return Err(invalid("it is empty"));
    }

    if allow_private && raw.contains("://") {
        let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https are supported"));
        }
        if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("a host is required and user info is not allowed"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("no query or fragment"));
        }
        let host = url.host_str().unwrap_or_default().to_string();
        let base = url.as_str().trim_end_matches('/');
        let api_url =
            Url::parse(&format!("{base}/Apiv3/json")).map_err(|e| invalid(&e.to_string()))?;
        return Ok(Endpoint {
            api_url,
            host,
            strict: false,
            custom_base: true,
        });
    }

    // A bare domain, tolerating a pasted `https://` prefix and a trailing slash.
    let domain = raw
        .strip_prefix("https://")
        .unwrap_or(raw)
        .trim_end_matches('/')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if domain.contains("://") {
        return Err(invalid("only https is allowed"));
    }
    if domain.contains(['/', '?', '#', '@', ':', '[', ']', '\\', ' ', '%']) {
        return Err(invalid("give a host name only, like `api.hasoffers.com`"));
    }
    let labels_ok = domain.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !labels_ok || !domain.contains('.') {
        return Err(invalid("give a host name only, like `api.hasoffers.com`"));
    }
    let last_label_numeric = domain
        .rsplit('.')
        .next()
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()));
    if domain.parse::<Ipv4Addr>().is_ok() || last_label_numeric {
        return Err(invalid("an IP address is not allowed, give a host name"));
    }
    let host = format!("{network_id}.{domain}");
    if host.len() > 253 {
        return Err(invalid("the host name is too long"));
    }
    let api_url =
        Url::parse(&format!("https://{host}/Apiv3/json")).map_err(|e| invalid(&e.to_string()))?;
    // `Url` may still normalize the host (IDNA, numeric forms): insist it stayed a domain.
    if !matches!(api_url.host(), Some(Host::Domain(d)) if d == host) {
        return Err(invalid("give a host name only, like `api.hasoffers.com`"));
    }
    Ok(Endpoint {
        api_url,
        host,
        strict: !allow_private,
        custom_base: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_endpoint_from_domain() {
        let e = endpoint("Demo", "api.hasoffers.com", false).unwrap();
        assert_eq!(
            e.api_url.as_str(),
            "https://demo.api.hasoffers.com/Apiv3/json"
        );
        assert_eq!(e.host, "demo.api.hasoffers.com");
        assert!(e.strict && !e.custom_base);
        // Tolerated paste forms.
        for d in [
            "https://api.hasoffers.com",
            "api.hasoffers.com/",
            " API.HasOffers.com. ",
        ] {
            assert_eq!(
                endpoint("demo", d, false).unwrap().api_url.as_str(),
                "https://demo.api.hasoffers.com/Apiv3/json",
                "{d}"
            );
        }
    }

    #[test]
    fn strict_endpoint_refusals() {
        for d in [
            "",
            "http://api.hasoffers.com",
            "ftp://x.com",
            "127.0.0.1",
            "10.1.2.3",
            "1.2.3.4",
            "[::1]",
            "api.hasoffers.com:8443",
            "api.hasoffers.com/path",
            "user@api.hasoffers.com",
            "localhost",
            "http://127.0.0.1:8080",
            "api..com",
            "-bad.com",
            "a b.com",
            "api.hasoffers.com?x=1",
            "evil.com#frag",
            "ex%61mple.com",
            "0x7f.1",
        ] {
            assert!(endpoint("demo", d, false).is_err(), "{d:?} must be refused");
        }
        for id in ["", "a.b", "a/b", "-x", "x-", "a_b", &"x".repeat(64)] {
            assert!(endpoint(id, "api.hasoffers.com", false).is_err(), "{id:?}");
        }
    }

    #[test]
    fn allow_private_accepts_full_base_url() {
        let e = endpoint("demo", "http://127.0.0.1:8080", true).unwrap();
        assert_eq!(e.api_url.as_str(), "http://127.0.0.1:8080/Apiv3/json");
        assert!(!e.strict && e.custom_base);
        let e = endpoint("demo", "http://localhost:9/tune/", true).unwrap();
        assert_eq!(e.api_url.as_str(), "http://localhost:9/tune/Apiv3/json");
        // A plain domain still works and is not checked.
        let e = endpoint("demo", "api.hasoffers.com", true).unwrap();
        assert!(!e.strict && !e.custom_base);
        for d in [
            "file:///etc/passwd",
            "http://u:p@127.0.0.1",
            "http://127.0.0.1/?a=1",
        ] {
            assert!(endpoint("demo", d, true).is_err(), "{d}");
        }
    }
}
