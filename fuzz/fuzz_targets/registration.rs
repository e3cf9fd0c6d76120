//! `POST /v1/enterprise/register-account` bodies: any JSON value must be either a
//! registration or a list of field problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onboard_core::registration::Registration;
use time::macros::date;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    match Registration::parse(body, date!(2025 - 06 - 02)) {
        Ok(_) => {}
        Err(problems) => assert!(!problems.is_empty(), "a refusal names its problems"),
    }
});
