//! The small request bodies beside registration (CONTRACT §2), read with the same
//! all-problems-at-once reader.

use onboard_api::FieldProblem;
use serde_json::Value;

use crate::reader::{Obj, Problems};
use crate::values::ValueError;
use crate::verification::{Channel, parse_otp};

/// The most user ids one `POST /v1/enterprise/user-tokens` may name.
pub const MAX_TOKENS_PER_CALL: usize = 1000;

fn read<T>(body: Value, f: impl FnOnce(&mut Obj) -> Option<T>) -> Result<T, Vec<FieldProblem>> {
    let problems = Problems::default();
    let value = Obj::new(body, "", &problems).and_then(|mut o| {
        let value = f(&mut o);
        o.finish();
        value
    });
    match value {
        Some(v) if problems.is_empty() => Ok(v),
        _ => Err(problems.into_vec()),
    }
}

/// `{"type": "email" | "sms"}` of send-verification.
pub fn send_request(body: Value) -> Result<Channel, Vec<FieldProblem>> {
    read(body, |o| o.req("type", Channel::parse))
}

/// `{"type": …, "otp": "123456"}` of verify.
pub fn verify_request(body: Value) -> Result<(Channel, String), Vec<FieldProblem>> {
    read(body, |o| {
        let channel = o.req("type", Channel::parse);
        let otp = o.req("otp", parse_otp);
        Some((channel?, otp?))
    })
}

/// `{"data": ["<user_id>", …]}` of the multi-user token call.
pub fn token_request(body: Value) -> Result<Vec<String>, Vec<FieldProblem>> {
    read(body, |o| {
        let Some(Value::Array(items)) = o.take("data") else {
            o.report("data", "must be an array of user ids");
            return None;
        };
        if items.is_empty() || items.len() > MAX_TOKENS_PER_CALL {
            o.report(
                "data",
                format!(
                    "must list 1 to {MAX_TOKENS_PER_CALL} user ids, not {}",
                    items.len()
                ),
            );
            return None;
        }
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Value::String(id) => ids.push(id),
                _ => o.report(
                    &format!("data[{i}]"),
                    ValueError::Rule("must be a string".into()).to_string(),
                ),
            }
        }
        Some(ids)
    })
}
