//! The identity headers the layer injects, and removing client-supplied copies of them.

use http::{HeaderMap, HeaderName};

use crate::alias::{is_alias, length_bit};

/// The names of the identity headers injected into authorized requests.
///
/// Presets: [`IdentityHeaders::mashery`] (the default) and [`IdentityHeaders::neutral`]; or
/// any names with [`IdentityHeaders::new`].
///
/// ```
/// use tokengate::auth::IdentityHeaders;
/// let names = IdentityHeaders::neutral().with_access_token("x-oauth-access-token".parse().unwrap());
/// assert_eq!(names.client_id().as_str(), "x-oauth-client-id");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    client_id: HeaderName,
    scope: HeaderName,
    user_context: HeaderName,
    access_token: Option<HeaderName>,
    /// The preset's access token name: stripped from requests even when the token is not
    /// forwarded, so a client cannot send a forged one in its place.
    reserved: Option<HeaderName>,
}

impl Default for IdentityHeaders {
    fn default() -> Self {
        Self::mashery()
    }
}

impl IdentityHeaders {
    /// Custom names.
    pub fn new(client_id: HeaderName, scope: HeaderName, user_context: HeaderName) -> Self {
        IdentityHeaders {
            client_id,
            scope,
            user_context,
            access_token: None,
            reserved: None,
        }
    }

    /// `X-Mashery-Oauth-Client-Id`, `X-Mashery-Oauth-Scope`, `X-Mashery-Oauth-User-Context`.
    /// Client-supplied `X-Mashery-Oauth-Access-Token` headers are removed too, whether or
    /// not the token is forwarded.
    pub fn mashery() -> Self {
        IdentityHeaders {
            reserved: Some(HeaderName::from_static("x-mashery-oauth-access-token")),
            ..Self::new(
                HeaderName::from_static("x-mashery-oauth-client-id"),
                HeaderName::from_static("x-mashery-oauth-scope"),
                HeaderName::from_static("x-mashery-oauth-user-context"),
            )
        }
    }

    /// `X-OAuth-Client-Id`, `X-OAuth-Scope`, `X-OAuth-User-Context`. Client-supplied
    /// `X-OAuth-Access-Token` headers are removed too, whether or not the token is forwarded.
    pub fn neutral() -> Self {
        IdentityHeaders {
            reserved: Some(HeaderName::from_static("x-oauth-access-token")),
            ..Self::new(
                HeaderName::from_static("x-oauth-client-id"),
                HeaderName::from_static("x-oauth-scope"),
                HeaderName::from_static("x-oauth-user-context"),
            )
        }
    }

    /// Also forwards the access token itself under `name` (Mashery's
    /// `X-Mashery-Oauth-Access-Token`); off by default.
    pub fn with_access_token(mut self, name: HeaderName) -> Self {
        self.access_token = Some(name);
        self
    }

    /// The client id header.
    pub fn client_id(&self) -> &HeaderName {
        &self.client_id
    }

    /// The scope header.
    pub fn scope(&self) -> &HeaderName {
        &self.scope
    }

    /// The user context header.
    pub fn user_context(&self) -> &HeaderName {
        &self.user_context
    }

    /// The access token header, if forwarded.
    pub fn access_token(&self) -> Option<&HeaderName> {
        self.access_token.as_ref()
    }

    /// Every name stripped from requests: the three injected ones, the forwarded token's and
    /// the preset's reserved token name.
    fn names(&self) -> impl Iterator<Item = &HeaderName> {
        [
            Some(&self.client_id),
            Some(&self.scope),
            Some(&self.user_context),
            self.access_token.as_ref(),
            self.reserved.as_ref(),
        ]
        .into_iter()
        .flatten()
    }

    /// Removes every client-supplied identity header (all values, any case: header names are
    /// case-insensitive). Returns `false`, having removed them, when the request carries an
    /// alias spelled with `_` or `.` of an identity header (`X_Mashery_Oauth_Client_Id`) or of
    /// a framing header ([`FRAMING`](crate::proxy::FRAMING): `Transfer_Encoding`,
    /// `Content.Length`, …), which some servers would treat as the real header: such requests
    /// are refused.
    pub(crate) fn strip(&self, headers: &mut HeaderMap) -> bool {
        // One pass over the names present; most requests carry none of ours, and a name can
        // only be ours or an alias of ours or of a framing header if it has the length of one
        // (a bit each; names of 127 bytes or more share the last bit).
        let lengths = self
            .names()
            .fold(crate::proxy::FRAMING_LENGTHS, |bits, name| {
                bits | length_bit(name.as_str().len())
            });
        let mut found = false;
        let mut aliased = false;
        for name in headers.keys() {
            let raw = name.as_str();
            if lengths & length_bit(raw.len()) == 0 {
                continue;
            }
            for ours in self.names() {
                if ours.as_str().len() != raw.len() {
                    continue;
                }
                if ours == name {
                    found = true;
                } else if is_alias(raw, ours.as_str()) {
                    aliased = true;
                }
            }
            aliased = aliased || crate::proxy::is_framing_alias(raw);
        }
        if found {
            for name in self.names() {
                headers.remove(name);
            }
        }
        if aliased {
            let aliases: Vec<HeaderName> = headers
                .keys()
                .filter(|name| {
                    self.names()
                        .any(|ours| is_alias(name.as_str(), ours.as_str()))
                })
                .cloned()
                .collect();
            for alias in &aliases {
                headers.remove(alias);
            }
        }
        !aliased
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn strips_every_copy_and_refuses_aliases() {
        let names = IdentityHeaders::mashery();
        let mut headers = HeaderMap::new();
        headers.append(
            "X-Mashery-Oauth-Client-Id",
            HeaderValue::from_static("evil"),
        );
        headers.append(
            "x-mashery-oauth-client-id",
            HeaderValue::from_static("evil2"),
        );
        headers.append("x-mashery-oauth-scope", HeaderValue::from_static("admin"));
        headers.append("x-keep", HeaderValue::from_static("1"));
        headers.append(
            "x-mashery-oauth-access-token",
            HeaderValue::from_static("forged"),
        );
        assert!(names.strip(&mut headers));
        assert_eq!(
            headers.len(),
            1,
            "the access token header too, though not forwarded"
        );
        headers.append(
            "x_mashery_oauth_user_context",
            HeaderValue::from_static("root"),
        );
        assert!(!names.strip(&mut headers));
        headers.append("x.mashery.oauth-scope", HeaderValue::from_static("root"));
        assert!(!names.strip(&mut headers));
        headers.append("x_unrelated_header", HeaderValue::from_static("1"));
        assert!(names.strip(&mut headers));
        assert_eq!(headers.len(), 2);
        for framing in [
            "transfer_encoding",
            "content_length",
            "content.length",
            "proxy_authorization",
            "keep_alive",
            "proxy.connection",
        ] {
            let mut headers = HeaderMap::new();
            headers.append(framing, HeaderValue::from_static("1"));
            assert!(!names.strip(&mut headers), "{framing}");
        }
        let mut headers = HeaderMap::new();
        headers.append("content-length", HeaderValue::from_static("1"));
        headers.append("transfer-encoding", HeaderValue::from_static("chunked"));
        assert!(names.strip(&mut headers), "the real names are not aliases");
    }

    #[test]
    fn long_names_are_stripped_too() {
        // Names of 127 bytes or more share one length bit: they must still be compared.
        let long = |c: &str| HeaderName::from_bytes(format!("x-{}", c.repeat(140)).as_bytes());
        let names = IdentityHeaders::new(
            long("a").unwrap(),
            long("b").unwrap(),
            HeaderName::from_static("x-user"),
        );
        let mut headers = HeaderMap::new();
        headers.append(long("a").unwrap(), HeaderValue::from_static("evil"));
        headers.append(
            HeaderName::from_bytes(format!("x-{}", "c".repeat(130)).as_bytes()).unwrap(),
            HeaderValue::from_static("kept"),
        );
        assert!(names.strip(&mut headers));
        assert_eq!(headers.len(), 1);
        assert!(!headers.contains_key(long("a").unwrap()));
        headers.append(
            HeaderName::from_bytes(format!("x_{}", "b".repeat(140)).as_bytes()).unwrap(),
            HeaderValue::from_static("alias"),
        );
        assert!(
            !names.strip(&mut headers),
            "an alias of a long name is refused"
        );
        assert_eq!(headers.len(), 1);
    }
}
