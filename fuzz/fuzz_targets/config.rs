//! Config parsing: any text. Never a panic; every error names a key or a position.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokengate::server::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = Config::from_toml(text, None) {
        assert!(
            e.key().is_some() || e.position().is_some(),
            "an error that says neither where nor what: {e}"
        );
        let _ = e.to_string();
    }
});
