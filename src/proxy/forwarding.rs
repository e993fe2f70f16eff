//! The forwarding headers [`ReverseProxy`](super::ReverseProxy) sets: `X-Forwarded-For`,
//! `X-Forwarded-Proto`, `X-Forwarded-Host` and, when enabled, `Forwarded`.

use std::net::IpAddr;

use http::header::FORWARDED;
use http::{HeaderMap, HeaderValue};

use crate::forwarded::{
    self, Forwarding, Proto, X_FORWARDED_FOR, X_FORWARDED_HOST, X_FORWARDED_PROTO,
};

/// Sets the forwarding headers of a request from `peer` (the client's address, if known),
/// what a trusted proxy in front said (`forwarding`), the scheme of the connection
/// (`own_proto`) and the validated host (`forwarded_host`), replacing whatever the client
/// sent; `Forwarded` is removed, or set when `forwarded_header` is on.
pub(super) fn set_forwarding_headers(
    headers: &mut HeaderMap,
    peer: Option<IpAddr>,
    forwarding: Option<&Forwarding>,
    own_proto: Proto,
    forwarded_host: Option<HeaderValue>,
    forwarded_header: bool,
) {
    headers.remove(FORWARDED);
    // A trusted proxy's scheme and host, else the gateway's own.
    let proto = forwarding.and_then(Forwarding::proto);
    let forwarded_host = forwarding
        .and_then(|f| f.host().cloned())
        .or(forwarded_host);
    // `insert` replaces every value the client sent: a removal is needed only where
    // nothing is inserted.
    match peer {
        // The common case (no trusted chain, no `Forwarded`): no allocation.
        Some(ip) if forwarding.is_none() && !forwarded_header => {
            headers.insert(X_FORWARDED_FOR, ip_header(ip.to_canonical()));
        }
        Some(ip) => {
            let chain = forwarded::addresses(forwarding, ip);
            headers.insert(X_FORWARDED_FOR, forwarded::x_forwarded_for(&chain));
            if forwarded_header {
                let value = forwarded::forwarded_header(
                    &chain,
                    forwarded_host.as_ref(),
                    proto.unwrap_or(own_proto),
                );
                headers.insert(FORWARDED, value);
            }
        }
        None => {
            headers.remove(X_FORWARDED_FOR);
        }
    };
    headers.insert(X_FORWARDED_PROTO, proto.unwrap_or(own_proto).header_value());
    match forwarded_host {
        Some(host) => headers.insert(X_FORWARDED_HOST, host),
        None => headers.remove(X_FORWARDED_HOST),
    };
}

/// An IP address as an `X-Forwarded-For` value. IPv4 addresses, the common case, are written
/// digit by digit: the standard formatter is several times slower for them.
fn ip_header(ip: IpAddr) -> HeaderValue {
    let v6;
    let mut v4 = [0u8; 15];
    let text: &[u8] = match ip {
        IpAddr::V4(ip) => {
            let mut len = 0;
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    v4[len] = b'.';
                    len += 1;
                }
                if octet >= 100 {
                    v4[len] = b'0' + octet / 100;
                    len += 1;
                }
                if octet >= 10 {
                    v4[len] = b'0' + octet / 10 % 10;
                    len += 1;
                }
                v4[len] = b'0' + octet % 10;
                len += 1;
            }
            &v4[..len]
        }
        IpAddr::V6(ip) => {
            v6 = ip.to_string();
            v6.as_bytes()
        }
    };
    HeaderValue::from_bytes(text).expect("an IP address is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_headers_match_the_standard_formatting() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "9.10.99.100",
            "192.0.2.7",
            "255.255.255.255",
            "10.0.100.1",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:192.0.2.7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_header(ip), ip.to_string(), "{ip}");
        }
        for octet in 0..=255u8 {
            let ip = IpAddr::from([octet, 0, octet, 255 - octet]);
            assert_eq!(ip_header(ip), ip.to_string(), "{ip}");
        }
    }
}
