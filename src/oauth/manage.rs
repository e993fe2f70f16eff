//! Looking up and managing tokens: `fetchAccessToken`, `fetchUserApplications`,
//! `revokeAccessToken`, `revokeUserApplication` and `updateAccessToken`.

use std::collections::HashMap;

use super::service::SecretNeed;
use super::types::{ClientCredentials, TokenChanges, TokenStatusFilter, UserApplication};
use super::validate::issuable;
use super::{OAuthError, TokenService};
use crate::model::{TokenInfo, TokenRecord, TokenType, TokenUpdate};
use crate::secret::TokenHash;
use crate::store::Revocation;
use crate::Error;

/// Longest lifetime `updateAccessToken` accepts: ten years.
const MAX_EXPIRES_IN: u64 = 10 * 365 * 24 * 3600;

impl TokenService {
    /// `oauth2.fetchAccessToken`: the data of a valid token. Unknown, expired, revoked and
    /// other services' tokens are all the same "Invalid Access Token" error.
    pub async fn fetch_access_token(
        &self,
        service_key: &str,
        access_token: &str,
    ) -> Result<TokenInfo, Error> {
        let record = self
            .token_record(access_token)
            .await?
            .filter(|r| r.service_key == service_key && r.is_active(self.now()))
            .ok_or_else(OAuthError::invalid_token)?;
        Ok(self.info(record, access_token))
    }

    /// `oauth2.fetchAccessToken` with a list: the valid tokens only, in the order given (a
    /// token listed twice is answered twice), each with its value. One store query for the
    /// whole list ([`Store::tokens`](crate::store::Store::tokens)); none when no value in it
    /// can be a token of this service.
    pub async fn fetch_access_tokens(
        &self,
        service_key: &str,
        access_tokens: &[String],
    ) -> Result<Vec<(String, TokenInfo)>, Error> {
        let hashes: Vec<Option<TokenHash>> = access_tokens
            .iter()
            .map(|token| self.lookup_hash(token))
            .collect();
        let wanted: Vec<TokenHash> = hashes.iter().flatten().copied().collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let records: HashMap<TokenHash, TokenRecord> = self
            .store
            .tokens(&wanted)
            .await?
            .into_iter()
            .filter(|r| r.service_key == service_key && r.is_active(now))
            .map(|r| (r.token_hash, r))
            .collect();
        Ok(access_tokens
            .iter()
            .zip(&hashes)
            .filter_map(|(token, hash)| {
                let record = records.get(hash.as_ref()?)?;
                Some((token.clone(), self.info(record.clone(), token)))
            })
            .collect())
    }

    fn info(&self, record: TokenRecord, access_token: &str) -> TokenInfo {
        TokenInfo {
            mac_secret: match record.token_type {
                TokenType::Mac(_) => Some(self.pepper.mac_secret(access_token)),
                TokenType::Bearer => None,
            },
            service_key: record.service_key,
            client_id: record.client_id,
            token_type: record.token_type,
            grant_type: record.grant_type,
            scope: record.scope,
            user_context: record.user_context,
            expires_at: record.expires_at,
        }
    }

    /// `oauth2.fetchUserApplications`: the applications holding tokens for a user, with the
    /// record ids of those tokens, newest first.
    pub async fn fetch_user_applications(
        &self,
        service_key: &str,
        user_context: &str,
        filter: TokenStatusFilter,
    ) -> Result<Vec<UserApplication>, Error> {
        let now = self.now();
        let records = self
            .store
            .tokens_by_owner(service_key, user_context)
            .await?;
        let mut apps: Vec<UserApplication> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for record in records {
            let wanted = match filter {
                TokenStatusFilter::Active => record.is_active(now),
                TokenStatusFilter::Inactive => !record.is_active(now),
                TokenStatusFilter::All => true,
            };
            if !wanted {
                continue;
            }
            let slot = match index.get(&record.client_id) {
                Some(&i) => i,
                None => {
                    let Some(client) = self.store.client(&record.client_id).await? else {
                        continue;
                    };
                    apps.push(UserApplication {
                        id: client.id,
                        name: client.name,
                        client_id: client.client_id,
                        access_tokens: Vec::new(),
                    });
                    index.insert(record.client_id.clone(), apps.len() - 1);
                    apps.len() - 1
                }
            };
            apps[slot].access_tokens.push(record.id);
        }
        Ok(apps)
    }

    /// `oauth2.revokeAccessToken`: revokes one token of the client (and its refresh token).
    pub async fn revoke_access_token(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        access_token: &str,
    ) -> Result<(), Error> {
        let record = self.owned_record(service_key, client, access_token).await?;
        let revoked = self
            .store
            .revoke(Revocation::Token(&record.token_hash))
            .await?;
        self.invalidated(&revoked).await;
        Ok(())
    }

    /// `oauth2.revokeUserApplication`: revokes every token of the client for a user.
    pub async fn revoke_user_application(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        user_context: &str,
    ) -> Result<(), Error> {
        let (service, app) = self
            .load_authenticated(service_key, client, SecretNeed::IfPresented)
            .await?;
        let revoked = self
            .store
            .revoke(Revocation::UserApplication {
                service_key: &service.key,
                client_id: &app.client_id,
                user_context: Some(user_context),
            })
            .await?;
        self.invalidated(&revoked).await;
        Ok(())
    }

    /// `oauth2.updateAccessToken`: changes the scope, lifetime or user context of a live token
    /// of the client; returns the token as `fetchAccessToken` would.
    pub async fn update_access_token(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        access_token: &str,
        changes: &TokenChanges,
    ) -> Result<TokenInfo, Error> {
        let unable = || OAuthError::invalid_request("Unable to update token");
        let record = self
            .owned_record(service_key, client, access_token)
            .await
            .map_err(|e| {
                if e.oauth().is_some() {
                    unable().into()
                } else {
                    e
                }
            })?;
        if !record.is_active(self.now()) {
            return Err(unable().into());
        }
        issuable(changes.scope.as_deref(), changes.user_context.as_deref())?;
        let expires_at = match changes.expires_in {
            Some(0) => return Err(unable().into()),
            Some(s) if s > MAX_EXPIRES_IN => return Err(unable().into()),
            Some(s) => Some(self.now() + s as i64 * 1000),
            None => None,
        };
        let update = TokenUpdate {
            scope: changes.scope.clone(),
            expires_at,
            user_context: changes.user_context.clone(),
        };
        if !self.store.update_token(&record.token_hash, &update).await? {
            return Err(unable().into());
        }
        self.invalidated(&[record.token_hash]).await;
        self.fetch_access_token(service_key, access_token).await
    }

    /// The record of `access_token` if it belongs to the service and the (authenticated)
    /// client.
    async fn owned_record(
        &self,
        service_key: &str,
        client: &ClientCredentials,
        access_token: &str,
    ) -> Result<TokenRecord, Error> {
        let (service, app) = self
            .load_authenticated(service_key, client, SecretNeed::IfPresented)
            .await?;
        Ok(self
            .token_record(access_token)
            .await?
            .filter(|r| r.service_key == service.key && r.client_id == app.client_id)
            .ok_or_else(OAuthError::invalid_token)?)
    }
}
