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
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use url::{Host, Url};

/// Whether connecting to `ip` must be refused in strict mode.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

pub fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                   // "this network", 0.0.0.0 (unspecified)
        || a == 10                           // private
        || a == 127                          // loopback
        || (a == 100 && (64..=127).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 169 && b == 254)            // link-local, incl. 169.254.169.254 metadata
        || (a == 172 && (16..=31).contains(&b)) // private
        || (a == 192 && b == 168)            // private
        || (a == 192 && b == 0 && c == 0)    // IETF protocol assignments 192.0.0.0/24
        || (a == 192 && b == 0 && c == 2)    // TEST-NET-1
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)  // TEST-NET-3
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
}

pub fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_forbidden_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (incl. AWS fd00:ec2::254)
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // deprecated site-local fec0::/10
        || (seg[0] & 0xff00) == 0xff00 // multicast
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || (seg[0] == 0x2001 && seg[1] == 0) // Teredo (tunnels to arbitrary IPv4)
        || (seg[0] == 0x0100 && seg[1] == 0 && seg[2] == 0 && seg[3] == 0) // discard 100::/64
        || (seg[0] == 0x0064 && seg[1] == 0xff9b && seg[2] == 1) // local-use NAT64 64:ff9b:1::/48
        || seg[0] == 0 // anything else in ::/16 (reserved; ::1 and :: handled above)
}

/// The IPv4 address carried inside an IPv6 one: IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let tail = || {
        Ipv4Addr::new(
            (seg[6] >> 8) as u8,
            seg[6] as u8,
            (seg[7] >> 8) as u8,
            seg[7] as u8,
        )
    };
    if seg[..5] == [0, 0, 0, 0, 0] && seg[5] == 0xffff {
        return Some(tail());
    }
    if seg[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail());
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (seg[1] >> 8) as u8,
            seg[1] as u8,
            (seg[2] >> 8) as u8,
            seg[2] as u8,
        ));
    }
    None
}

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

/// The resolver refused the host because an address is not public.
#[derive(Debug)]
pub(crate) struct RefusedAddress {
    pub addr: IpAddr,
}

impl fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "it resolves to the non-public address {}", self.addr)
    }
}

impl StdError for RefusedAddress {}

/// The lookup itself failed (no such host, no answer).
#[derive(Debug)]
pub(crate) struct LookupFailed {
    pub host: String,
    pub detail: String,
}

impl fmt::Display for LookupFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "lookup of {} failed: {}", self.host, self.detail)
    }
}

impl StdError for LookupFailed {}

/// The future a [`HostLookup`] returns.
pub type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Name resolution, pluggable so tests can simulate DNS answers without a network. Whatever a
/// lookup returns still goes through the address check in strict mode.
pub trait HostLookup: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> LookupFuture;
}

/// The system resolver (`getaddrinfo` through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(&self, host: &str) -> LookupFuture {
        let host = host.to_string();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// reqwest resolver: looks the host up, then (when `check` is on) refuses it if any address is
/// forbidden. reqwest connects only to the addresses this returns.
#[derive(Clone)]
pub(crate) struct GuardedResolver {
    pub lookup: Arc<dyn HostLookup>,
    pub check: bool,
}

pub(crate) async fn resolve_checked(
    lookup: &dyn HostLookup,
    host: &str,
    check: bool,
) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
    let ips = lookup.lookup(host).await.map_err(|e| LookupFailed {
        host: host.to_string(),
        detail: e.to_string(),
    })?;
    let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
    if check {
        check_addrs(host, &addrs)?;
    } else if addrs.is_empty() {
        return Err(Box::new(LookupFailed {
            host: host.to_string(),
            detail: "no addresses".into(),
        }));
    }
    Ok(addrs)
}

pub(crate) fn check_addrs(
    host: &str,
    addrs: &[SocketAddr],
) -> Result<(), Box<dyn StdError + Send + Sync>> {
    if addrs.is_empty() {
        return Err(Box::new(LookupFailed {
            host: host.to_string(),
            detail: "no addresses".into(),
        }));
    }
    if let Some(bad) = addrs.iter().find(|a| is_forbidden_ip(a.ip())) {
        return Err(Box::new(RefusedAddress { addr: bad.ip() }));
    }
    Ok(())
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let this = self.clone();
        Box::pin(async move {
            let addrs = resolve_checked(this.lookup.as_ref(), &host, this.check).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client builder for other calls to hosts that configuration or users name (webhooks), with
/// the same rules: no redirects, no proxy; when `strict`, https only and the host refused if any
/// address it resolves to is not public ([`GuardedResolver`], so no second lookup can differ).
pub fn guarded_client_builder(strict: bool) -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .https_only(strict);
    match strict {
        true => builder.dns_resolver(GuardedResolver {
            lookup: Arc::new(SystemLookup),
            check: true,
        }),
        false => builder,
    }
}

/// Why the guard refused a call, if it did: found in the error's chain of sources.
pub fn refusal(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<RefusedAddress>() {
            return Some(refused.to_string());
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> bool {
        is_forbidden_ip(s.parse().unwrap())
    }

    #[test]
    fn forbidden_ipv4() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "127.0.0.1",
            "127.9.9.9",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.0.170",
            "192.0.2.5",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(v4(ip), "{ip} must be refused");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.167.1.1",
            "192.169.0.1",
            "169.253.1.1",
            "198.20.0.1",
            "52.1.2.3",
            "223.255.255.255",
        ] {
            assert!(!v4(ip), "{ip} is public");
        }
    }

    #[test]
    fn forbidden_ipv6_and_mapped_forms() {
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::ffff:100.64.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:0101::",
            "2001:db8::1",
            "2001:0:4136:e378::1",
            "100::1",
            "::2",
        ] {
            assert!(v4(ip), "{ip} must be refused");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(!v4(ip), "{ip} is public");
        }
    }

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

    #[test]
    fn address_checks() {
        let public: SocketAddr = "8.8.8.8:0".parse().unwrap();
        let private: SocketAddr = "10.0.0.1:0".parse().unwrap();
        assert!(check_addrs("h", &[public]).is_ok());
        // ANY forbidden address refuses the host.
        let err = check_addrs("h", &[public, private]).unwrap_err();
        assert!(err.downcast_ref::<RefusedAddress>().is_some());
        assert!(
            check_addrs("h", &[])
                .unwrap_err()
                .downcast_ref::<LookupFailed>()
                .is_some()
        );
    }

    #[tokio::test]
    async fn resolver_refuses_localhost() {
        let err = resolve_checked(&SystemLookup, "localhost", true)
            .await
            .unwrap_err();
        assert!(
            err.downcast_ref::<RefusedAddress>().is_some()
                || err.downcast_ref::<LookupFailed>().is_some()
        );
    }
}
