//! Checks on values the core accepts: header safety, redirect URIs, PKCE.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::OAuthError;
use crate::model::{Client, PkceChallenge, Service};
use crate::secret::ct_eq;

/// Longest accepted user context, in bytes.
pub const MAX_USER_CONTEXT: usize = 255;
/// Longest accepted scope, in bytes.
pub const MAX_SCOPE: usize = 1024;

/// Rejects values that could not travel as an HTTP header value later (control characters,
/// CR, LF, NUL, DEL) or are too long.
pub(crate) fn header_safe(
    name: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), OAuthError> {
    let Some(value) = value else { return Ok(()) };
    if value.len() > max {
        return Err(OAuthError::invalid_request(format!(
            "{name} longer than {max} bytes"
        )));
    }
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(OAuthError::invalid_request(format!(
            "{name} contains control characters"
        )));
    }
    Ok(())
}

/// Checks scope and user context at issuance.
pub(crate) fn issuable(scope: Option<&str>, user_context: Option<&str>) -> Result<(), OAuthError> {
    header_safe("scope", scope, MAX_SCOPE)?;
    header_safe("user_context", user_context, MAX_USER_CONTEXT)
}

/// Picks the redirect URI for a request: the presented one, which must equal a registered one
/// when the service forces validation, or else the client's only registered one.
/// Returns `(uri, presented)`.
pub(crate) fn redirect_uri(
    service: &Service,
    client: &Client,
    presented: Option<&str>,
) -> Result<String, OAuthError> {
    match presented {
        Some(uri) => {
            let parsed = url::Url::parse(uri)
                .map_err(|_| OAuthError::invalid_request("Invalid redirect_uri"))?;
            if parsed.fragment().is_some() || parsed.cannot_be_a_base() {
                return Err(OAuthError::invalid_request("Invalid redirect_uri"));
            }
            let registered = client.redirect_uris.iter().any(|r| r == uri);
            if service.force_redirect_validation && !registered {
                return Err(OAuthError::invalid_request("redirect_uri mismatch"));
            }
            Ok(uri.to_owned())
        }
        None => match client.redirect_uris.as_slice() {
            [only] => Ok(only.clone()),
            _ => Err(OAuthError::invalid_request("redirect_uri required")),
        },
    }
}

/// Appends `pairs` to the query (`fragment == false`) or fragment of `base`.
pub(crate) fn with_params(base: &str, pairs: &[(&str, Option<&str>)], fragment: bool) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            out.append_pair(k, v);
        }
    }
    let encoded = out.finish();
    let mut uri = base.to_owned();
    if fragment {
        uri.push('#');
    } else {
        uri.push(if base.contains('?') { '&' } else { '?' });
    }
    uri.push_str(&encoded);
    uri
}

/// Checks a PKCE challenge at authorization time: `S256` only.
pub(crate) fn pkce_challenge(
    challenge: &str,
    method: Option<&str>,
) -> Result<PkceChallenge, OAuthError> {
    if method != Some("S256") {
        return Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        ));
    }
    let valid = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(OAuthError::invalid_request("Invalid code_challenge"));
    }
    Ok(PkceChallenge {
        challenge: challenge.to_owned(),
    })
}

/// Whether `verifier` matches the recorded S256 challenge (RFC 7636 §4.6), in constant time.
pub(crate) fn pkce_verifies(challenge: &PkceChallenge, verifier: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && ct_eq(computed.as_bytes(), challenge.challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_safety() {
        assert!(header_safe("x", Some("user 12345"), 255).is_ok());
        assert!(header_safe("x", Some("a\r\nX-Evil: 1"), 255).is_err());
        assert!(header_safe("x", Some("a\0b"), 255).is_err());
        assert!(header_safe("x", Some(&"a".repeat(256)), 255).is_err());
        assert!(header_safe("x", None, 255).is_ok());
    }

    #[test]
    fn rfc7636_appendix_b_vector() {
        let challenge =
            pkce_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256")).unwrap();
        assert!(pkce_verifies(
            &challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!pkce_verifies(
            &challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"
        ));
        assert!(
            pkce_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("plain")).is_err()
        );
        assert!(pkce_challenge("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", None).is_err());
    }

    #[test]
    fn params_are_appended() {
        assert_eq!(
            with_params(
                "https://c.example/cb",
                &[("code", Some("a b")), ("state", None)],
                false
            ),
            "https://c.example/cb?code=a+b"
        );
        assert_eq!(
            with_params("https://c.example/cb?x=1", &[("code", Some("z"))], false),
            "https://c.example/cb?x=1&code=z"
        );
        assert_eq!(
            with_params("https://c.example/cb", &[("access_token", Some("t"))], true),
            "https://c.example/cb#access_token=t"
        );
    }
}
