//! Enhanced due diligence (CONTRACT §7): the questionnaires (prompts), the
//! requests that ask a user to answer one, and the documents users upload.
//!
//! - [`Questionnaires`] holds the prompts of both forms, the shipped defaults or
//!   the operator's (`[[edd.prompts]]`), checked once when built;
//! - [`Questionnaires::parse_answers`] turns a responses body into [`Answers`]
//!   (`answers`), reporting every problem at once;
//! - [`EddRequest`] is a request and its status path, [`Document`] an uploaded
//!   file's metadata, and [`FileKind`] the content rule (magic bytes, extension).

mod answers;
mod defaults;
mod documents;
pub mod forms;
mod request;

pub use answers::{Answer, Answers};
pub use documents::{
    DOCUMENT_TYPES, Document, FileKind, LEGACY_FILE_TYPES, MAX_FILENAME, Uploader, check_filename,
    stem,
};
pub use request::{EddRequest, EddStatus};

use std::collections::{BTreeMap, BTreeSet};

use onboard_api::{EddPromptOut, FieldProblem};
use serde_json::Value;

use crate::reader::{Obj, Problems};
use crate::user::AccountType;

/// Which questionnaire: one per account type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Form {
    Individual,
    Business,
}

impl Form {
    pub const ALL: [Form; 2] = [Form::Individual, Form::Business];

    /// The form a user of this account type answers by default.
    pub fn of(account_type: AccountType) -> Form {
        match account_type {
            AccountType::Individual => Form::Individual,
            AccountType::Corporation => Form::Business,
        }
    }

    /// `individual` or `business`, as the CLI and the configuration name it.
    pub fn parse(text: &str) -> Result<Form, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "individual" => Ok(Form::Individual),
            "business" | "corporation" => Ok(Form::Business),
            _ => Err(format!(
                "the form must be individual or business, not {text:?}"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Form::Individual => "individual",
            Form::Business => "business",
        }
    }

    pub fn ddq_id(self) -> i64 {
        match self {
            Form::Individual => 1,
            Form::Business => 2,
        }
    }

    pub fn from_ddq_id(id: i64) -> Option<Form> {
        Form::ALL.into_iter().find(|f| f.ddq_id() == id)
    }

    /// `required_form` on the wire.
    pub fn required_form(self) -> &'static str {
        match self {
            Form::Individual => "EDDQ - Individual",
            Form::Business => "EDDQ - Business",
        }
    }

    /// `account_type` on the wire.
    pub fn account_type(self) -> &'static str {
        match self {
            Form::Individual => "individual",
            Form::Business => "corporation",
        }
    }
}

/// The vendor's three response types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    FreeForm,
    SingleSelect,
    FileUpload,
}

impl ResponseType {
    pub fn parse(text: &str) -> Result<ResponseType, String> {
        match text {
            "Free-Form" => Ok(ResponseType::FreeForm),
            "Single-Select" => Ok(ResponseType::SingleSelect),
            "File-Upload" => Ok(ResponseType::FileUpload),
            _ => Err(format!(
                "must be Free-Form, Single-Select or File-Upload, not {text:?}"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResponseType::FreeForm => "Free-Form",
            ResponseType::SingleSelect => "Single-Select",
            ResponseType::FileUpload => "File-Upload",
        }
    }
}

/// One prompt of a questionnaire.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Unique across both forms: the key of an answer.
    pub id: i64,
    pub form: Form,
    /// Its place in its form, from 1.
    pub prompt_id: i64,
    pub is_required: bool,
    pub prompt: String,
    pub response_type: ResponseType,
    /// The choices of a Single-Select prompt; empty otherwise.
    pub options: Vec<String>,
    /// Whether an answer may carry a free-form note beside its response.
    pub optional_free_form: bool,
}

impl Prompt {
    pub fn to_wire(&self) -> EddPromptOut {
        EddPromptOut {
            id: self.id,
            required_form: self.form.required_form().to_owned(),
            prompt_id: self.prompt_id,
            ddq_id: self.form.ddq_id(),
            account_type: self.form.account_type().to_owned(),
            is_required: self.is_required,
            prompt: self.prompt.clone(),
            response_type: self.response_type.as_str().to_owned(),
            response_options: (self.response_type == ResponseType::SingleSelect)
                .then(|| self.options.clone()),
            optional_free_form: self.optional_free_form,
        }
    }
}

/// A prompt as the configuration file writes it (`[[edd.prompts]]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    pub id: i64,
    pub form: String,
    pub prompt: String,
    pub response_type: String,
    #[serde(default)]
    pub response_options: Option<Vec<String>>,
    #[serde(default = "yes")]
    pub is_required: bool,
    #[serde(default)]
    pub optional_free_form: bool,
}

fn yes() -> bool {
    true
}

/// The longest prompt text, answer or note accepted.
pub const MAX_TEXT: usize = 5000;
/// The most prompts one form may hold, and options one prompt.
pub const MAX_PROMPTS: usize = 100;
pub const MAX_OPTIONS: usize = 50;

/// Both forms' prompts, in their order.
#[derive(Debug, Clone, PartialEq)]
pub struct Questionnaires {
    prompts: Vec<Prompt>,
}

impl Default for Questionnaires {
    /// The questionnaires Onboard ships (CONTRACT §7).
    fn default() -> Self {
        Questionnaires::from_specs(&defaults::prompts())
            .expect("the shipped questionnaires are valid")
    }
}

impl Questionnaires {
    /// Builds the questionnaires from the configuration's prompts; every problem
    /// is a sentence naming the setting (`edd.prompts[2].response_options`).
    pub fn from_specs(specs: &[PromptSpec]) -> Result<Questionnaires, String> {
        let mut prompts = Vec::with_capacity(specs.len());
        let mut ids = BTreeSet::new();
        let mut places: BTreeMap<Form, i64> = BTreeMap::new();
        for (i, spec) in specs.iter().enumerate() {
            let at = format!("edd.prompts[{i}]");
            let form = Form::parse(&spec.form).map_err(|e| format!("{at}.form: {e}"))?;
            let response_type = ResponseType::parse(&spec.response_type)
                .map_err(|e| format!("{at}.response_type {e}"))?;
            if spec.id < 1 || !ids.insert(spec.id) {
                return Err(format!(
                    "{at}.id must be a whole number of 1 or more, used once; {} is not",
                    spec.id
                ));
            }
            let text = spec.prompt.trim();
            if text.is_empty() || text.chars().count() > MAX_TEXT {
                return Err(format!("{at}.prompt must be 1 to {MAX_TEXT} characters"));
            }
            let options = check_options(&at, response_type, spec.response_options.as_deref())?;
            let place = places.entry(form).or_insert(0);
            *place += 1;
            prompts.push(Prompt {
                id: spec.id,
                form,
                prompt_id: *place,
                is_required: spec.is_required,
                prompt: text.to_owned(),
                response_type,
                options,
                optional_free_form: spec.optional_free_form,
            });
        }
        for form in Form::ALL {
            let count = places.get(&form).copied().unwrap_or(0);
            if count == 0 || count as usize > MAX_PROMPTS {
                return Err(format!(
                    "edd.prompts must give the {} form 1 to {MAX_PROMPTS} prompts, not {count}",
                    form.as_str()
                ));
            }
        }
        Ok(Questionnaires { prompts })
    }

    /// Every prompt, or those of one form, in order.
    pub fn prompts(&self, form: Option<Form>) -> impl Iterator<Item = &Prompt> {
        self.prompts
            .iter()
            .filter(move |p| form.is_none_or(|f| p.form == f))
    }

    /// Reads a responses body's `prompts` against `form`: every problem is
    /// reported (with its dotted path), or the answers come back whole.
    pub fn parse_answers(&self, form: Form, prompts: Value) -> Result<Answers, Vec<FieldProblem>> {
        let problems = Problems::default();
        let Some(obj) = Obj::new(prompts, "prompts", &problems) else {
            return Err(problems.into_vec());
        };
        let answers = self.read_answers(form, obj);
        if problems.is_empty() {
            Ok(answers)
        } else {
            Err(problems.into_vec())
        }
    }

    fn read_answers(&self, form: Form, mut obj: Obj<'_>) -> Answers {
        let mut answers = Answers::default();
        for prompt in self.prompts(Some(form)) {
            let key = prompt.id.to_string();
            match obj.take(&key) {
                None if prompt.is_required => obj.report(
                    &key,
                    format!("is required: answer \"{}\"", short(&prompt.prompt)),
                ),
                None => {}
                Some(value) => {
                    let path = obj.path_of(&key);
                    if let Some(answer) = answers::read_answer(prompt, value, &path, obj.problems())
                    {
                        if prompt.response_type == ResponseType::FileUpload {
                            answers.files.insert(answer.response.clone());
                        }
                        answers.by_prompt.insert(prompt.id, answer);
                    }
                }
            }
        }
        let known: BTreeSet<i64> = self.prompts.iter().map(|p| p.id).collect();
        let leftover: Vec<String> = obj.keys().cloned().collect();
        for key in leftover {
            obj.take(&key);
            let message = match key.parse::<i64>() {
                Ok(id) if known.contains(&id) => {
                    format!(
                        "is a prompt of another form, not of {}",
                        form.required_form()
                    )
                }
                _ => format!("is not a prompt id of {}", form.required_form()),
            };
            obj.report(&key, message);
        }
        obj.finish();
        answers
    }
}

fn check_options(
    at: &str,
    response_type: ResponseType,
    options: Option<&[String]>,
) -> Result<Vec<String>, String> {
    match (response_type, options) {
        (ResponseType::SingleSelect, Some(options)) => {
            let distinct: BTreeSet<&str> = options.iter().map(|o| o.trim()).collect();
            let fine = (2..=MAX_OPTIONS).contains(&options.len())
                && distinct.len() == options.len()
                && options
                    .iter()
                    .all(|o| !o.trim().is_empty() && o.chars().count() <= 200);
            if !fine {
                return Err(format!(
                    "{at}.response_options must list 2 to {MAX_OPTIONS} distinct, non-empty \
                     choices of at most 200 characters"
                ));
            }
            Ok(options.iter().map(|o| o.trim().to_owned()).collect())
        }
        (ResponseType::SingleSelect, None) => Err(format!(
            "{at}.response_options is required for a Single-Select prompt"
        )),
        (_, Some(_)) => Err(format!(
            "{at}.response_options is only for Single-Select prompts"
        )),
        (_, None) => Ok(Vec::new()),
    }
}

fn short(text: &str) -> String {
    if text.chars().count() <= 60 {
        return text.to_owned();
    }
    let cut: String = text.chars().take(57).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shipped_questionnaires_use_every_response_type_with_6_to_10_prompts() {
        let q = Questionnaires::default();
        for form in Form::ALL {
            let prompts: Vec<&Prompt> = q.prompts(Some(form)).collect();
            assert!((6..=10).contains(&prompts.len()), "{form:?}");
            for kind in [
                ResponseType::FreeForm,
                ResponseType::SingleSelect,
                ResponseType::FileUpload,
            ] {
                assert!(prompts.iter().any(|p| p.response_type == kind));
            }
        }
    }

    #[test]
    fn configured_prompts_are_refused_with_the_setting_named() {
        let spec = |id, form: &str, kind: &str, options: Option<Vec<&str>>| PromptSpec {
            id,
            form: form.into(),
            prompt: "Why?".into(),
            response_type: kind.into(),
            response_options: options.map(|o| o.into_iter().map(str::to_owned).collect()),
            is_required: true,
            optional_free_form: false,
        };
        let good = vec![
            spec(1, "individual", "Free-Form", None),
            spec(2, "business", "Single-Select", Some(vec!["a", "b"])),
        ];
        assert!(Questionnaires::from_specs(&good).is_ok());
        let mut bad = good.clone();
        bad[1].response_options = None;
        let why = Questionnaires::from_specs(&bad).unwrap_err();
        assert!(why.contains("edd.prompts[1].response_options"), "{why}");
        let mut bad = good.clone();
        bad[1].id = 1;
        let why = Questionnaires::from_specs(&bad).unwrap_err();
        assert!(why.contains("edd.prompts[1].id"), "{why}");
        let why = Questionnaires::from_specs(&good[..1]).unwrap_err();
        assert!(why.contains("business form"), "{why}");
        let mut bad = good;
        bad[0].response_type = "Essay".into();
        let why = Questionnaires::from_specs(&bad).unwrap_err();
        assert!(why.contains("edd.prompts[0].response_type"), "{why}");
    }

    #[test]
    fn answers_report_every_problem_at_once() {
        let q = Questionnaires::default();
        let problems = q
            .parse_answers(
                Form::Individual,
                json!({"1": {"response": "Lottery"}, "999": {"response": "x"}, "9": {"response": "y"}}),
            )
            .unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert!(fields.contains(&"prompts.1.response"), "{fields:?}");
        assert!(fields.contains(&"prompts.999"), "{fields:?}");
        assert!(fields.contains(&"prompts.9"), "{fields:?}");
        assert!(fields.contains(&"prompts.2"), "{fields:?}");
    }
}
