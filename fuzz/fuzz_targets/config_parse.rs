//! Fuzzes the config parser and the manifest reader with arbitrary text. Besides "never panics", it
//! checks a property: any config the parser accepts renders to text that parses back to the same config.
//!
//! Seed it with the fixtures: `cargo fuzz run config_parse <corpus-dir> ../config/tests/data`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = ferrolb_config::parse(text) {
        let rendered = ferrolb_config::render(&config).expect("a parsed config is legacy-expressible");
        let again = ferrolb_config::parse(&rendered);
        assert_eq!(again.as_ref(), Ok(&config), "round trip failed; rendered:\n{rendered}");
    }
    if let Ok(found) = ferrolb_config::manifest::extract_config(text) {
        let _ = ferrolb_config::parse_with_warnings(&found.text);
    }
});
