//! Where a push may go. A subscription's endpoint is a URL the browser hands
//! over, so without a check the server would POST wherever a user pointed it:
//! the cloud metadata service, Redis on `[::1]:6379`, the private network
//! (with the 404/410 handling as a port-probe oracle).
//!
//! An endpoint must be `https` and its host must resolve only to public
//! unicast addresses ([`is_public`]). The check runs when a subscription is
//! stored ([`EndpointPolicy::check`]) and again on every send, where it is
//! part of the HTTP client's DNS resolver ([`GuardedResolver`]): the addresses
//! checked are exactly the ones connected to, so a name that re-resolves to a
//! private address after the first check (DNS rebinding) is refused too.
//!
//! Hosts on the operator's allow-list (`push_allowed_hosts`: `host` or
//! `host:port`) skip the address check and may use plain `http`: for private
//! push services and tests.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use starling_core::{Error, Result};
use url::{Host, Url};

/// How long resolving an endpoint's host may take when a subscription is
/// checked.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `ip` is a public unicast address a push may be sent to. Refused:
/// unspecified (`0.0.0.0/8`, `::`), loopback, private (RFC 1918), CGNAT
/// (`100.64.0.0/10`), link-local (incl. the `169.254.169.254` metadata
/// service), IETF, documentation, benchmarking and reserved ranges,
/// broadcast and multicast; for IPv6 everything outside global unicast
/// `2000::/3` (so unique-local `fc00::/7`, link-local `fe80::/10`, multicast,
/// discard) and Teredo, 6to4, documentation within it. IPv4-mapped
/// (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) addresses are judged by
/// the IPv4 address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => v4_public(a),
        IpAddr::V6(a) => v6_public(a),
    }
}

fn v4_public(a: Ipv4Addr) -> bool {
    let [a0, a1, a2, _] = a.octets();
    let refused = a0 == 0 // "this network", incl. 0.0.0.0
        || a0 == 10
        || a0 == 127
        || a0 >= 224 // multicast, reserved 240/4, broadcast
        || (a0 == 100 && (a1 & 0xc0) == 64) // CGNAT 100.64/10
        || (a0 == 169 && a1 == 254) // link-local, metadata
        || (a0 == 172 && (a1 & 0xf0) == 16)
        || (a0 == 192 && a1 == 168)
        || (a0 == 192 && a1 == 0 && (a2 == 0 || a2 == 2)) // IETF assignments, TEST-NET-1
        || (a0 == 192 && a1 == 88 && a2 == 99) // 6to4 relay anycast
        || (a0 == 198 && (a1 & 0xfe) == 18) // benchmarking 198.18/15
        || (a0 == 198 && a1 == 51 && a2 == 100) // TEST-NET-2
        || (a0 == 203 && a1 == 0 && a2 == 113); // TEST-NET-3
    !refused
}

fn v6_public(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return v4_public(v4);
    }
    let s = a.segments();
    // NAT64's well-known prefix stands for the IPv4 address in its last 32 bits.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_public(Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7])));
    }
    if s[0] & 0xe000 != 0x2000 {
        return false; // not global unicast 2000::/3
    }
    // IETF 2001::/23 (Teredo, ...) and documentation 2001:db8::/32.
    let refused = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8))
        || s[0] == 0x2002 // 6to4
        || (s[0] == 0x3fff && s[1] < 0x1000); // documentation 3fff::/20
    !refused
}

// ---------------------------------------------------------------------------
// The allow-list
// ---------------------------------------------------------------------------

/// One `push_allowed_hosts` entry: a host, and the only port allowed on it
/// (any port when none is given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

/// A URL host as compared with allow-list entries: lowercase, without a
/// trailing dot, IPv6 in brackets.
fn host_key(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
        Host::Ipv4(a) => a.to_string(),
        Host::Ipv6(a) => format!("[{a}]"),
    }
}

impl AllowedHost {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(entry: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::field(
                "push_allowed_hosts",
                format!("'{entry}' {why} (use host or host:port)"),
            )
        };
        let entry = entry.trim();
        if entry.contains("://") || entry.contains('/') || entry.contains('@') {
            return Err(bad("is not a host"));
        }
        let (host, port) = match entry.strip_prefix('[') {
            Some(rest) => {
                let (v6, after) = rest.split_once(']').ok_or_else(|| bad("lacks a ]"))?;
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':').ok_or_else(|| bad("is not a host"))?),
                };
                (format!("[{v6}]"), port)
            }
            None => match entry.split_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (entry.to_owned(), None),
            },
        };
        let port = port
            .map(|p| p.parse::<u16>().map_err(|_| bad("has a bad port")))
            .transpose()?;
        let host = Host::parse(&host).map_err(|_| bad("is not a host"))?;
        let host = match &host {
            Host::Domain(d) => host_key(&Host::Domain(d.as_str())),
            Host::Ipv4(a) => host_key(&Host::Ipv4(*a)),
            Host::Ipv6(a) => host_key(&Host::Ipv6(*a)),
        };
        if host.is_empty() {
            return Err(bad("is empty"));
        }
        Ok(AllowedHost { host, port })
    }

    fn matches(&self, url: &Url) -> bool {
        url.host().is_some_and(|h| host_key(&h) == self.host)
            && self
                .port
                .is_none_or(|p| url.port_or_known_default() == Some(p))
    }
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// Parses a comma-separated `push_allowed_hosts` value (empty: none).
pub fn parse_allowed_hosts(list: &str) -> Result<Vec<AllowedHost>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(AllowedHost::parse)
        .collect()
}

// ---------------------------------------------------------------------------
// Resolving
// ---------------------------------------------------------------------------

/// Name resolution for push endpoints: the system resolver, or a stand-in in
/// tests.
#[async_trait]
pub trait Dns: Send + Sync {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver (getaddrinfo on a blocking thread).
pub struct SystemDns;

#[async_trait]
impl Dns for SystemDns {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0))
            .await?
            .map(|a| a.ip())
            .collect())
    }
}

/// A resolved address that is not public: the resolver's refusal, found
/// again in the error reqwest returns.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) host: String,
    pub(crate) ip: Option<IpAddr>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip {
            Some(ip) => write!(
                f,
                "{} resolves to {ip}, which is not a public address",
                self.host
            ),
            None => write!(f, "{} resolves to no address", self.host),
        }
    }
}

impl std::error::Error for Refused {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Resolves `host`, refusing it ([`Refused`]) unless every address is public.
async fn resolve_public(dns: &dyn Dns, host: &str) -> std::result::Result<Vec<IpAddr>, BoxError> {
    let ips = dns.lookup(host).await?;
    let refuse = |ip| {
        Box::new(Refused {
            host: host.to_owned(),
            ip,
        })
    };
    match ips.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(refuse(Some(*ip))),
        None if ips.is_empty() => Err(refuse(None)),
        None => Ok(ips),
    }
}

fn addrs(ips: Vec<IpAddr>) -> reqwest::dns::Addrs {
    // Port 0: reqwest puts in the URL's.
    Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)))
}

/// The resolver of the client for endpoints not on the allow-list: it
/// answers only with public addresses, so what was checked is what the
/// connection goes to.
pub(crate) struct GuardedResolver(pub(crate) Arc<dyn Dns>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.0.clone();
        Box::pin(async move {
            let ips = resolve_public(dns.as_ref(), name.as_str()).await?;
            Ok(addrs(ips))
        })
    }
}

/// The resolver of the client for allow-listed endpoints: any address.
pub(crate) struct PlainResolver(pub(crate) Arc<dyn Dns>);

impl reqwest::dns::Resolve for PlainResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.0.clone();
        Box::pin(async move { Ok(addrs(dns.lookup(name.as_str()).await?)) })
    }
}

/// Finds the resolver's refusal in an error's chain of sources.
pub(crate) fn refusal<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        // An io::Error's source() skips the error it wraps.
        if let Some(r) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<Refused>())
        {
            return Some(r);
        }
        next = e.source();
    }
    None
}

// ---------------------------------------------------------------------------
// The policy
// ---------------------------------------------------------------------------

/// Which HTTP client a push goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// On the allow-list: any address, `http` allowed.
    Allowed,
    /// Everything else: `https`, public addresses only.
    Guarded,
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::unprocessable("invalid_endpoint", message)
}

pub(crate) struct EndpointPolicy {
    pub(crate) allowed: Vec<AllowedHost>,
    pub(crate) dns: Arc<dyn Dns>,
}

impl EndpointPolicy {
    /// Parses `endpoint` and decides its route without resolving anything:
    /// a malformed URL is a validation error; plain `http` off the
    /// allow-list, or an IP literal that is not public, is `invalid_endpoint`.
    pub(crate) fn classify(&self, endpoint: &str) -> Result<(Url, Route)> {
        let url = Url::parse(endpoint)
            .map_err(|e| Error::field("endpoint", format!("is not a valid URL: {e}")))?;
        let Some(host) = url.host() else {
            return Err(Error::field("endpoint", "must be an https:// URL"));
        };
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Error::field("endpoint", "must be an https:// URL"));
        }
        if self.allowed.iter().any(|a| a.matches(&url)) {
            return Ok((url, Route::Allowed));
        }
        if url.scheme() != "https" {
            return Err(invalid("a push endpoint must use https"));
        }
        let ip = match host {
            Host::Ipv4(a) => Some(IpAddr::V4(a)),
            Host::Ipv6(a) => Some(IpAddr::V6(a)),
            Host::Domain(_) => None,
        };
        if let Some(ip) = ip.filter(|ip| !is_public(*ip)) {
            return Err(invalid(format!(
                "a push endpoint must be a public address, not {ip}"
            )));
        }
        Ok((url, Route::Guarded))
    }

    /// [`Self::classify`], then resolves a guarded host name and refuses it
    /// unless it resolves, in time, only to public addresses.
    pub(crate) async fn check(&self, endpoint: &str) -> Result<()> {
        let (url, route) = self.classify(endpoint)?;
        let Some(Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        if route == Route::Allowed {
            return Ok(());
        }
        match tokio::time::timeout(LOOKUP_TIMEOUT, resolve_public(self.dns.as_ref(), name)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(invalid(match refusal(e.as_ref()) {
                Some(r) => format!("a push endpoint must be a public address: {r}"),
                None => format!("the push endpoint's host {name} does not resolve: {e}"),
            })),
            Err(_) => Err(Error::Unavailable {
                message: format!("resolving the push endpoint's host {name} timed out"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_not() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.192",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "100::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001::1",
            "2001:db8::1",
            "2002:7f00:1::1",
            "3fff::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "142.250.74.106",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.0.1",
            "223.255.255.254",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2001:4860:4860::8888",
            "2a00:1450:4001::200e",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn allow_list_entries() {
        let list =
            parse_allowed_hosts(" 127.0.0.1:8123, Push.Internal ,[::1], [fd00::1]:443,").unwrap();
        let shown: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["127.0.0.1:8123", "push.internal", "[::1]", "[fd00::1]:443"]
        );
        let allowed = |u: &str| list.iter().any(|a| a.matches(&Url::parse(u).unwrap()));
        assert!(allowed("http://127.0.0.1:8123/p"));
        assert!(!allowed("http://127.0.0.1:6379/p"), "another port");
        assert!(
            allowed("https://push.internal.:9/x"),
            "any port, trailing dot"
        );
        assert!(allowed("http://[::1]:6379/"));
        assert!(allowed("https://[fd00::1]/x"), "443 by default");
        assert!(!allowed("http://[fd00::1]/x"), "80 by default");
        assert!(!allowed("https://evil.push.internal/x"));
        assert!(parse_allowed_hosts("").unwrap().is_empty());
        for bad in ["http://x", "x/y", "x:port", "x:99999", "[::1", "u@x", ":80"] {
            assert!(parse_allowed_hosts(bad).is_err(), "{bad}");
        }
    }
}
