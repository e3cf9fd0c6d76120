//! `onboard serve --config` files: any text is a configuration or a sentence.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onboard_cli::config::FileConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = FileConfig::parse(text) {
        assert!(!format!("{e:#}").is_empty());
    }
});
