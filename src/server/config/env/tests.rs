use super::super::{Config, LogFormat};
use super::EnvOverrides;

const FILE: &str = r#"
[store]
url = "memory:"

[[services]]
key = "svc"

[[routes]]
name = "a"
path = "/a"
service_key = "svc"
upstream = "http://127.0.0.1:9001"
"#;

fn load(vars: &[(&str, &str)]) -> Result<Config, super::ConfigError> {
    let env = EnvOverrides::from_vars(vars.iter().copied()).unwrap();
    Config::from_toml_with_env(FILE, Some(std::path::Path::new("t.toml")), &env)
}

#[test]
fn overrides_set_keys_of_sections_nested_tables_and_array_entries() {
    let config = load(&[
        ("TOKENGATE_ADMIN__LISTEN", "127.0.0.1:0"),
        ("TOKENGATE_log__format", "json"),
        ("TOKENGATE_PUBLIC__CACHE_TTL_SECS", "7"),
        (
            "TOKENGATE_PUBLIC__CORS__ORIGINS",
            r#"["https://app.example.com"]"#,
        ),
        ("TOKENGATE_PUBLIC__FAILED_AUTH_LIMIT", "{ per_minute = 5 }"),
        ("TOKENGATE_ROUTES__0__UPSTREAM", "http://127.0.0.1:9009"),
        ("TOKENGATE_ROUTES__1__NAME", "b"),
        ("TOKENGATE_ROUTES__1__PATH", "/b"),
        ("TOKENGATE_ROUTES__1__AUTH", "none"),
        ("TOKENGATE_ROUTES__1__UPSTREAM", "http://127.0.0.1:9002"),
        ("TOKENGATE_PEPPER", "not an override"),
    ])
    .unwrap();
    assert_eq!(config.admin.listen.port(), 0);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.public.cache_ttl_secs, 7);
    assert_eq!(
        config.public.cors.unwrap().origins,
        ["https://app.example.com"]
    );
    assert_eq!(
        format!("{:?}", config.public.failed_auth_limit),
        "Rate(RateConfig { per_second: None, per_minute: Some(5), per_hour: None, burst: None })"
    );
    assert_eq!(config.routes.len(), 2);
    assert_eq!(
        config.routes[0].upstream.as_deref(),
        Some("http://127.0.0.1:9009")
    );
    assert_eq!(config.routes[0].name, "a", "the file's other keys stay");
    assert_eq!(config.routes[1].name, "b");
}

#[test]
fn indices_apply_in_numeric_order_whatever_the_environments_order() {
    let mut vars = Vec::new();
    for i in (0..12).rev() {
        vars.push((format!("TOKENGATE_SERVICES__{i}__KEY"), format!("s{i}")));
    }
    let env = EnvOverrides::from_vars(vars).unwrap();
    let config = Config::from_toml_with_env("[store]\nurl = \"memory:\"\n", None, &env).unwrap();
    let keys: Vec<&str> = config.services.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys[2], "s2");
    assert_eq!(keys[10], "s10");
    assert_eq!(keys.len(), 12);
}

#[test]
fn a_value_that_reads_as_a_number_is_a_string_where_a_string_is_wanted() {
    let config = load(&[
        ("TOKENGATE_CLIENTS__0__ID", "5"),
        ("TOKENGATE_CLIENTS__0__CLIENT_ID", "12345"),
        ("TOKENGATE_CLIENTS__0__NAME", "2026-01-01"),
        ("TOKENGATE_CLIENTS__0__SECRET", "123456"),
        ("TOKENGATE_CLIENTS__0__SERVICES", r#"["svc"]"#),
    ])
    .unwrap();
    let client = &config.clients[0];
    assert_eq!(client.id, 5);
    assert_eq!(client.client_id, "12345");
    assert_eq!(client.name, "2026-01-01");
    assert_eq!(client.secret.as_deref(), Some("123456"));
}

#[test]
fn errors_name_the_variable_and_the_key() {
    let cases = [
        (
            ("TOKENGATE_ADMIN__MAX_BODY_BYTES", "lots"),
            "$TOKENGATE_ADMIN__MAX_BODY_BYTES: admin.max_body_bytes: invalid type",
        ),
        (
            ("TOKENGATE_ADMIN__MAX_BODY_BYTES", "0"),
            "$TOKENGATE_ADMIN__MAX_BODY_BYTES: admin.max_body_bytes: must be greater than 0",
        ),
        (
            ("TOKENGATE_PUBLIC__BOGUS", "1"),
            "$TOKENGATE_PUBLIC__BOGUS: public.bogus: unknown field `bogus`",
        ),
        (
            ("TOKENGATE_BOGUS__X", "1"),
            "$TOKENGATE_BOGUS__X: bogus: unknown field `bogus`",
        ),
        (
            ("TOKENGATE_ROUTES__2__NAME", "c"),
            "$TOKENGATE_ROUTES__2__NAME: routes[2].name: `routes` has 1 entries",
        ),
        (
            ("TOKENGATE_ROUTES__1__NAME", "b"),
            "$TOKENGATE_ROUTES__1__NAME: routes[1].upstream: required",
        ),
        (
            ("TOKENGATE_STORE__URL__X", "1"),
            "$TOKENGATE_STORE__URL__X: store.url.x: `store.url` is a string, not a table",
        ),
        (
            ("TOKENGATE_PUBLIC____X", "1"),
            "$TOKENGATE_PUBLIC____X: public____x: an empty part",
        ),
        (
            ("TOKENGATE_0__X", "1"),
            "$TOKENGATE_0__X: 0__x: the key path starts with a section name",
        ),
    ];
    for ((name, value), expected) in cases {
        let err = EnvOverrides::from_vars([(name, value)])
            .and_then(|env| {
                Config::from_toml_with_env(FILE, Some(std::path::Path::new("t.toml")), &env)
            })
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.variable(), Some(name), "{err}");
        assert!(err.to_string().starts_with(expected), "{name}: {err}");
    }
}

#[test]
fn the_files_own_errors_keep_naming_the_file_and_position() {
    let env = EnvOverrides::from_vars([("TOKENGATE_PUBLIC__CACHE_TTL_SECS", "7")]).unwrap();
    let err = Config::from_toml_with_env(
        "[public]\nrealm = \"a\\\"b\"\n",
        Some(std::path::Path::new("t.toml")),
        &env,
    )
    .unwrap_err();
    assert_eq!(err.variable(), None);
    assert!(
        err.to_string().starts_with("t.toml: public.realm: "),
        "{err}"
    );
    let err = Config::from_toml_with_env("[public\n", Some(std::path::Path::new("t.toml")), &env)
        .unwrap_err();
    assert!(err.to_string().starts_with("t.toml:1:"), "{err}");
}

#[test]
fn variables_without_a_separator_are_not_overrides() {
    let env = EnvOverrides::from_vars([
        ("TOKENGATE_PEPPER", "x"),
        ("TOKENGATE_ADMIN_KEY", "x"),
        ("OTHER__KEY", "x"),
    ])
    .unwrap();
    assert!(env.is_empty());
}
