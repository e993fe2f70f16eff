//! Where the load goes: the public and admin listeners, and the loopback rule.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http::Uri;

use super::LoadtestArgs;
use crate::server::Config;

/// The two base URLs a run uses (`http://host:port`, no path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// The public listener: the gateway and `/oauth2/token`.
    pub public: Uri,
    /// The admin listener: JSON-RPC (token preparation and the `rpc` scenario).
    pub admin: Uri,
}

/// A target that may not be loaded, or is not a usable URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError(String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

impl Targets {
    /// `--target` / `--admin-target` when given (any address: the user named it), else the
    /// configuration's listen addresses, which must be on the loopback range (an unspecified
    /// address, `0.0.0.0` or `::`, is reached on the loopback address).
    pub fn resolve(args: &LoadtestArgs, config: &Config) -> Result<Targets, TargetError> {
        Ok(Targets {
            public: pick(
                args.target.as_deref(),
                config.public.listen,
                "--target",
                "public.listen",
            )?,
            admin: pick(
                args.admin_target.as_deref(),
                config.admin.listen,
                "--admin-target",
                "admin.listen",
            )?,
        })
    }
}

fn pick(
    explicit: Option<&str>,
    configured: SocketAddr,
    flag: &str,
    key: &str,
) -> Result<Uri, TargetError> {
    match explicit {
        Some(url) => parse_base(url).map_err(|e| TargetError(format!("{flag} {url}: {e}"))),
        None => {
            let addr = local(configured).ok_or_else(|| {
                TargetError(format!(
                    "{key} is {configured}, not a loopback address: loadtest only loads another \
                     host when it is named with {flag}"
                ))
            })?;
            Ok(format!("http://{addr}")
                .parse()
                .expect("a socket address makes a URI"))
        }
    }
}

/// `addr` on the loopback range; an unspecified address becomes the loopback one.
fn local(addr: SocketAddr) -> Option<SocketAddr> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip if ip.is_loopback() => ip,
        _ => return None,
    };
    Some(SocketAddr::new(ip, addr.port()))
}

/// An `http://host[:port]` base URL (a trailing `/` is allowed; no path, query or user info).
fn parse_base(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL ({e})"))?;
    if uri.scheme_str() != Some("http") {
        return Err("expected http://host:port (https is not supported)".into());
    }
    let authority = uri.authority().ok_or("no host")?;
    if authority.as_str().contains('@') {
        return Err("user info is not supported".into());
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err("give the listener's base URL, without a path (see --path)".into());
    }
    Ok(format!("http://{authority}")
        .parse()
        .expect("rebuilt from parts"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(target: Option<&str>, admin: Option<&str>) -> LoadtestArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: LoadtestArgs,
        }
        let mut args = Cli::parse_from(["loadtest"]).args;
        args.target = target.map(Into::into);
        args.admin_target = admin.map(Into::into);
        args
    }

    #[test]
    fn defaults_and_configured_loopback_addresses_are_used() {
        let targets = Targets::resolve(&args(None, None), &Config::default()).unwrap();
        assert_eq!(targets.public, "http://127.0.0.1:8080/");
        assert_eq!(targets.admin, "http://127.0.0.1:8081/");
        let mut config = Config::default();
        config.public.listen = "0.0.0.0:9000".parse().unwrap();
        config.admin.listen = "[::1]:9001".parse().unwrap();
        let targets = Targets::resolve(&args(None, None), &config).unwrap();
        assert_eq!(targets.public, "http://127.0.0.1:9000/");
        assert_eq!(targets.admin, "http://[::1]:9001/");
    }

    #[test]
    fn another_host_only_when_named() {
        let mut config = Config::default();
        config.public.listen = "192.0.2.10:8080".parse().unwrap();
        let err = Targets::resolve(&args(None, None), &config).unwrap_err();
        assert!(err.to_string().contains("--target"), "{err}");
        let targets =
            Targets::resolve(&args(Some("http://192.0.2.10:8080/"), None), &config).unwrap();
        assert_eq!(targets.public, "http://192.0.2.10:8080/");
        let targets = Targets::resolve(
            &args(Some("http://gw.internal:80"), Some("http://localhost:8081")),
            &Config::default(),
        )
        .unwrap();
        assert_eq!(targets.public.host(), Some("gw.internal"));
        assert_eq!(targets.admin.host(), Some("localhost"));
    }

    #[test]
    fn refuses_unusable_urls() {
        for bad in [
            "https://127.0.0.1:8443",
            "127.0.0.1:8080",
            "http://127.0.0.1:8080/reviews",
            "http://u:p@127.0.0.1:8080",
            "http://127.0.0.1:8080/?a=b",
            "not a url",
        ] {
            assert!(
                Targets::resolve(&args(Some(bad), None), &Config::default()).is_err(),
                "{bad}"
            );
        }
    }
}
