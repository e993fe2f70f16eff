//! Tests of parsing and validating the whole file.

use super::*;
use crate::model::{ClientStatus, GrantType, MacAlgorithm, PkceRequirement, Service, TokenType};

const EXAMPLE: &str = r#"
[store]
url = "memory:"
pepper = "00112233445566778899aabbccddeeff"

[admin]
listen = "127.0.0.1:0"
credentials = [{ key = "ops", secret = "change-me" }]
max_body_bytes = 4096

[[services]]
key = "rmeqcgpw3zu2y47y9bs8vs2h"
name = "Reviews API"
access_token_ttl = 60
refresh_tokens = false
refresh_token_ttl = 120
authorization_code_ttl = 30
token_type = "mac"
mac_algorithm = "hmac-sha-1"
grants = ["password", "client_credentials"]
force_redirect_validation = false
allow_multiple_tokens = false
allow_query_tokens = true
scopes = ["read", "write"]
require_pkce = "all"

[[services]]
key = "second-service"

[[clients]]
id = 12346
external_id = 7
client_id = "tkr7f25gd6452zy8rjsf7bwd"
secret = "q13rupuifd"
name = "Reviews Web"
attributes = "tier=gold"
redirect_uris = ["https://client.example.com/cb"]
services = ["rmeqcgpw3zu2y47y9bs8vs2h", "second-service"]
status = "disabled"
allowed_scopes = ["a", "b"]

[[clients]]
id = 1
client_id = "public-app"
name = "Public"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Some(Path::new("tokengate.toml")))
}

fn service_with(extra: &str) -> String {
    format!("[[services]]\nkey = \"svc\"\n{extra}\n")
}

#[test]
fn empty_file_is_the_zero_config_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.store.url, DEFAULT_STORE_URL);
    assert_eq!(config.store.url, "sqlite://tokengate.db");
    assert!(config.store.pepper.is_none());
    assert_eq!(config.admin.listen.to_string(), "127.0.0.1:8081");
    assert_eq!(config.admin.max_body_bytes, 1_048_576);
    assert!(config.admin.credentials.is_empty());
    assert!(config.services.is_empty() && config.clients.is_empty());
    let default = Config::default();
    assert_eq!(default.store.url, config.store.url);
    assert_eq!(default.admin.listen, config.admin.listen);
    default.validate().unwrap();
}

#[test]
fn full_example_converts_to_the_model() {
    let config = parse(EXAMPLE).unwrap();
    assert_eq!(config.origin.as_deref(), Some(Path::new("tokengate.toml")));
    assert_eq!(config.admin.max_body_bytes, 4096);
    let s = config.services[0].to_service("services[0]").unwrap();
    assert_eq!(s.key, "rmeqcgpw3zu2y47y9bs8vs2h");
    assert_eq!(s.name, "Reviews API");
    assert_eq!(s.access_token_ttl, 60);
    assert!(!s.refresh_tokens);
    assert_eq!(s.refresh_token_ttl, 120);
    assert_eq!(s.authorization_code_ttl, 30);
    assert_eq!(s.token_type, TokenType::Mac(MacAlgorithm::HmacSha1));
    assert_eq!(
        s.grants,
        vec![GrantType::Password, GrantType::ClientCredentials]
    );
    assert!(!s.force_redirect_validation);
    assert!(!s.allow_multiple_tokens);
    assert!(s.allow_query_tokens);
    assert_eq!(s.scopes, Some(vec!["read".into(), "write".into()]));
    assert!(!s.any_scope);
    assert_eq!(s.require_pkce, PkceRequirement::AllClients);

    // Absent settings are Service::new's defaults; the name defaults to the key.
    let second = config.services[1].to_service("services[1]").unwrap();
    assert_eq!(second, Service::new("second-service", "second-service"));

    let c = config.clients[0].to_client("clients[0]").unwrap();
    assert_eq!(c.id, 12346);
    assert_eq!(c.external_id, Some(7));
    assert_eq!(c.client_id, "tkr7f25gd6452zy8rjsf7bwd");
    assert_eq!(c.name, "Reviews Web");
    assert_eq!(c.attributes.as_deref(), Some("tier=gold"));
    assert_eq!(c.redirect_uris, vec!["https://client.example.com/cb"]);
    assert_eq!(c.services.len(), 2);
    assert_eq!(c.status, ClientStatus::Disabled);
    assert_eq!(c.allowed_scopes, Some(vec!["a".into(), "b".into()]));
    assert_eq!(c.secret_hash, None, "hashing is apply's job");

    let public = config.clients[1].to_client("clients[1]").unwrap();
    assert_eq!(public.status, ClientStatus::Active);
    assert!(config.clients[1].secret.is_none());
}

#[test]
fn debug_output_redacts_secrets() {
    let config = parse(EXAMPLE).unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("q13rupuifd"), "{debug}");
    assert!(!debug.contains("change-me"), "{debug}");
    assert!(!debug.contains("00112233445566778899"), "{debug}");
}

#[test]
fn unknown_top_level_key_is_named() {
    let err = parse("colour = \"blue\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("colour"), "{text}");
    assert!(text.starts_with("tokengate.toml:1:1: "), "{text}");
}

#[test]
fn unknown_key_in_a_section_is_named_with_its_path() {
    let err = parse("[store]\nurl = \"memory:\"\npeper = \"00\"\n").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`peper`"), "{text}");
    assert!(err.key().unwrap().starts_with("store"), "{text}");
    assert_eq!(err.position().map(|p| p.0), Some(3), "{text}");

    let err = parse(&format!(
        "{}[[services]]\nkey = \"b\"\ngrant = []\n",
        service_with("")
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`grant`"), "{text}");
    assert!(err.key().unwrap().starts_with("services[1]"), "{text}");

    let err = parse("[admin]\ncredentials = [{ key = \"k\", secret = \"s\", role = \"x\" }]\n")
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("`role`"), "{text}");
    assert!(
        err.key().unwrap().starts_with("admin.credentials[0]"),
        "{text}"
    );
}

#[test]
fn wrong_type_names_the_key() {
    let err = parse(&service_with("access_token_ttl = \"long\"")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].access_token_ttl"), "{err}");
    let err = parse("[admin]\nlisten = \"localhost\"\n").unwrap_err();
    assert_eq!(err.key(), Some("admin.listen"), "{err}");
}

#[test]
fn bad_grant_names_services_n_grants() {
    let text = format!(
        "{}{}",
        service_with(""),
        "[[services]]\nkey = \"b\"\ngrants = [\"password\", \"magic\"]\n"
    );
    let err = parse(&text).unwrap_err();
    assert_eq!(err.key(), Some("services[1].grants"));
    let shown = err.to_string();
    assert!(
        shown.starts_with("tokengate.toml: services[1].grants: "),
        "{shown}"
    );
    assert!(shown.contains("magic"), "{shown}");

    let err = parse(&service_with("grants = [\"refresh_token\"]")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].grants"));
    let err = parse(&service_with("grants = [\"password\", \"password\"]")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].grants"));
    let ok = parse(&service_with("grants = []")).unwrap();
    assert!(ok.services[0].to_service("s").unwrap().grants.is_empty());
}

#[test]
fn mac_algorithm_rules() {
    let config = parse(&service_with(
        "token_type = \"mac\"\nmac_algorithm = \"hmac-sha-256\"",
    ))
    .unwrap();
    assert_eq!(
        config.services[0].to_service("s").unwrap().token_type,
        TokenType::Mac(MacAlgorithm::HmacSha256)
    );

    let err = parse(&service_with("token_type = \"mac\"")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].mac_algorithm"), "{err}");
    let err = parse(&service_with(
        "token_type = \"mac\"\nmac_algorithm = \"md5\"",
    ))
    .unwrap_err();
    assert_eq!(err.key(), Some("services[0].mac_algorithm"), "{err}");
    assert!(err.message().contains("md5"));
    let err = parse(&service_with("mac_algorithm = \"hmac-sha-1\"")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].mac_algorithm"), "{err}");
    let err = parse(&service_with("token_type = \"jwt\"")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].token_type"), "{err}");
}

#[test]
fn ttl_bounds() {
    let err = parse(&service_with("access_token_ttl = 0")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].access_token_ttl"));
    let err = parse(&service_with("refresh_token_ttl = 999999999999")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].refresh_token_ttl"));
    let err = parse(&service_with("authorization_code_ttl = -5")).unwrap_err();
    assert_eq!(err.key(), Some("services[0].authorization_code_ttl"));
}

#[test]
fn duplicates_are_rejected() {
    let err = parse(&format!("{}{}", service_with(""), service_with(""))).unwrap_err();
    assert_eq!(err.key(), Some("services[1].key"));
    assert!(err.message().contains("duplicate"));

    let client = |id: i64, client_id: &str| {
        format!("[[clients]]\nid = {id}\nclient_id = \"{client_id}\"\nname = \"n\"\n")
    };
    let err = parse(&format!("{}{}", client(1, "a"), client(1, "b"))).unwrap_err();
    assert_eq!(err.key(), Some("clients[1].id"));
    let err = parse(&format!("{}{}", client(1, "a"), client(2, "a"))).unwrap_err();
    assert_eq!(err.key(), Some("clients[1].client_id"));
    parse(&format!("{}{}", client(1, "a"), client(2, "b"))).unwrap();

    let err = parse(
        "[admin]\ncredentials = [{ key = \"k\", secret = \"s\" }, { key = \"k\", secret = \"t\" }]\n",
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("admin.credentials[1].key"));
}

#[test]
fn issuance_policy_keys() {
    let s = |extra: &str| {
        parse(&service_with(extra)).and_then(|c| c.services[0].to_service("services[0]"))
    };
    let open = s("any_scope = true").unwrap();
    assert!(open.any_scope);
    assert_eq!(open.scopes, None);
    assert_eq!(open.require_pkce, PkceRequirement::PublicClients);
    assert_eq!(
        s("require_pkce = \"off\"").unwrap().require_pkce,
        PkceRequirement::Off
    );
    assert!(!s("scopes = [\"a\"]\nany_scope = false").unwrap().any_scope);
    for (extra, key) in [
        (
            "require_pkce = \"public_clients\"",
            "services[0].require_pkce",
        ),
        ("require_pkce = true", "services[0].require_pkce"),
        ("scopes = [\"a\", \"b c\"]", "services[0].scopes[1]"),
        ("scopes = [\"\"]", "services[0].scopes[0]"),
        (
            "scopes = [\"a\"]\nany_scope = true",
            "services[0].any_scope",
        ),
    ] {
        let err = s(extra).unwrap_err();
        assert_eq!(err.key(), Some(key), "{extra}: {err}");
    }
    let admin = parse("[admin]\nrequire_json_content_type = true\n").unwrap();
    assert!(admin.admin.require_json_content_type);
    assert!(!parse("").unwrap().admin.require_json_content_type);
}

#[test]
fn client_values_are_checked() {
    let base = "[[clients]]\nid = 1\nclient_id = \"app\"\nname = \"n\"\n";
    let cases = [
        (
            "redirect_uris = [\"/relative\"]",
            "clients[0].redirect_uris[0]",
        ),
        (
            "redirect_uris = [\"https://a.example/cb#frag\"]",
            "clients[0].redirect_uris[0]",
        ),
        ("status = \"paused\"", "clients[0].status"),
        ("allowed_scopes = [\"a b\"]", "clients[0].allowed_scopes[0]"),
        ("secret = \"\"", "clients[0].secret"),
        ("services = [\"s\", \"s\"]", "clients[0].services[1]"),
    ];
    for (extra, key) in cases {
        let err = parse(&format!("{base}{extra}\n")).unwrap_err();
        assert_eq!(err.key(), Some(key), "{extra}: {err}");
    }
    let err = parse("[[clients]]\nid = 0\nclient_id = \"app\"\nname = \"n\"\n").unwrap_err();
    assert_eq!(err.key(), Some("clients[0].id"));
    let err = parse("[[clients]]\nid = 3\nname = \"n\"\n").unwrap_err();
    assert!(err.to_string().contains("client_id"), "{err}");
}

#[test]
fn store_url_and_pepper_are_checked() {
    let err = parse("[store]\nurl = \"redis://db/tokens\"\n").unwrap_err();
    assert_eq!(err.key(), Some("store.url"), "{err}");
    let err = parse("[store]\nurl = \"memory:\"\npepper = \"xyz\"\n").unwrap_err();
    assert_eq!(err.key(), Some("store.pepper"), "{err}");
    assert!(
        !err.to_string().contains("xyz"),
        "the pepper is not echoed: {err}"
    );
    let err = parse("[store]\nurl = \"memory:\"\npepper = \"0011\"\n").unwrap_err();
    assert_eq!(err.key(), Some("store.pepper"), "{err}");
    let err = parse("[admin]\nmax_body_bytes = 0\n").unwrap_err();
    assert_eq!(err.key(), Some("admin.max_body_bytes"), "{err}");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, service_with("grants = [\"nope\"]")).unwrap();
    let err = Config::load(&path).unwrap_err();
    assert_eq!(err.file(), Some(path.as_path()));
    assert!(err.to_string().contains("bad.toml"), "{err}");

    let missing = Config::load(dir.path().join("missing.toml")).unwrap_err();
    assert!(missing.to_string().contains("missing.toml"), "{missing}");
    assert!(std::error::Error::source(&missing).is_some());

    let syntax = dir.path().join("syntax.toml");
    std::fs::write(&syntax, "[store\n").unwrap();
    let err = Config::load(&syntax).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}:1:", syntax.display())),
        "{err}"
    );
}

#[test]
fn admin_credentials_merge_the_environment_pair() {
    let config = parse(EXAMPLE).unwrap();
    let pairs = config.admin_credentials_with(None, None).unwrap();
    assert_eq!(pairs, vec![("ops".to_owned(), "change-me".to_owned())]);
    let pairs = config
        .admin_credentials_with(Some("ci".into()), Some("s3".into()))
        .unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[1], ("ci".to_owned(), "s3".to_owned()));
    let err = config
        .admin_credentials_with(Some("ci".into()), None)
        .unwrap_err();
    assert_eq!(err.key(), Some(ENV_ADMIN_SECRET));
    let err = config
        .admin_credentials_with(None, Some("s".into()))
        .unwrap_err();
    assert_eq!(err.key(), Some(ENV_ADMIN_KEY));
    let err = config
        .admin_credentials_with(Some("ops".into()), Some("x".into()))
        .unwrap_err();
    assert_eq!(err.key(), Some(ENV_ADMIN_KEY));
}
