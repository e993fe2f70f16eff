//! [`CachedToken`]: a valid token as the cache keeps it and the layer hands it on, and the
//! [`Interner`] that lets tokens of one client and scope share everything but their own user.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use http::HeaderValue;

use crate::model::{GrantType, TokenInfo, TokenType, UnixMillis};

/// A valid token, as the [`TokenCache`](super::TokenCache) keeps it and as
/// [`OAuthLayer`](crate::auth::OAuthLayer) inserts it into authorized requests (a request
/// extension).
///
/// Small on purpose (the cache holds up to a million): what tokens of one client, service and
/// scope have in common is kept once and shared, and the identity header values are kept
/// ready, so a cache hit copies reference counts instead of formatting strings. Cloning is a
/// few reference-count increments.
///
/// ```
/// use tokengate::model::{GrantType, TokenInfo, TokenType};
/// use tokengate::resolve::CachedToken;
///
/// let token = CachedToken::try_from(TokenInfo {
///     service_key: "svc".into(), client_id: "app".into(), token_type: TokenType::Bearer,
///     grant_type: GrantType::Password, scope: Some("read write".into()),
///     user_context: Some("user-7".into()), expires_at: 1_900_000_000_000, mac_secret: None,
/// }).unwrap();
/// assert_eq!((token.client_id(), token.user_context()), ("app", Some("user-7")));
/// assert!(token.has_scope("write"));
/// assert_eq!(token.to_info().scope.as_deref(), Some("read write"));
/// ```
#[derive(Debug, Clone)]
pub struct CachedToken {
    common: Arc<Common>,
    user_context: Option<HeaderValue>,
    expires_at: UnixMillis,
}

/// What tokens of one client, service, scope, type and grant share.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Common {
    client_id: HeaderValue,
    scope: Option<HeaderValue>,
    service_key: Box<str>,
    token_type: TokenType,
    grant_type: GrantType,
    mac_secret: Option<Box<str>>,
}

/// The value could not be a header value (never issued so): the token is treated as unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAHeaderValue;

impl TryFrom<TokenInfo> for CachedToken {
    type Error = NotAHeaderValue;

    /// The entry, sharing nothing with other tokens (the cache shares what it can).
    fn try_from(info: TokenInfo) -> Result<Self, NotAHeaderValue> {
        let (common, user_context, expires_at) = split(info)?;
        Ok(CachedToken {
            common: Arc::new(common),
            user_context,
            expires_at,
        })
    }
}

fn header(value: &str) -> Result<HeaderValue, NotAHeaderValue> {
    HeaderValue::from_str(value).map_err(|_| NotAHeaderValue)
}

fn split(info: TokenInfo) -> Result<(Common, Option<HeaderValue>, UnixMillis), NotAHeaderValue> {
    let user_context = info.user_context.as_deref().map(header).transpose()?;
    let common = Common {
        client_id: header(&info.client_id)?,
        scope: info.scope.as_deref().map(header).transpose()?,
        service_key: info.service_key.into(),
        token_type: info.token_type,
        grant_type: info.grant_type,
        mac_secret: info.mac_secret.map(Into::into),
    };
    Ok((common, user_context, info.expires_at))
}

/// The text of a value built from a `&str` (so always UTF-8).
fn text(value: &HeaderValue) -> &str {
    std::str::from_utf8(value.as_bytes()).unwrap_or_default()
}

impl CachedToken {
    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        text(&self.common.client_id)
    }

    /// Space separated scope, if any.
    pub fn scope(&self) -> Option<&str> {
        self.common.scope.as_ref().map(text)
    }

    /// The provider's user identifier, if any.
    pub fn user_context(&self) -> Option<&str> {
        self.user_context.as_ref().map(text)
    }

    /// The service the token is for.
    pub fn service_key(&self) -> &str {
        &self.common.service_key
    }

    /// Bearer or MAC.
    pub fn token_type(&self) -> TokenType {
        self.common.token_type
    }

    /// The grant the token came from.
    pub fn grant_type(&self) -> GrantType {
        self.common.grant_type
    }

    /// The MAC key for MAC tokens.
    pub fn mac_secret(&self) -> Option<&str> {
        self.common.mac_secret.as_deref()
    }

    /// Expiry time.
    pub fn expires_at(&self) -> UnixMillis {
        self.expires_at
    }

    /// Whether the scope contains every space separated entry of `required`.
    pub fn has_scope(&self, required: &str) -> bool {
        crate::model::scope::is_subset(required, self.scope().unwrap_or(""))
    }

    /// Everything the token grants, as the token service reports it (copies the strings).
    pub fn to_info(&self) -> TokenInfo {
        TokenInfo {
            service_key: self.service_key().to_owned(),
            client_id: self.client_id().to_owned(),
            token_type: self.token_type(),
            grant_type: self.grant_type(),
            scope: self.scope().map(str::to_owned),
            user_context: self.user_context().map(str::to_owned),
            expires_at: self.expires_at,
            mac_secret: self.mac_secret().map(str::to_owned),
        }
    }

    pub(crate) fn client_id_header(&self) -> &HeaderValue {
        &self.common.client_id
    }

    pub(crate) fn scope_header(&self) -> Option<&HeaderValue> {
        self.common.scope.as_ref()
    }

    pub(crate) fn user_context_header(&self) -> Option<&HeaderValue> {
        self.user_context.as_ref()
    }
}

/// Hands out one shared [`Common`] per distinct client, service, scope, type and grant, so a
/// million cached tokens of fifty clients keep fifty copies of those strings, not a million.
/// Used on the miss path only. Entries no token holds any more are dropped whenever the map
/// has doubled since the last sweep.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    map: Mutex<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    commons: HashSet<Arc<Common>>,
    swept_at: usize,
}

impl Interner {
    /// The cache entry for `info`, sharing what it has in common with other tokens.
    pub(crate) fn token(&self, info: TokenInfo) -> Result<CachedToken, NotAHeaderValue> {
        let (common, user_context, expires_at) = split(info)?;
        let common = if common.mac_secret.is_some() {
            // A MAC key is the token's own: nothing to share.
            Arc::new(common)
        } else {
            self.share(common)
        };
        Ok(CachedToken {
            common,
            user_context,
            expires_at,
        })
    }

    fn share(&self, common: Common) -> Arc<Common> {
        let mut shared = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = shared.commons.get(&common) {
            return found.clone();
        }
        if shared.commons.len() >= 2 * shared.swept_at.max(512) {
            shared.commons.retain(|c| Arc::strong_count(c) > 1);
            shared.swept_at = shared.commons.len();
        }
        let common = Arc::new(common);
        shared.commons.insert(common.clone());
        common
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(client: &str, user: &str, mac: Option<&str>) -> TokenInfo {
        TokenInfo {
            service_key: "svc".into(),
            client_id: client.into(),
            token_type: TokenType::Bearer,
            grant_type: GrantType::Password,
            scope: Some("read".into()),
            user_context: Some(user.into()),
            expires_at: 1,
            mac_secret: mac.map(Into::into),
        }
    }

    #[test]
    fn tokens_of_one_client_share_their_common_part_but_not_their_user() {
        let interner = Interner::default();
        let a = interner.token(info("app", "u1", None)).unwrap();
        let b = interner.token(info("app", "u2", None)).unwrap();
        let c = interner.token(info("other", "u1", None)).unwrap();
        assert!(Arc::ptr_eq(&a.common, &b.common));
        assert!(!Arc::ptr_eq(&a.common, &c.common));
        assert_eq!(
            (a.user_context(), b.user_context()),
            (Some("u1"), Some("u2"))
        );
        let mac1 = interner.token(info("app", "u1", Some("k1"))).unwrap();
        let mac2 = interner.token(info("app", "u1", Some("k1"))).unwrap();
        assert!(
            !Arc::ptr_eq(&mac1.common, &mac2.common),
            "MAC keys are never shared"
        );
        assert_eq!(mac1.to_info(), info("app", "u1", Some("k1")));
    }

    #[test]
    fn commons_no_token_holds_are_swept() {
        let interner = Interner::default();
        let kept = interner.token(info("kept", "u", None)).unwrap();
        for n in 0..5_000 {
            drop(interner.token(info(&format!("c{n}"), "u", None)).unwrap());
        }
        let size = interner.map.lock().unwrap().commons.len();
        assert!(size < 2_100, "{size} commons left");
        let again = interner.token(info("kept", "v", None)).unwrap();
        assert!(Arc::ptr_eq(&kept.common, &again.common));
    }

    #[test]
    fn values_that_cannot_be_headers_are_refused() {
        assert_eq!(
            CachedToken::try_from(info("app", "bad\nuser", None)).unwrap_err(),
            NotAHeaderValue
        );
        let utf8 = CachedToken::try_from(info("app", "zoë", None)).unwrap();
        assert_eq!(utf8.user_context(), Some("zoë"));
    }
}
