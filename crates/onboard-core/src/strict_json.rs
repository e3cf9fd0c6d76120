//! JSON as clients send it, read strictly (CONTRACT §1): an object that names
//! one key twice is refused. `serde_json` keeps the last of them, while a
//! validator or firewall in front of the server may keep the first; refusing
//! the request keeps both readings the same.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a text is not JSON the server takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all; where the reading stopped.
    Syntax { line: usize, column: usize },
    /// An object names this key twice.
    DuplicateKey(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Syntax { line, column } => {
                write!(f, "it is not valid JSON (line {line}, column {column})")
            }
            JsonError::DuplicateKey(key) => {
                write!(f, "an object names the key {key:?} more than once")
            }
        }
    }
}

/// The longest key a [`JsonError::DuplicateKey`] repeats, in characters.
const KEY_SHOWN: usize = 64;

/// Parses `bytes` as one JSON value, refusing an object with a repeated key.
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let duplicate = RefCell::new(None);
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let read = Strict(&duplicate)
        .deserialize(&mut reader)
        .and_then(|value| reader.end().map(|()| value));
    read.map_err(|e| match duplicate.into_inner() {
        Some(key) => JsonError::DuplicateKey(key),
        None => JsonError::Syntax {
            line: e.line(),
            column: e.column(),
        },
    })
}

/// [`parse`] of a text.
pub fn parse_str(text: &str) -> Result<Value, JsonError> {
    parse(text.as_bytes())
}

/// Builds a [`Value`], noting the first repeated key in the cell.
#[derive(Clone, Copy)]
struct Strict<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                let shown: String = key.chars().take(KEY_SHOWN).collect();
                *self.0.borrow_mut() = Some(shown);
                return Err(de::Error::custom("duplicate key"));
            }
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_reads_as_serde_json_reads_it() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":18446744073709551615}"#;
        assert_eq!(
            parse_str(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn a_repeated_key_at_any_depth_is_named() {
        assert_eq!(
            parse_str(r#"{"user_id":"a","user_id":"b"}"#),
            Err(JsonError::DuplicateKey("user_id".into()))
        );
        assert_eq!(
            parse_str(r#"[{"x":{"k":1,"k":2}}]"#),
            Err(JsonError::DuplicateKey("k".into()))
        );
        // The same key in two objects is no repetition.
        assert!(parse_str(r#"[{"k":1},{"k":2}]"#).is_ok());
    }

    #[test]
    fn broken_json_and_trailing_text_say_where() {
        assert_eq!(
            parse_str("{\"a\":\n tru}"),
            Err(JsonError::Syntax { line: 2, column: 5 })
        );
        assert!(matches!(parse_str("{} {}"), Err(JsonError::Syntax { .. })));
    }
}
