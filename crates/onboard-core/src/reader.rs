//! Reading untyped JSON into typed values while collecting *every* problem.
//!
//! `serde`'s derive stops at the first error; CONTRACT §1 wants all of them at once
//! (missing fields, wrong JSON types, bad values and unknown fields alike), each with
//! the dotted path of the field. An [`Obj`] walks one JSON object: each `req`/`opt`
//! call removes a field and parses it with a value constructor, and
//! [`Obj::finish`] reports whatever is left over as unknown.

use std::cell::RefCell;

use onboard_api::FieldProblem;
use serde_json::{Map, Value};

use crate::values::ValueError;

/// The problems found so far in one request.
#[derive(Debug, Default)]
pub struct Problems(RefCell<Vec<FieldProblem>>);

impl Problems {
    pub fn push(&self, field: impl Into<String>, message: impl Into<String>) {
        self.0.borrow_mut().push(FieldProblem {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldProblem> {
        self.0.into_inner()
    }
}

/// One JSON object being read; `path` prefixes every field name it reports.
pub struct Obj<'p> {
    map: Map<String, Value>,
    path: String,
    problems: &'p Problems,
}

impl<'p> Obj<'p> {
    /// Starts reading `value`, which must be a JSON object (else a problem at `path`).
    pub fn new(value: Value, path: &str, problems: &'p Problems) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Obj {
                map,
                path: path.to_owned(),
                problems,
            }),
            _ => {
                let field = if path.is_empty() { "body" } else { path };
                problems.push(field, "must be a JSON object");
                None
            }
        }
    }

    pub fn problems(&self) -> &'p Problems {
        self.problems
    }

    /// The dotted path of one of this object's fields.
    pub fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// Records a problem against one of this object's fields.
    pub fn report(&self, name: &str, message: impl Into<String>) {
        self.problems.push(self.path_of(name), message);
    }

    /// Removes a field; JSON `null` counts as absent.
    /// Whether the field was sent at all (`null` included).
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    /// A required string field, parsed by `parse`.
    pub fn req<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<T> {
        match self.take(name) {
            None => {
                self.report(name, "is required");
                None
            }
            Some(value) => self.parse_string(name, value, parse),
        }
    }

    /// An optional string field: `Some(None)` when absent or null, `None` when invalid.
    pub fn opt<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<Option<T>> {
        match self.take(name) {
            None => Some(None),
            Some(value) => self.parse_string(name, value, parse).map(Some),
        }
    }

    /// An optional boolean; absent or null reads as `false`.
    pub fn flag(&mut self, name: &str) -> Option<bool> {
        match self.take(name) {
            None => Some(false),
            Some(Value::Bool(b)) => Some(b),
            Some(_) => {
                self.report(name, "must be true or false");
                None
            }
        }
    }

    fn parse_string<T>(
        &self,
        name: &str,
        value: Value,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Option<T> {
        let Value::String(text) = value else {
            self.report(name, "must be a string");
            return None;
        };
        parse(&text)
            .map_err(|e| self.report(name, e.to_string()))
            .ok()
    }

    /// The names of the fields not taken yet.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }

    /// Ends the read: every field nobody asked for is reported as unknown.
    pub fn finish(self) {
        for name in self.map.keys() {
            self.problems
                .push(self.path_of(name), "is not a recognised field");
        }
    }
}
