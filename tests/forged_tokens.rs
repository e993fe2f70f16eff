//! Forged tokens (values tokengate cannot have issued: random well-formed strings, a wrong
//! integrity tag, the old 32-character shape) are answered by every token operation exactly as
//! an unknown token is, without a store lookup. A well-tagged unknown token is the control: it
//! is looked up, so the counts below can fail.

mod common;

use std::sync::Arc;

use common::down::FlakyStore;
use common::*;
use tokengate::oauth::{ClientCredentials, Introspector, TokenChanges, TokenRequest, TokenService};
use tokengate::secret::{generate_token, junk_token, ISSUED_TOKEN_LEN};
use tokengate::store::{MemoryStore, Store};

async fn service() -> (TokenService, Arc<FlakyStore>) {
    let store = Arc::new(FlakyStore::new(Arc::new(MemoryStore::new())));
    let (tokens, _) = token_service(store.clone(), |_| {}).await;
    (tokens, store)
}

fn web() -> ClientCredentials {
    ClientCredentials::new(WEB_CLIENT, WEB_SECRET)
}

/// `token` with the character at `i` replaced by another of the alphabet.
fn flipped(token: &str, i: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

/// Forged values next to a real token `real`.
fn forgeries(real: &str) -> Vec<String> {
    vec![
        junk_token(),
        junk_token(),
        generate_token(),
        flipped(real, ISSUED_TOKEN_LEN - 1),
        flipped(real, 0),
        format!("{real}a"),
        real.to_uppercase(),
    ]
}

/// A grant of `service` to the web client.
async fn grant(
    tokens: &TokenService,
    service: &str,
    request: TokenRequest,
    user: Option<&str>,
) -> Result<String, tokengate::Error> {
    let issued = tokens
        .create_access_token(service, &web(), &request, None, user)
        .await?;
    Ok(issued.access_token)
}

/// What each token operation answers for `token`, in a comparable form.
async fn answers(tokens: &TokenService, token: &str) -> Vec<String> {
    let owned = || Some(token.to_owned());
    let outcomes = [
        tokens
            .fetch_access_token(SERVICE, token)
            .await
            .map(|i| i.client_id),
        tokens
            .fetch_access_tokens(SERVICE, &[token.to_owned()])
            .await
            .map(|l| l.len().to_string()),
        tokens
            .introspect(SERVICE, Introspector::Admin, token, None)
            .await
            .map(|i| i.is_some().to_string()),
        tokens
            .revoke_token(SERVICE, &web(), token, None)
            .await
            .map(|()| "revoked".into()),
        tokens
            .revoke_access_token(SERVICE, &web(), token)
            .await
            .map(|()| "revoked".into()),
        tokens
            .update_access_token(SERVICE, &web(), token, &TokenChanges::default())
            .await
            .map(|i| i.client_id),
        tokens
            .token_record(token)
            .await
            .map(|r| r.is_some().to_string()),
        tokens
            .revoke_token_record(token)
            .await
            .map(|r| r.is_some().to_string()),
        grant(
            tokens,
            SERVICE,
            TokenRequest {
                refresh_token: owned(),
                ..TokenRequest::grant("refresh_token")
            },
            None,
        )
        .await,
        grant(
            tokens,
            SERVICE,
            TokenRequest {
                code: owned(),
                ..TokenRequest::grant("authorization_code")
            },
            None,
        )
        .await,
    ];
    outcomes
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| format!("{:?}", e.oauth())))
        .collect()
}

#[tokio::test]
async fn forged_tokens_get_the_unknown_answers_without_a_store_lookup() {
    let (tokens, store) = service().await;
    let real = tokens
        .create_access_token(
            SERVICE,
            &web(),
            &TokenRequest::grant("password"),
            None,
            Some("alice"),
        )
        .await
        .unwrap();
    assert_eq!(real.access_token.len(), ISSUED_TOKEN_LEN);
    assert_eq!(
        real.refresh_token.as_deref().map(str::len),
        Some(ISSUED_TOKEN_LEN)
    );

    // The control: a well-tagged token that was never stored is looked up by each operation.
    let unknown = tokens.tag_key().issue();
    let before = store.lookups();
    let expected = answers(&tokens, &unknown).await;
    assert!(
        store.lookups() - before >= expected.len() as u64,
        "each operation looks a tagged token up"
    );

    let before = store.lookups();
    for forged in forgeries(&real.access_token)
        .into_iter()
        .chain(forgeries(real.refresh_token.as_deref().unwrap()))
    {
        assert_eq!(answers(&tokens, &forged).await, expected, "{forged}");
    }
    assert_eq!(store.lookups(), before, "no lookup for a forged token");

    // The real token still works after all that.
    let info = tokens
        .fetch_access_token(SERVICE, &real.access_token)
        .await
        .unwrap();
    assert_eq!(info.user_context.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_list_is_one_store_query_and_keeps_order_and_repeats() {
    let (tokens, store) = service().await;
    let password = || TokenRequest::grant("password");
    let mut issued = Vec::new();
    for user in ["u1", "u2", "u3"] {
        issued.push(
            grant(&tokens, SERVICE, password(), Some(user))
                .await
                .unwrap(),
        );
    }
    let other = grant(&tokens, OTHER_SERVICE, password(), Some("u4"))
        .await
        .unwrap();
    let list = vec![
        issued[2].clone(),
        junk_token(),
        issued[0].clone(),
        tokens.tag_key().issue(),
        other,
        issued[2].clone(),
        issued[1].clone(),
    ];
    let before = (store.calls("tokens"), store.calls("token"));
    let found = tokens.fetch_access_tokens(SERVICE, &list).await.unwrap();
    assert_eq!(
        (store.calls("tokens"), store.calls("token")),
        (before.0 + 1, before.1)
    );
    let values: Vec<&str> = found.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(values, [&issued[2], &issued[0], &issued[2], &issued[1]]);
    let users: Vec<_> = found
        .iter()
        .map(|(_, i)| i.user_context.as_deref().unwrap())
        .collect();
    assert_eq!(users, ["u3", "u1", "u3", "u2"]);

    let junk: Vec<String> = (0..100).map(|_| junk_token()).collect();
    let before = store.lookups();
    assert!(tokens
        .fetch_access_tokens(SERVICE, &junk)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.lookups(), before, "a list of junk makes no query");
}

#[tokio::test]
async fn another_pepper_means_other_tags() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (tokens, _) = token_service(store.clone(), |_| {}).await;
    let token = grant(
        &tokens,
        SERVICE,
        TokenRequest::grant("client_credentials"),
        None,
    )
    .await
    .unwrap();
    let other = TokenService::new(
        store,
        tokengate::secret::Pepper::new(b"another pepper, 32 bytes long...".to_vec()),
    );
    assert!(other.token_record(&token).await.unwrap().is_none());
    assert!(tokens.token_record(&token).await.unwrap().is_some());
}
