//! List cursor decoding: any text a client sends as `cursor` is refused or opens
//! to the position it was sealed with, and never panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use onboard_core::service::Cursor;
use onboard_core::store::EnterpriseId;

const KEY: [u8; 32] = [7; 32];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(cursor) = Cursor::open_with(&KEY, EnterpriseId(1), text) {
        // Whatever opens must be exactly what sealing that position gives back
        // under the same nonce: no other text may pass the tag.
        let nonce: [u8; 8] = hex_nonce(text);
        assert_eq!(cursor.seal_with(&KEY, EnterpriseId(1), nonce), text);
        assert_eq!(Cursor::open_with(&KEY, EnterpriseId(2), text), None);
    }
});

fn hex_nonce(text: &str) -> [u8; 8] {
    let mut nonce = [0u8; 8];
    for (i, byte) in nonce.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[1 + 2 * i..3 + 2 * i], 16).unwrap();
    }
    nonce
}
