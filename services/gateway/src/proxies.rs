//! The client's address behind reverse proxies (an Ingress controller, a
//! load balancer), for the per-address abuse limits and the access log.
//!
//! Only proxies listed in `--trusted-proxies` are believed: when the TCP
//! peer is one of them, the client is the right-most address of
//! `X-Forwarded-For` that is not a trusted proxy itself (each proxy appends
//! the address it saw, so everything left of that could be forged by the
//! client). Otherwise — no trusted proxy, no header, a malformed one — the
//! client is the TCP peer.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The header proxies append the address they saw to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";
/// Longest `X-Forwarded-For` read.
const MAX_HEADER_LEN: usize = 1024;
/// Most hops read from the right.
const MAX_HOPS: usize = 16;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR ranges
    /// (`10.0.0.0/8, 127.0.0.1`); the error names the first bad entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{} is no address or CIDR range", kit::status::quote(s)))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let Some(forwarded) = headers
            .get(FORWARDED_FOR)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= MAX_HEADER_LEN)
        else {
            return peer;
        };
        for hop in forwarded.rsplit(',').take(MAX_HOPS) {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                // A hop we cannot read: stop believing the header there.
                return peer;
            };
            if !self.trusts(ip) {
                return ip;
            }
        }
        peer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(FORWARDED_FOR, xff.parse().unwrap());
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_a_trusted_peers_header_is_believed_from_the_right() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        // The client forged the left-most entry; the proxies appended theirs.
        let h = headers("6.6.6.6, 203.0.113.7, 10.1.2.3");
        assert_eq!(trusted.client(ip("10.0.0.5"), &h), ip("203.0.113.7"));
        // An untrusted peer's header is ignored.
        assert_eq!(trusted.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        // No header, garbage, or only proxies: the peer.
        let peer = ip("127.0.0.1");
        assert_eq!(trusted.client(peer, &HeaderMap::new()), peer);
        assert_eq!(trusted.client(peer, &headers("nonsense")), peer);
        assert_eq!(trusted.client(peer, &headers("10.0.0.1, 10.0.0.2")), peer);
        // Nobody trusted: always the peer.
        let none = TrustedProxies::default();
        assert_eq!(none.client(peer, &h), peer);
        // IPv4 peers seen as IPv6-mapped are matched too.
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &h),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn a_bad_entry_is_named() {
        let e = TrustedProxies::parse("10.0.0.0/8, ten").unwrap_err();
        assert!(e.contains("ten"), "{e}");
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
    }

    proptest! {
        #[test]
        fn any_header_yields_an_address(xff in "[0-9a-f.:, ]{0,200}") {
            let trusted = TrustedProxies::parse("0.0.0.0/0, ::/0").unwrap();
            let Ok(h) = xff.parse().map(|v| { let mut m = HeaderMap::new(); m.insert(FORWARDED_FOR, v); m }) else {
                return Ok(());
            };
            let _ = trusted.client(ip("127.0.0.1"), &h);
        }
    }
}
