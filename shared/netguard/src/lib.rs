//! The SSRF guard every outgoing call to a network uses (TUNE and the CPA networks): integration
//! settings name hosts, so a client must not become a way to reach internal services (instance
//! metadata at 169.254.169.254, VPC hosts, localhost...).
//!
//! * [`is_forbidden_ip`]: the addresses refused in strict mode (private, loopback, link-local,
//!   documentation, multicast, and IPv4 carried in IPv6 forms);
//! * [`GuardedResolver`]: a reqwest resolver that refuses a host if **any** of its addresses is
//!   forbidden and hands reqwest exactly the checked addresses, so a second lookup cannot return
//!   something else (DNS rebinding);
//! * [`HostLookup`]: pluggable name resolution, for tests;
//! * [`redact`]: the one redaction of secrets from every text a network sends back, in any form
//!   it may echo them (raw, percent-, JSON- or HTML-escaped).
//!
//! Allow-private mode (`AFFNET_ALLOW_PRIVATE_NETWORK=1`, local runs and tests) skips the check.

pub mod aws_http;
pub mod redact;
pub mod tls;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

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

/// The resolver refused the host because an address is not public.
#[derive(Debug)]
pub struct RefusedAddress {
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
pub struct LookupFailed {
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
pub struct GuardedResolver {
    pub lookup: Arc<dyn HostLookup>,
    pub check: bool,
}

pub async fn resolve_checked(
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

pub fn check_addrs(
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
    let builder = tls::client_builder()
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
