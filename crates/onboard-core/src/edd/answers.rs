//! Answers to a questionnaire's prompts, each checked against its prompt.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{FileKind, MAX_FILENAME, MAX_TEXT, Prompt, ResponseType};
use crate::reader::{Obj, Problems};

/// One answer: the response and its optional note.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    pub response: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub optional_free_form: Option<String>,
}

/// A request's answers, and the files (by name without extension) they name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    pub by_prompt: BTreeMap<i64, Answer>,
    pub files: BTreeSet<String>,
}

impl Answers {
    /// The answers as stored: `{"<prompt id>": {"response", "optional_free_form"?}}`.
    pub fn to_json(&self) -> String {
        let map: BTreeMap<String, &Answer> = self
            .by_prompt
            .iter()
            .map(|(id, a)| (id.to_string(), a))
            .collect();
        serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
    }
}

pub(super) fn read_answer(
    prompt: &Prompt,
    value: Value,
    path: &str,
    problems: &Problems,
) -> Option<Answer> {
    let mut obj = Obj::new(value, path, problems)?;
    let response = obj.req("response", |text| {
        check_response(prompt, text).map_err(crate::values::ValueError::Rule)
    });
    let note = obj.opt("optional_free_form", |text| {
        let text = text.trim();
        if !prompt.optional_free_form {
            return Err(crate::values::ValueError::Rule(
                "is not accepted by this prompt".into(),
            ));
        }
        if text.chars().count() > MAX_TEXT {
            return Err(crate::values::ValueError::Rule(format!(
                "must be at most {MAX_TEXT} characters"
            )));
        }
        Ok(text.to_owned())
    });
    obj.finish();
    Some(Answer {
        response: response?,
        optional_free_form: note?.filter(|n| !n.is_empty()),
    })
}

fn check_response(prompt: &Prompt, text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    match prompt.response_type {
        ResponseType::FreeForm if text.chars().count() > MAX_TEXT => {
            Err(format!("must be at most {MAX_TEXT} characters"))
        }
        ResponseType::FreeForm => Ok(text.to_owned()),
        ResponseType::SingleSelect => prompt
            .options
            .iter()
            .find(|o| o.eq_ignore_ascii_case(text))
            .cloned()
            .ok_or_else(|| format!("must be one of: {}", prompt.options.join(", "))),
        ResponseType::FileUpload => check_stem(text).map(str::to_owned),
    }
}

/// A File-Upload answer: a file name without its extension.
fn check_stem(text: &str) -> Result<&str, String> {
    if text.chars().count() > MAX_FILENAME {
        return Err(format!("must be at most {MAX_FILENAME} characters"));
    }
    if text
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err("must be a file name without a path".into());
    }
    if crate::values::has_invisible(text) {
        return Err(crate::values::ValueError::Invisible.to_string());
    }
    if FileKind::from_extension(text).is_some() {
        return Err("must be the file's name without its extension".into());
    }
    Ok(text)
}
