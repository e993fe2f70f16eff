//! Space separated scope strings (RFC 6749 §3.3).

use super::{Client, Service};

/// Whether every entry of `requested` appears in `granted` (both space separated).
///
/// ```
/// use tokengate::model::scope::is_subset;
/// assert!(is_subset("a b", "b c a"));
/// assert!(is_subset("", "a"));
/// assert!(!is_subset("a d", "a b"));
/// ```
pub fn is_subset(requested: &str, granted: &str) -> bool {
    requested
        .split_ascii_whitespace()
        .all(|want| granted.split_ascii_whitespace().any(|have| have == want))
}

/// Whether every entry of `requested` is in `allowed`.
pub fn is_allowed(requested: &str, allowed: &[String]) -> bool {
    requested
        .split_ascii_whitespace()
        .all(|want| allowed.iter().any(|have| have == want))
}

/// The canonical spelling of a scope: its entries once each, in the order first given, one
/// space apart (RFC 6749 §3.3: the order does not matter, and `read read` asks for no more
/// than `read`). Entries are case-sensitive and kept as they are.
///
/// ```
/// use tokengate::model::scope::canonical;
/// assert_eq!(canonical("  read   write read "), "read write");
/// assert_eq!(canonical("Read read"), "Read read");
/// ```
pub fn canonical(scope: &str) -> String {
    let mut entries: Vec<&str> = Vec::new();
    for entry in scope.split_ascii_whitespace() {
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    entries.join(" ")
}

/// Whether `client` may ask for `requested` itself, at a client-facing grant (the token
/// endpoint's `client_credentials`): every entry must be in the client's `allowed_scopes` when
/// it has them, and in the service's declared [`Service::scopes`] when it declares them. A
/// client without `allowed_scopes` of a service that declares none may ask for nothing, unless
/// the service says [`Service::any_scope`].
///
/// The provider's own calls (JSON-RPC `createAccessToken`, `createAuthorizationCode`) are not
/// held to this: the provider decides what it grants, bounded only by `allowed_scopes`.
///
/// ```
/// use tokengate::model::{scope::client_may_request, Client, ClientStatus, Service};
/// let mut service = Service::new("svc", "Service");
/// let mut client = Client {
///     id: 1, external_id: None, name: "App".into(), attributes: None,
///     client_id: "app".into(), secret_hash: None, redirect_uris: vec![],
///     services: vec!["svc".into()], status: ClientStatus::Active, allowed_scopes: None,
/// };
/// assert!(client_may_request(&service, &client, ""));
/// assert!(!client_may_request(&service, &client, "admin"));
/// service.any_scope = true;
/// assert!(client_may_request(&service, &client, "admin"));
/// service.scopes = Some(vec!["read".into(), "write".into()]);
/// assert!(client_may_request(&service, &client, "read write"));
/// assert!(!client_may_request(&service, &client, "read admin"));
/// client.allowed_scopes = Some(vec!["read".into(), "admin".into()]);
/// assert!(client_may_request(&service, &client, "read"));
/// assert!(!client_may_request(&service, &client, "admin"), "the service does not declare it");
/// ```
pub fn client_may_request(service: &Service, client: &Client, requested: &str) -> bool {
    match (&service.scopes, &client.allowed_scopes) {
        (Some(declared), Some(allowed)) => {
            is_allowed(requested, declared) && is_allowed(requested, allowed)
        }
        (Some(only), None) | (None, Some(only)) => is_allowed(requested, only),
        (None, None) => service.any_scope || is_allowed(requested, &[]),
    }
}
