//! RFC 7009 revocation by the client a token was issued to.

use super::introspect::TokenKind;
use super::service::SecretNeed;
use super::types::ClientCredentials;
use super::{OAuthError, TokenService};
use crate::store::Revocation;
use crate::Error;

impl TokenService {
    /// RFC 7009 revocation: the authenticated client revokes one of its tokens.
    ///
    /// * An access token is revoked with the refresh token issued alongside it (that record's
    ///   refresh token stops working too).
    /// * A refresh token revokes its whole family: every access and refresh token of the
    ///   rotation chain it belongs to.
    /// * An unknown token, or another service's, is not an error (RFC 7009 §2.2): nothing
    ///   happens.
    /// * A token of the service issued to another client is refused with `invalid_grant`
    ///   (RFC 6749 §5.2: "… was issued to another client") and stays valid.
    ///
    /// Public clients authenticate with their `client_id` alone; confidential ones need their
    /// secret. Invalidation listeners hear about every revoked token before this returns.
    pub async fn revoke_token(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        token: &str,
        hint: Option<TokenKind>,
    ) -> Result<(), Error> {
        let (service, app) = self
            .load_authenticated(service_key, client, SecretNeed::IfConfidential)
            .await?;
        let Some((kind, record)) = self.find_token(token, hint).await? else {
            return Ok(());
        };
        if record.service_key != service.key {
            return Ok(());
        }
        if record.client_id != app.client_id {
            return Err(OAuthError::invalid_grant("The token was issued to another client").into());
        }
        let revoked = match kind {
            TokenKind::AccessToken => {
                self.store
                    .revoke(Revocation::Token(&record.token_hash))
                    .await?
            }
            TokenKind::RefreshToken => {
                self.store
                    .revoke(Revocation::Family(&record.family_id))
                    .await?
            }
        };
        tracing::debug!(kind = kind.as_str(), tokens = revoked.len(), "revoked");
        self.invalidated(&revoked).await;
        Ok(())
    }
}
