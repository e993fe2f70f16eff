//! [`TrustedProxies`]: the peers allowed to say who the client is, and the walk of the chain
//! they send.

use std::fmt;
use std::net::IpAddr;

use http::{HeaderMap, Request};
use ipnet::IpNet;

use super::parse::{self, Hop, Node, X_FORWARDED_HOST, X_FORWARDED_PROTO};
use super::Forwarding;
use crate::proxy::ClientAddr;

/// Which header family the trusted proxies write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedFrom {
    /// `X-Forwarded-For`, with `X-Forwarded-Proto` and `X-Forwarded-Host` (the default: what
    /// nginx, HAProxy, Envoy and the cloud load balancers send).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=`, `proto=`, `host=`).
    Forwarded,
}

/// Why a trusted proxy entry was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxyError {
    index: usize,
    message: String,
}

impl TrustedProxyError {
    /// The position of the refused entry in the list.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl fmt::Display for TrustedProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TrustedProxyError {}

/// The networks whose peers may supply the client address, scheme and host of a request
/// (the proxies in front of the gateway), and which header they write them in.
///
/// From a trusted peer, the chain is walked from the right: the client is the rightmost
/// address that is not trusted, and the walk stops early at an entry that is malformed,
/// `unknown` or obfuscated (the client is then the last address reached; a malformed last
/// entry is as if there were no header). Everything to the left of the client was written by
/// nobody the gateway trusts and is dropped. The scheme and host are the ones of the request
/// the outermost trusted proxy received: from `X-Forwarded-Proto` and `X-Forwarded-Host`
/// when each has exactly one valid value, or from the `proto=` and `host=` of the `Forwarded`
/// element that names the client.
///
/// From any other peer nothing of this is read: the peer is the client.
///
/// ```
/// use http::HeaderMap;
/// use tokengate::forwarded::TrustedProxies;
///
/// let trusted = TrustedProxies::parse(["10.0.0.0/8", "::1"])?;
/// let mut headers = HeaderMap::new();
/// headers.insert("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3".parse()?);
/// headers.insert("x-forwarded-proto", "https".parse()?);
///
/// // A trusted peer: the rightmost untrusted address is the client.
/// let found = trusted.resolve("10.0.0.1".parse()?, &headers).unwrap();
/// assert_eq!(found.client(), "198.51.100.7".parse::<std::net::IpAddr>()?);
/// assert_eq!(found.proto().unwrap().as_str(), "https");
/// // Anyone else: nothing is read.
/// assert!(trusted.resolve("192.0.2.1".parse()?, &headers).is_none());
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    from: ForwardedFrom,
}

impl TrustedProxies {
    /// No trusted proxy (the default): every peer is the client.
    pub fn none() -> Self {
        TrustedProxies::default()
    }

    /// From CIDRs (`10.0.0.0/8`, `2001:db8::/32`) and single addresses (`::1`). A CIDR with
    /// host bits set (`10.0.0.1/8`) is refused: it is more likely a typo than the network.
    /// IPv4-mapped IPv6 (`::ffff:10.0.0.0/104`) is the IPv4 network (`10.0.0.0/8`), as peers
    /// are compared as IPv4 when mapped.
    pub fn parse<I, S>(entries: I) -> Result<Self, TrustedProxyError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            let entry = entry.as_ref().trim();
            let error = |message| TrustedProxyError { index, message };
            let net = match entry.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip.to_canonical()),
                Err(_) => entry.parse::<IpNet>().map_err(|_| {
                    error(format!(
                        "`{entry}` is neither an IP address nor a CIDR network"
                    ))
                })?,
            };
            if net.trunc() != net {
                return Err(error(format!(
                    "`{entry}` has host bits set: the network is `{}`",
                    net.trunc()
                )));
            }
            nets.push(canonical_net(net));
        }
        Ok(TrustedProxies {
            nets,
            from: ForwardedFrom::default(),
        })
    }

    /// Reads the chain, scheme and host from `from` (default `X-Forwarded-For`); the other
    /// family is ignored, whoever sends it, since a proxy that appends to one passes a
    /// client's forgery of the other along untouched.
    pub fn forwarded_from(mut self, from: ForwardedFrom) -> Self {
        self.from = from;
        self
    }

    /// Whether no network is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` (IPv4-mapped IPv6 as IPv4) is in a trusted network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// What a request from `peer` with `headers` says about its client, or `None` when
    /// `peer` is not trusted (the peer is the client, and the headers are the gateway's to
    /// set).
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> Option<Forwarding> {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return None;
        }
        let hops = match self.from {
            ForwardedFrom::XForwardedFor => parse::x_forwarded_for(headers),
            ForwardedFrom::Forwarded => super::rfc7239::forwarded(headers),
        };
        let (chain, origin) = self.walk(&hops);
        let (proto, host) = match self.from {
            ForwardedFrom::XForwardedFor => (
                parse::single(headers, &X_FORWARDED_PROTO).and_then(parse::proto),
                parse::single(headers, &X_FORWARDED_HOST).and_then(parse::host),
            ),
            ForwardedFrom::Forwarded => origin.map_or((None, None), |o| (o.proto, o.host.clone())),
        };
        Some(Forwarding {
            peer,
            chain,
            proto,
            host,
        })
    }

    /// Finds the client in `req`'s chain when its [`ClientAddr`] peer is trusted, and inserts
    /// the [`Forwarding`] request extension that the [`ReverseProxy`](crate::proxy::ReverseProxy)
    /// and the [`FailedAuthLayer`](crate::limit::FailedAuthLayer) read. Does nothing for other
    /// peers, or without a `ClientAddr`.
    pub fn apply<B>(&self, req: &mut Request<B>) {
        if self.nets.is_empty() {
            return;
        }
        let Some(ClientAddr(peer)) = req.extensions().get::<ClientAddr>().copied() else {
            return;
        };
        if let Some(forwarding) = self.resolve(peer.ip(), req.headers()) {
            req.extensions_mut().insert(forwarding);
        }
    }

    /// The addresses from the client to the last hop before the peer, leftmost first, and
    /// the hop that names the client.
    fn walk<'h>(&self, hops: &'h [Hop]) -> (Vec<IpAddr>, Option<&'h Hop>) {
        let mut chain = Vec::new();
        let mut origin = None;
        for hop in hops.iter().rev() {
            let Node::Ip(ip) = hop.node else { break };
            chain.push(ip);
            origin = Some(hop);
            if !self.contains(ip) {
                break;
            }
        }
        chain.reverse();
        (chain, origin)
    }
}

/// `net`, an IPv4-mapped IPv6 network (`::ffff:0:0/96` or longer) as the IPv4 one.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        net => net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::FORWARDED;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse(["10.0.0.0/8", "::1", "2001:db8:aa::/48"]).unwrap()
    }

    #[test]
    fn entries() {
        let t = trusted();
        assert!(t.contains(ip("10.255.0.1")));
        assert!(t.contains(ip("::ffff:10.0.0.1")), "mapped IPv4");
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("2001:db8:aa:1::9")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(!t.contains(ip("::2")));
        assert!(TrustedProxies::parse(["::ffff:127.0.0.1"])
            .unwrap()
            .contains(ip("127.0.0.1")));
        // An IPv4-mapped network is the IPv4 network, for mapped and plain peers alike.
        let mapped = TrustedProxies::parse(["::ffff:10.0.0.0/104"]).unwrap();
        assert!(mapped.contains(ip("10.1.2.3")) && mapped.contains(ip("::ffff:10.1.2.3")));
        assert!(!mapped.contains(ip("11.0.0.1")) && !mapped.contains(ip("::ffff:11.0.0.1")));
        assert!(!TrustedProxies::parse(["::/0"])
            .unwrap()
            .contains(ip("::ffff:10.0.0.1")));
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "localhost", "", "10.0.0.0/"] {
            let err = TrustedProxies::parse(["::1", bad]).unwrap_err();
            assert_eq!(err.index(), 1, "{bad:?}");
        }
        assert!(TrustedProxies::none().is_empty());
        assert!(TrustedProxies::none()
            .resolve(ip("10.0.0.1"), &HeaderMap::new())
            .is_none());
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_address() {
        let t = trusted();
        let peer = ip("10.0.0.1");
        for (xff, client, chain) in [
            ("198.51.100.7", "198.51.100.7", &["198.51.100.7"][..]),
            ("6.6.6.6, 198.51.100.7", "198.51.100.7", &["198.51.100.7"]),
            (
                "6.6.6.6, 198.51.100.7, 10.0.0.2",
                "198.51.100.7",
                &["198.51.100.7", "10.0.0.2"],
            ),
            ("10.0.0.3, 10.0.0.2", "10.0.0.3", &["10.0.0.3", "10.0.0.2"]),
            ("garbage, 198.51.100.7", "198.51.100.7", &["198.51.100.7"]),
            ("198.51.100.7, garbage", "10.0.0.1", &[]),
            ("198.51.100.7, unknown, 10.0.0.2", "10.0.0.2", &["10.0.0.2"]),
            (
                "[2001:db8::5]:80, ::1",
                "2001:db8::5",
                &["2001:db8::5", "::1"],
            ),
        ] {
            let found = t
                .resolve(peer, &headers(&[("x-forwarded-for", xff)]))
                .unwrap();
            assert_eq!(found.client(), ip(client), "{xff}");
            let chain: Vec<IpAddr> = chain.iter().map(|s| ip(s)).collect();
            assert_eq!(found.chain(), chain, "{xff}");
            assert_eq!(found.peer(), peer);
        }
        let none = t.resolve(peer, &HeaderMap::new()).unwrap();
        assert_eq!((none.client(), none.chain()), (peer, &[][..]));
        assert!(t
            .resolve(ip("192.0.2.1"), &headers(&[("x-forwarded-for", "1.2.3.4")]))
            .is_none());
    }

    #[test]
    fn proto_and_host_from_either_family() {
        let t = trusted();
        let peer = ip("::1");
        let found = t
            .resolve(
                peer,
                &headers(&[
                    ("x-forwarded-for", "198.51.100.7"),
                    ("x-forwarded-proto", "HTTPS"),
                    ("x-forwarded-host", "api.example.com"),
                    ("forwarded", "for=6.6.6.6;proto=http;host=evil.example"),
                ]),
            )
            .unwrap();
        assert_eq!(found.client(), ip("198.51.100.7"), "Forwarded is ignored");
        assert_eq!(found.proto().unwrap().as_str(), "https");
        assert_eq!(found.host().unwrap(), "api.example.com");
        for (name, value) in [
            ("x-forwarded-proto", "https, http"),
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "a.example, b.example"),
            ("x-forwarded-host", "user@a.example"),
        ] {
            let found = t.resolve(peer, &headers(&[(name, value)])).unwrap();
            assert_eq!(
                (found.proto(), found.host()),
                (None, None),
                "{name}: {value}"
            );
        }

        let t = trusted().forwarded_from(ForwardedFrom::Forwarded);
        let map = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "http"),
            (
                "forwarded",
                "for=6.6.6.6;host=evil.example, for=198.51.100.7;proto=https;host=\"api.example:8443\"",
            ),
            ("forwarded", "for=10.0.0.2;proto=http;host=internal"),
        ]);
        let found = t.resolve(peer, &map).unwrap();
        assert_eq!(found.chain(), [ip("198.51.100.7"), ip("10.0.0.2")]);
        assert_eq!(
            found.proto().unwrap().as_str(),
            "https",
            "the client's element"
        );
        assert_eq!(found.host().unwrap(), "api.example:8443");
        let mut map = HeaderMap::new();
        map.append(FORWARDED, HeaderValue::from_static("for=\"oops"));
        let found = t.resolve(peer, &map).unwrap();
        assert_eq!((found.client(), found.proto()), (peer, None));
    }

    #[test]
    fn apply_reads_the_peer_from_client_addr() {
        let t = trusted();
        let mut req = Request::get("/")
            .header("x-forwarded-for", "198.51.100.7")
            .body(())
            .unwrap();
        t.apply(&mut req);
        assert!(
            req.extensions().get::<Forwarding>().is_none(),
            "no ClientAddr"
        );
        req.extensions_mut()
            .insert(ClientAddr("192.0.2.1:1".parse().unwrap()));
        t.apply(&mut req);
        assert!(req.extensions().get::<Forwarding>().is_none(), "untrusted");
        req.extensions_mut()
            .insert(ClientAddr("10.0.0.1:1".parse().unwrap()));
        t.apply(&mut req);
        assert_eq!(
            super::super::client_ip(req.extensions()),
            Some(ip("198.51.100.7"))
        );
    }
}
