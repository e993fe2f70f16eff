//! The documentation is checked against the files and the code it describes:
//!
//! - every relative link in `README.md` and `docs/*.md` reaches a file, and a heading of it
//!   when it names one (`docs/_incoming/` is the lead's inbox, not yet published);
//! - every key the configuration parser accepts (the fields of the `Deserialize` structs under
//!   `src/server/config/` and `src/tls/server.rs`) and every key of the shipped example files
//!   is a row of its section's table in `docs/configuration.md`;
//! - the defaults written there are the parser's defaults, and the complete file there loads;
//! - every TOML example in them loads as a configuration;
//! - the metrics of `docs/operations.md` are the names the exporter (`src/server/`) writes;
//! - `docs/cli.md` has a `sh` example line of every command the binary's `--help` lists;
//! - the README's quick start names files that exist, and its test command is the one `.ci/run`
//!   runs;
//! - `CHANGELOG.md` keeps the keep-a-changelog form (one `[Unreleased]`, each kind once).
#![cfg(feature = "cli")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use tokengate::server::config::{Config, LimitSetting, DEFAULT_FAILED_AUTH_LIMIT};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One Markdown file, as far as these checks read it.
struct Doc {
    path: PathBuf,
    /// GitHub's anchors of the headings (`## Behind a proxy: \`trusted_proxies\`` is
    /// `behind-a-proxy-trusted_proxies`).
    anchors: BTreeSet<String>,
    /// The link destinations, in order.
    links: Vec<String>,
    /// The headings' text (code spans without their backticks), in order, with their level.
    headings: Vec<(HeadingLevel, String)>,
    /// Table body rows: the text of the heading above, and each cell's Markdown source.
    rows: Vec<(String, Vec<String>)>,
    /// Fenced code blocks: the info string and the content.
    code: Vec<(String, String)>,
}

/// GitHub's heading anchor: lower case, letters, digits, `-` and `_` kept, spaces as `-`,
/// anything else dropped; a repeated anchor gets `-1`, `-2`, ….
fn slug(text: &str, seen: &mut BTreeMap<String, usize>) -> String {
    let base: String = text
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect();
    let count = seen.entry(base.clone()).or_insert(0);
    let anchor = if *count == 0 {
        base.clone()
    } else {
        format!("{base}-{count}")
    };
    *count += 1;
    anchor
}

fn read_doc(path: &Path) -> Doc {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut doc = Doc {
        path: path.to_path_buf(),
        anchors: BTreeSet::new(),
        links: Vec::new(),
        headings: Vec::new(),
        rows: Vec::new(),
        code: Vec::new(),
    };
    let mut seen = BTreeMap::new();
    let mut heading: Option<(HeadingLevel, String)> = None;
    let mut section = String::new();
    let mut row: Option<Vec<String>> = None;
    let mut block: Option<(String, String)> = None;
    for (event, range) in Parser::new_ext(&text, Options::ENABLE_TABLES).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => heading = Some((level, String::new())),
            Event::End(TagEnd::Heading(_)) => {
                let (level, title) = heading.take().expect("a heading ends after it starts");
                doc.anchors.insert(slug(&title, &mut seen));
                section = title.clone();
                doc.headings.push((level, title));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, title)) = heading.as_mut() {
                    title.push_str(&t);
                }
                if let Some((_, body)) = block.as_mut() {
                    body.push_str(&t);
                }
            }
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => doc.links.push(dest_url.to_string()),
            Event::Start(Tag::TableRow) => row = Some(Vec::new()),
            Event::Start(Tag::TableCell) => {
                if let Some(cells) = row.as_mut() {
                    let cell = text[range].trim().trim_matches('|').trim();
                    cells.push(cell.to_owned());
                }
            }
            Event::End(TagEnd::TableRow) => doc.rows.push((
                section.clone(),
                row.take().expect("a row ends after it starts"),
            )),
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                block = Some((info.to_string(), String::new()))
            }
            Event::End(TagEnd::CodeBlock) => doc.code.extend(block.take()),
            _ => {}
        }
    }
    doc
}

/// `README.md` and `docs/*.md`.
fn published_docs() -> Vec<Doc> {
    let mut paths = vec![root().join("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 10, "docs/ has its pages: {pages:?}");
    paths.extend(pages);
    paths.iter().map(|path| read_doc(path)).collect()
}

#[test]
fn relative_links_reach_existing_files_and_headings() {
    let docs = published_docs();
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        for link in &doc.links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = link.split_once('#').unwrap_or((link.as_str(), ""));
            let target = if file.is_empty() {
                doc.path.clone()
            } else {
                doc.path.parent().unwrap().join(file)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", doc.path.display()));
                continue;
            }
            if !anchor.is_empty() && target.extension().is_some_and(|ext| ext == "md") {
                let anchors = read_doc(&target).anchors;
                if !anchors.contains(anchor) {
                    broken.push(format!(
                        "{}: {link}: no heading `#{anchor}` in {}",
                        doc.path.display(),
                        target.display()
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked > 50, "the links were found ({checked})");
}

/// The `pub` fields of `struct name` in the Rust source `text`, but `#[serde(skip)]` ones.
fn struct_fields(text: &str, name: &str) -> Vec<String> {
    let start = text
        .find(&format!("pub struct {name} {{"))
        .unwrap_or_else(|| panic!("struct {name} not found"));
    let body = &text[start..];
    let body = &body[..body.find("\n}").expect("the struct ends")];
    let mut fields = Vec::new();
    let mut skip = false;
    for line in body.lines().skip(1).map(str::trim) {
        if line.starts_with("#[serde(skip") {
            skip = true;
        } else if let Some(rest) = line.strip_prefix("pub ") {
            if let Some((field, _)) = rest.split_once(':') {
                if !skip {
                    fields.push(field.trim().to_owned());
                }
            }
            skip = false;
        }
    }
    assert!(!fields.is_empty(), "struct {name} has fields");
    fields
}

/// The configuration reference.
fn configuration() -> Doc {
    read_doc(&root().join("docs/configuration.md"))
}

/// The keys of the table under heading `section` (the first cell's code span).
fn documented_keys(doc: &Doc, section: &str) -> BTreeMap<String, Vec<String>> {
    doc.rows
        .iter()
        .filter(|(heading, _)| heading == section)
        .filter_map(|(_, cells)| {
            let key = cells.first()?.strip_prefix('`')?.strip_suffix('`')?;
            Some((key.to_owned(), cells.clone()))
        })
        .collect()
}

/// Where each configuration struct is documented: (source file, struct, heading).
const STRUCTS: [(&str, &str, &str); 13] = [
    ("src/server/config/store.rs", "StoreConfig", "[store]"),
    ("src/server/config/admin.rs", "AdminConfig", "[admin]"),
    (
        "src/server/config/admin.rs",
        "Credential",
        "Admin credentials",
    ),
    ("src/server/config/public.rs", "PublicConfig", "[public]"),
    ("src/server/config/public.rs", "ScopeRule", "Scope rules"),
    (
        "src/server/config/public.rs",
        "CustomHeaders",
        "Identity headers",
    ),
    ("src/server/config/cors.rs", "CorsConfig", "CORS"),
    ("src/server/config/log.rs", "LogConfig", "[log]"),
    (
        "src/server/config/services.rs",
        "ServiceConfig",
        "[[services]]",
    ),
    (
        "src/server/config/clients.rs",
        "ClientConfig",
        "[[clients]]",
    ),
    ("src/server/config/routes.rs", "RouteConfig", "[[routes]]"),
    ("src/server/config/limits.rs", "RateConfig", "Rates"),
    ("src/tls/server.rs", "TlsFiles", "TLS files"),
];

#[test]
fn every_key_the_parser_accepts_is_documented_in_its_section() {
    let doc = configuration();
    let mut missing = Vec::new();
    for (file, name, section) in STRUCTS {
        let source = std::fs::read_to_string(root().join(file)).unwrap();
        let documented = documented_keys(&doc, section);
        for field in struct_fields(&source, name) {
            if !documented.contains_key(&field) {
                missing.push(format!("{name}.{field} (from {file}) under `{section}`"));
            }
        }
    }
    // The top-level sections: one heading each.
    let source = std::fs::read_to_string(root().join("src/server/config/mod.rs")).unwrap();
    let headings: BTreeSet<&str> = doc.headings.iter().map(|(_, h)| h.as_str()).collect();
    for section in struct_fields(&source, "Config") {
        if !headings.contains(format!("[{section}]").as_str())
            && !headings.contains(format!("[[{section}]]").as_str())
        {
            missing.push(format!("section `{section}`: no heading"));
        }
    }
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md:\n{}",
        missing.join("\n")
    );
}

/// The `(section, key)` pairs of a TOML file, commented-out `# key = value` lines too (the
/// example files show optional keys that way); inline tables count as their key.
fn example_keys(text: &str) -> Vec<(String, String)> {
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let uncommented = line.strip_prefix("# ").unwrap_or(line);
        if let Some(name) = uncommented.strip_prefix('[') {
            if line == uncommented || name.ends_with(']') {
                section = uncommented.split_whitespace().next().unwrap().to_owned();
            }
            continue;
        }
        // A line that is one key and its value (not prose that has a ` = ` in it).
        let Ok(table) = uncommented.parse::<toml::Table>() else {
            continue;
        };
        keys.extend(table.keys().map(|key| (section.clone(), key.clone())));
    }
    keys
}

#[test]
fn every_key_of_the_example_files_is_documented() {
    let doc = configuration();
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in ["tokengate.example.toml", "examples/multi_api.toml"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        for (section, key) in example_keys(&text) {
            seen += 1;
            if !documented_keys(&doc, &section).contains_key(&key) {
                missing.push(format!("{file}: {section} {key}"));
            }
        }
    }
    assert!(seen > 40, "the example keys were read ({seen})");
    assert!(
        missing.is_empty(),
        "not in docs/configuration.md:\n{}",
        missing.join("\n")
    );
}

/// A default cell holding one TOML literal (`` `30` ``, `` `"reject"` (400) ``), if it does.
fn literal_default(cell: &str) -> Option<&str> {
    let rest = cell.strip_prefix('`')?;
    let (literal, after) = rest.split_once('`')?;
    (after.is_empty() || after.starts_with(" (")).then_some(literal)
}

/// `failed_auth_limit` written as the default rate is the default, however spelled.
fn normalised(setting: LimitSetting) -> LimitSetting {
    match setting.rate(Some(DEFAULT_FAILED_AUTH_LIMIT), "x") {
        Ok(Some(rate)) if rate == DEFAULT_FAILED_AUTH_LIMIT => LimitSetting::Default,
        _ => setting,
    }
}

/// The documented section as the parser reads it, for comparison with its defaults.
fn section_debug(config: &Config, section: &str) -> String {
    match section {
        "[store]" => format!("{:?}", config.store),
        "[admin]" => {
            let mut admin = config.admin.clone();
            admin.failed_auth_limit = normalised(admin.failed_auth_limit);
            format!("{admin:?}")
        }
        "[public]" => {
            let mut public = config.public.clone();
            public.failed_auth_limit = normalised(public.failed_auth_limit);
            format!("{public:?}")
        }
        "[log]" => format!("{:?}", config.log),
        "[[services]]" => format!("{:?}", config.services[0].to_service("s").unwrap()),
        "[[clients]]" => format!("{:?}", config.clients[0].to_client("c").unwrap()),
        other => unreachable!("{other}"),
    }
}

#[test]
fn documented_defaults_are_the_parsers_defaults() {
    let doc = configuration();
    let mut wrong = Vec::new();
    let mut compared = 0;
    for (section, header, required) in [
        ("[store]", "[store]", ""),
        ("[admin]", "[admin]", ""),
        ("[public]", "[public]", ""),
        ("[log]", "[log]", ""),
        ("[[services]]", "[[services]]", "key = \"svc\"\n"),
        (
            "[[clients]]",
            "[[clients]]",
            "id = 1\nclient_id = \"c\"\nname = \"C\"\n",
        ),
    ] {
        let minimal = format!("{header}\n{required}");
        let defaults = Config::from_toml(&minimal, None).unwrap();
        for (key, cells) in documented_keys(&doc, section) {
            let Some(literal) = cells.get(1).and_then(|cell| literal_default(cell)) else {
                continue;
            };
            let text = format!("{minimal}{key} = {literal}\n");
            let config = Config::from_toml(&text, None)
                .unwrap_or_else(|e| panic!("{section} {key} = {literal}: {e}"));
            compared += 1;
            if section_debug(&config, section) != section_debug(&defaults, section) {
                wrong.push(format!("{section} {key}: documented default {literal}"));
            }
        }
    }
    assert!(compared > 40, "the defaults were compared ({compared})");
    assert!(
        wrong.is_empty(),
        "documented defaults that are not the defaults:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_complete_file_loads_and_names_every_key() {
    let doc = configuration();
    let start = doc
        .headings
        .iter()
        .position(|(_, h)| h == "A complete file")
        .expect("a complete file section");
    assert_eq!(start, doc.headings.len() - 1, "it is the last section");
    let (_, complete) = doc
        .code
        .iter()
        .rev()
        .find(|(info, _)| info == "toml")
        .expect("the complete file");
    let config = Config::from_toml(complete, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.routes.len(), 1);
    let written: BTreeSet<(String, String)> = example_keys(complete).into_iter().collect();
    let mut missing = Vec::new();
    for section in [
        "[store]",
        "[admin]",
        "[public]",
        "[log]",
        "[[services]]",
        "[[clients]]",
        "[[routes]]",
    ] {
        for key in documented_keys(&doc, section).into_keys() {
            let name = section.trim_matches(|c| c == '[' || c == ']');
            if !written.contains(&(section.to_owned(), key.clone())) {
                missing.push(format!("{name}.{key}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys of the tables missing from the complete file:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_readme_quick_start_is_what_ci_runs() {
    let readme = read_doc(&root().join("README.md"));
    let (_, quick_start) = readme
        .code
        .iter()
        .find(|(info, _)| info == "sh")
        .expect("the quick start");
    let commands: Vec<&str> = quick_start
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split(" #").next().unwrap().trim())
        .collect();
    assert_eq!(commands.len(), 2, "two commands: {commands:?}");
    let serve = commands[0];
    let config = serve
        .split_once("--config ")
        .map(|(_, rest)| rest.split_whitespace().next().unwrap())
        .expect("serve names its config");
    assert!(serve.contains(" serve "), "{serve}");
    assert!(root().join(config).exists(), "{config}");
    let text = std::fs::read_to_string(root().join(config)).unwrap();
    let example = Config::from_toml(&text, None).unwrap();
    assert!(
        example.store.url.starts_with("sqlite://"),
        "the quick start runs on the embedded SQLite store"
    );
    let test = commands[1];
    let ci = std::fs::read_to_string(root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|line| line.trim() == test),
        "`.ci/run` runs the README's test command `{test}`"
    );
}

#[test]
fn the_readme_quick_start_over_https_is_the_tls_guide_s_and_the_one_tested() {
    let blocks = |path: &str| -> Vec<String> {
        read_doc(&root().join(path))
            .code
            .into_iter()
            .filter(|(info, text)| info == "sh" && text.contains("cert self-signed"))
            .map(|(_, text)| text)
            .collect()
    };
    let readme = blocks("README.md");
    assert_eq!(readme.len(), 1, "one https quick start in the README");
    assert_eq!(
        readme,
        blocks("docs/tls.md"),
        "the README's https quick start is docs/tls.md's"
    );
    let lines: Vec<&str> = readme[0].lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    // What tls_listeners::the_quick_start_runs_over_https_with_a_generated_certificate runs.
    assert!(
        lines[0].ends_with(" -- cert self-signed --out-cert dev-cert.pem --out-key dev-key.pem")
    );
    assert!(lines[1].ends_with(
        " -- serve --config tokengate.example.toml --tls-cert dev-cert.pem --tls-key dev-key.pem"
    ));
    let tested = std::fs::read_to_string(root().join("tests/tls_listeners.rs")).unwrap();
    for args in [
        r#"["cert", "self-signed", "--out-cert", "dev-cert.pem"]"#,
        r#"["--out-key", "dev-key.pem"]"#,
        r#"include_str!("../tokengate.example.toml")"#,
        r#"["--tls-cert", "dev-cert.pem", "--tls-key", "dev-key.pem"]"#,
    ] {
        assert!(
            tested.contains(args),
            "the https quick start's test runs {args}"
        );
    }
}

#[test]
fn the_changelog_keeps_the_keep_a_changelog_form() {
    let changelog = read_doc(&root().join("CHANGELOG.md"));
    const KINDS: [&str; 6] = [
        "Added",
        "Changed",
        "Deprecated",
        "Removed",
        "Fixed",
        "Security",
    ];
    let mut versions: Vec<(String, Vec<String>)> = Vec::new();
    for (level, text) in &changelog.headings {
        match level {
            HeadingLevel::H1 => assert_eq!(text, "Changelog"),
            HeadingLevel::H2 => versions.push((text.clone(), Vec::new())),
            HeadingLevel::H3 => {
                let (version, kinds) = versions.last_mut().expect("a version above");
                assert!(KINDS.contains(&text.as_str()), "{version}: `### {text}`");
                assert!(!kinds.contains(text), "{version}: two `### {text}` blocks");
                if let Some(last) = kinds.last() {
                    let order = |k: &str| KINDS.iter().position(|x| *x == k);
                    assert!(
                        order(last) < order(text),
                        "{version}: `### {text}` after `### {last}`"
                    );
                }
                kinds.push(text.clone());
            }
            other => panic!("a {other:?} heading `{text}`"),
        }
    }
    assert_eq!(
        versions[0].0, "[Unreleased]",
        "the first section is [Unreleased]"
    );
    assert_eq!(
        versions.iter().filter(|(v, _)| v == "[Unreleased]").count(),
        1,
        "one [Unreleased]"
    );
    for (version, _) in &versions[1..] {
        // `[1.2.3] - 2026-12-03`
        let (number, date) = version.split_once("] - ").expect("`[version] - date`");
        assert!(number.starts_with('[') && date.len() == 10, "{version}");
    }
}

#[test]
fn every_configuration_example_loads() {
    let mut failures = Vec::new();
    let mut loaded = 0;
    for doc in published_docs() {
        for (info, block) in &doc.code {
            // A Cargo manifest fragment says so in its first line.
            if info != "toml" || block.starts_with("# Cargo.toml") {
                continue;
            }
            // Without the feature, a PostgreSQL URL is (rightly) a configuration error.
            if !cfg!(feature = "postgres") && block.contains("postgres://") {
                continue;
            }
            match Config::from_toml(block, None) {
                Ok(_) => loaded += 1,
                Err(e) => failures.push(format!("{}:\n{block}\n→ {e}", doc.path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(loaded >= 5, "the examples were found ({loaded})");
}

/// The metric names (`tokengate_…`, `process_…`) in `text`: string literals when `quoted` (the
/// exporter's source), else whole words (the documentation's prose).
fn metric_names(text: &str, quoted: bool) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for family in ["tokengate_", "process_"] {
        let needle = if quoted {
            format!("\"{family}")
        } else {
            family.to_owned()
        };
        for (at, _) in text.match_indices(&needle) {
            let before = text[..at].chars().next_back();
            if !quoted && before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let start = at + usize::from(quoted);
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    names
}

#[test]
fn the_metrics_documented_are_the_metrics_exported() {
    let mut exported = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("src/server")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            exported.extend(metric_names(&std::fs::read_to_string(path).unwrap(), true));
        }
    }
    assert!(
        exported.len() > 25,
        "the metric names were found: {exported:?}"
    );
    let operations = std::fs::read_to_string(root().join("docs/operations.md")).unwrap();
    let documented = metric_names(&operations, false);
    let undocumented: Vec<_> = exported.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&exported).collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "exported but not in docs/operations.md: {undocumented:?}; \
         in docs/operations.md but not exported: {unknown:?}"
    );
}

/// The commands of `tokengate` without subcommands of their own (`serve`, `client
/// rotate-secret`, `cert self-signed`, …) under `path`, read from the binary's `--help`.
fn leaf_commands(path: &[String]) -> Vec<String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(path)
        .arg("--help")
        .env_remove("TOKENGATE_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{path:?} --help: {out:?}");
    let help = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = help
        .lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .filter_map(|line| line.strip_prefix("  ").filter(|l| !l.starts_with(' ')))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    if names.is_empty() {
        return vec![path.join(" ")];
    }
    names
        .iter()
        .flat_map(|name| leaf_commands(&[path, &[(*name).to_owned()]].concat()))
        .collect()
}

#[test]
fn the_cli_page_has_an_example_of_every_command() {
    let commands = leaf_commands(&[]);
    for expected in [
        "serve",
        "client rotate-secret",
        "service update",
        "token revoke",
    ] {
        assert!(commands.iter().any(|c| c == expected), "{commands:?}");
    }
    let page = read_doc(&root().join("docs/cli.md"));
    let examples: Vec<&str> = page
        .code
        .iter()
        .filter(|(info, _)| info == "sh")
        .flat_map(|(_, body)| body.lines())
        .filter_map(|line| line.trim().strip_prefix("tokengate "))
        .collect();
    let missing: Vec<&String> = commands
        .iter()
        .filter(|command| {
            !examples.iter().any(|line| {
                line.strip_prefix(command.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            })
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/cli.md has no `sh` example line `tokengate COMMAND …` of {missing:?}"
    );
}
