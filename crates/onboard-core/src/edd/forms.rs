//! The text fields of the two upload forms (CONTRACT §7), read against the
//! names of the files that came with them; every problem at once.
//!
//! - legacy `POST /v1/enterprise/ddq/upload`: `user_id`, `file_types` (file
//!   name → `ID` | `PoR`, naming every file and only those), optional `ddq_id`;
//! - `POST /v1/files/verification`: `data`, a `{"filename", "document_type"}`
//!   object or an array of them, describing every file and only those.

use std::collections::{BTreeMap, BTreeSet};

use onboard_api::FieldProblem;
use serde_json::Value;

use super::{DOCUMENT_TYPES, Form, LEGACY_FILE_TYPES, check_filename};
use crate::reader::Problems;
use crate::values::UserId;

/// A checked legacy upload form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyForm {
    pub user_id: UserId,
    pub ddq_id: Option<i64>,
    /// The document type of each file, in the order of `filenames`.
    pub types: Vec<String>,
}

/// A checked user-token upload form: the document type of each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationForm {
    pub types: Vec<String>,
}

/// The value of a text field that must appear at most once.
fn single<'a>(texts: &'a [(String, String)], name: &str, problems: &Problems) -> Option<&'a str> {
    let mut found = texts.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
    let first = found.next()?;
    if found.next().is_some() {
        problems.push(name, "must be sent once");
    }
    Some(first.as_str())
}

/// The problems every upload shares: at least one file, plain unique names.
fn check_files(filenames: &[String], problems: &Problems) {
    if filenames.is_empty() {
        problems.push("files", "must hold at least one file");
    }
    let mut seen = BTreeSet::new();
    for name in filenames {
        if let Err(why) = check_filename(name) {
            problems.push("files", why);
        } else if !seen.insert(name.as_str()) {
            problems.push("files", format!("{name} is sent more than once"));
        }
    }
}

fn done<T>(value: T, problems: Problems) -> Result<T, Vec<FieldProblem>> {
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(problems.into_vec())
    }
}

impl LegacyForm {
    pub fn parse(
        texts: &[(String, String)],
        filenames: &[String],
    ) -> Result<LegacyForm, Vec<FieldProblem>> {
        let problems = Problems::default();
        check_files(filenames, &problems);
        let user_id = match single(texts, "user_id", &problems) {
            None => {
                problems.push("user_id", "is required");
                None
            }
            Some(text) => UserId::parse(text)
                .map_err(|e| problems.push("user_id", e.to_string()))
                .ok(),
        };
        let ddq_id = single(texts, "ddq_id", &problems).and_then(|text| {
            let form = text.trim().parse::<i64>().ok().and_then(Form::from_ddq_id);
            if form.is_none() {
                let ids: Vec<String> = Form::ALL.iter().map(|f| f.ddq_id().to_string()).collect();
                problems.push("ddq_id", format!("must be one of: {}", ids.join(", ")));
            }
            form.map(Form::ddq_id)
        });
        let types = match single(texts, "file_types", &problems) {
            None => {
                problems.push("file_types", "is required");
                Vec::new()
            }
            Some(text) => legacy_types(text, filenames, &problems),
        };
        match user_id {
            Some(user_id) => done(
                LegacyForm {
                    user_id,
                    ddq_id,
                    types,
                },
                problems,
            ),
            None => Err(problems.into_vec()),
        }
    }
}

/// `file_types`: a JSON object naming every file (with its extension) as `ID`
/// or `PoR`, and nothing else.
fn legacy_types(text: &str, filenames: &[String], problems: &Problems) -> Vec<String> {
    let parsed = crate::strict_json::parse_str(text);
    if let Err(e @ crate::strict_json::JsonError::DuplicateKey(_)) = &parsed {
        problems.push("file_types", format!("is refused: {e}"));
        return Vec::new();
    }
    let Ok(Value::Object(map)) = parsed else {
        problems.push(
            "file_types",
            "must be a JSON object mapping each file name to ID or PoR",
        );
        return Vec::new();
    };
    let mut types = BTreeMap::new();
    for (name, value) in &map {
        let kind = value.as_str().and_then(|v| {
            LEGACY_FILE_TYPES
                .iter()
                .find(|t| t.eq_ignore_ascii_case(v.trim()))
        });
        match kind {
            Some(kind) => {
                types.insert(name.as_str(), (*kind).to_owned());
            }
            None => {
                // Described, if wrongly: the one problem is its type.
                types.insert(name.as_str(), String::new());
                problems.push(format!("file_types.{name}"), "must be ID or PoR");
            }
        }
        if !filenames.iter().any(|f| f == name) {
            problems.push(format!("file_types.{name}"), "names no file of this upload");
        }
    }
    described(filenames, &types, "file_types", problems)
}

/// The type of each file, reporting the files left undescribed.
fn described(
    filenames: &[String],
    types: &BTreeMap<&str, String>,
    field: &str,
    problems: &Problems,
) -> Vec<String> {
    filenames
        .iter()
        .map(|name| match types.get(name.as_str()) {
            Some(kind) => kind.clone(),
            None => {
                problems.push(field, format!("does not describe the file {name}"));
                String::new()
            }
        })
        .collect()
}

impl VerificationForm {
    pub fn parse(
        texts: &[(String, String)],
        filenames: &[String],
    ) -> Result<VerificationForm, Vec<FieldProblem>> {
        let problems = Problems::default();
        check_files(filenames, &problems);
        let types = match single(texts, "data", &problems) {
            None => {
                problems.push("data", "is required");
                Vec::new()
            }
            Some(text) => verification_types(text, filenames, &problems),
        };
        done(VerificationForm { types }, problems)
    }
}

/// `data`: one `{"filename", "document_type"}` object or an array of them.
fn verification_types(text: &str, filenames: &[String], problems: &Problems) -> Vec<String> {
    let entries = match crate::strict_json::parse_str(text) {
        Ok(Value::Array(items)) => items,
        Ok(item @ Value::Object(_)) => vec![item],
        Err(e @ crate::strict_json::JsonError::DuplicateKey(_)) => {
            problems.push("data", format!("is refused: {e}"));
            return Vec::new();
        }
        _ => {
            problems.push(
                "data",
                "must be a JSON object {\"filename\", \"document_type\"} or an array of them",
            );
            return Vec::new();
        }
    };
    let mut types = BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("data[{i}]");
        let Some(obj) = entry.as_object() else {
            problems.push(at, "must be a JSON object");
            continue;
        };
        for key in obj.keys() {
            if key != "filename" && key != "document_type" {
                problems.push(format!("{at}.{key}"), "is not a recognised field");
            }
        }
        let filename = obj.get("filename").and_then(Value::as_str);
        let kind = obj
            .get("document_type")
            .and_then(Value::as_str)
            .and_then(|t| {
                DOCUMENT_TYPES
                    .iter()
                    .find(|d| d.eq_ignore_ascii_case(t.trim()))
            });
        match filename {
            None => problems.push(format!("{at}.filename"), "is required"),
            Some(name) if !filenames.iter().any(|f| f == name) => {
                problems.push(format!("{at}.filename"), "names no file of this upload")
            }
            Some(name) if types.contains_key(name) => problems.push(
                format!("{at}.filename"),
                "describes a file already described",
            ),
            Some(_) => {}
        }
        if kind.is_none() {
            problems.push(
                format!("{at}.document_type"),
                format!("must be one of: {}", DOCUMENT_TYPES.join(", ")),
            );
        }
        if let Some(name) = filename {
            let kind = kind.map_or_else(String::new, |k| (*k).to_owned());
            types.entry(name).or_insert(kind);
        }
    }
    described(filenames, &types, "data", problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_legacy_form_names_every_file_and_only_those() {
        let files = vec!["id.png".to_owned(), "bill.pdf".to_owned()];
        let form = LegacyForm::parse(
            &texts(&[
                ("user_id", "u1"),
                ("file_types", r#"{"id.png": "id", "bill.pdf": "PoR"}"#),
                ("ddq_id", "1"),
            ]),
            &files,
        )
        .unwrap();
        assert_eq!(form.types, ["ID", "PoR"]);
        assert_eq!(form.ddq_id, Some(1));
        let problems = LegacyForm::parse(
            &texts(&[("file_types", r#"{"id.png": "passport", "other.pdf": "ID"}"#)]),
            &files,
        )
        .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "user_id",
                "file_types.id.png",
                "file_types.other.pdf",
                "file_types"
            ]
        );
    }

    #[test]
    fn a_verification_form_takes_an_object_or_an_array() {
        let files = vec!["p.jpg".to_owned()];
        let one = r#"{"filename": "p.jpg", "document_type": "Passport"}"#;
        let form = VerificationForm::parse(&texts(&[("data", one)]), &files).unwrap();
        assert_eq!(form.types, ["passport"]);
        let many = r#"[{"filename": "p.jpg", "document_type": "visa"}]"#;
        assert!(VerificationForm::parse(&texts(&[("data", many)]), &files).is_ok());
        let bad = r#"[{"filename": "q.jpg", "document_type": "selfie"}]"#;
        let problems = VerificationForm::parse(&texts(&[("data", bad)]), &files).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
