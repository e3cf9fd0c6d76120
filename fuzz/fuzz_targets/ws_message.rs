//! WebSocket client messages: any text is a message or a refusal naming an action.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onboard_server::feed::protocol;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(refusal) = protocol::parse(text) {
        assert!(!refusal.action.is_empty() && !refusal.message.is_empty());
    }
});
