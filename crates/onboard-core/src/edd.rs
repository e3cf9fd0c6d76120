//! Enhanced due diligence (CONTRACT §7): the questionnaires (prompts), the
//! requests that ask a user to answer one, and the documents users upload.
//!
//! - [`Questionnaires`] holds the prompts of both forms, the shipped defaults or
//!   the operator's (`[[edd.prompts]]`), checked once when built;
//! - [`Questionnaires::parse_answers`] turns a responses body into [`Answers`],
//!   reporting every problem at once;
//! - [`EddRequest`] is a request and its status path, [`Document`] an uploaded
//!   file's metadata, and [`FileKind`] the content rule (magic bytes, extension).

use std::collections::{BTreeMap, BTreeSet};

use onboard_api::{DocumentOut, EddPromptOut, EddRequestOut, FieldProblem};
use serde_json::Value;
use time::OffsetDateTime;

use crate::reader::{Obj, Problems};
use crate::time_format::rfc3339_millis;
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
        Questionnaires::from_specs(&crate::edd_defaults::prompts())
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
                    if let Some(answer) = read_answer(prompt, value, &path, obj.problems()) {
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

fn read_answer(prompt: &Prompt, value: Value, path: &str, problems: &Problems) -> Option<Answer> {
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
    if FileKind::from_extension(text).is_some() {
        return Err("must be the file's name without its extension".into());
    }
    Ok(text)
}

/// Where a request stands (CONTRACT §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EddStatus {
    Requested,
    PartialSubmission,
    InReview,
    Reviewed,
}

impl EddStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EddStatus::Requested => "REQUESTED",
            EddStatus::PartialSubmission => "PARTIAL_SUBMISSION",
            EddStatus::InReview => "IN_REVIEW",
            EddStatus::Reviewed => "REVIEWED",
        }
    }

    pub fn parse(text: &str) -> Option<EddStatus> {
        [
            EddStatus::Requested,
            EddStatus::PartialSubmission,
            EddStatus::InReview,
            EddStatus::Reviewed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Open until an operator marks it reviewed.
    pub fn is_open(self) -> bool {
        self != EddStatus::Reviewed
    }

    /// Whether answers may (still) be recorded.
    pub fn takes_answers(self) -> bool {
        matches!(self, EddStatus::Requested | EddStatus::PartialSubmission)
    }

    /// The status once answers naming `files` are recorded and `missing` of them
    /// are not uploaded yet.
    pub fn after_answers(missing: usize) -> EddStatus {
        if missing == 0 {
            EddStatus::InReview
        } else {
            EddStatus::PartialSubmission
        }
    }
}

/// An EDD request of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EddRequest {
    pub id: i64,
    pub user_id: String,
    pub form: Form,
    pub status: EddStatus,
    pub date_added: OffsetDateTime,
    pub date_updated: OffsetDateTime,
}

impl EddRequest {
    pub fn to_wire(&self) -> EddRequestOut {
        EddRequestOut {
            id: self.id,
            user_id: self.user_id.clone(),
            ddq_id: self.form.ddq_id(),
            required_form: self.form.required_form().to_owned(),
            status: self.status.as_str().to_owned(),
            date_added: rfc3339_millis(self.date_added),
            date_updated: rfc3339_millis(self.date_updated),
        }
    }
}

/// The operator who closed a request, and why (kept in its event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub operator: Option<String>,
    pub note: Option<String>,
}

/// The longest file name accepted.
pub const MAX_FILENAME: usize = 255;

/// The content types Onboard stores, told by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Jpeg,
    Png,
    Pdf,
}

impl FileKind {
    /// How many leading bytes [`FileKind::sniff`] needs.
    pub const HEAD: usize = 8;

    /// The kind the content's magic bytes announce.
    pub fn sniff(head: &[u8]) -> Option<FileKind> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileKind::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(FileKind::Png)
        } else if head.starts_with(b"%PDF-") {
            Some(FileKind::Pdf)
        } else {
            None
        }
    }

    /// The kind a file name's extension promises.
    pub fn from_extension(filename: &str) -> Option<FileKind> {
        let (_, ext) = filename.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(FileKind::Jpeg),
            "png" => Some(FileKind::Png),
            "pdf" => Some(FileKind::Pdf),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Jpeg => "image/jpeg",
            FileKind::Png => "image/png",
            FileKind::Pdf => "application/pdf",
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileKind::Jpeg => "a JPEG",
            FileKind::Png => "a PNG",
            FileKind::Pdf => "a PDF",
        }
    }

    /// The content rule: the bytes are a JPEG, PNG or PDF and match the
    /// extension; otherwise the sentence of the 422.
    pub fn check(filename: &str, head: &[u8]) -> Result<FileKind, String> {
        let Some(promised) = FileKind::from_extension(filename) else {
            return Err(format!(
                "{filename} must be a JPEG, PNG or PDF file named .jpg, .jpeg, .png or .pdf"
            ));
        };
        match FileKind::sniff(head) {
            Some(found) if found == promised => Ok(found),
            Some(found) => Err(format!(
                "{filename} is named as {} but its content is {}",
                promised.name(),
                found.name()
            )),
            None => Err(format!(
                "{filename} is named as {} but its content is not a JPEG, PNG or PDF",
                promised.name()
            )),
        }
    }
}

/// A file name as uploaded: a plain name (no path), with an extension.
pub fn check_filename(filename: &str) -> Result<(), String> {
    if filename.is_empty() || filename.chars().count() > MAX_FILENAME {
        return Err(format!(
            "a file name must be 1 to {MAX_FILENAME} characters"
        ));
    }
    if filename
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(format!("the file name {filename:?} must not hold a path"));
    }
    Ok(())
}

/// A file name without its extension: what a File-Upload answer names.
pub fn stem(filename: &str) -> &str {
    filename.rsplit_once('.').map_or(filename, |(s, _)| s)
}

/// The vendor's document types of `POST /v1/files/verification`, and the two of
/// the legacy upload's `file_types` (`ID`, `PoR`).
pub const DOCUMENT_TYPES: &[&str] = &[
    "passport",
    "drivers_license_front",
    "drivers_license_back",
    "state_provincial_id_front",
    "state_provincial_id_back",
    "national_id_front",
    "national_id_back",
    "military_id",
    "matriculate_id",
    "visa",
    "bank_statement",
    "utility_bill",
    "payslip",
    "business_formation",
    "ownership_chart",
    "other",
];

/// The legacy upload's `file_types` values.
pub const LEGACY_FILE_TYPES: &[&str] = &["ID", "PoR"];

/// A stored document's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: i64,
    pub user_id: String,
    pub filename: String,
    pub document_type: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_at: OffsetDateTime,
    pub ddq_id: Option<i64>,
}

impl Document {
    pub fn to_wire(&self) -> DocumentOut {
        DocumentOut {
            id: self.id,
            user_id: self.user_id.clone(),
            filename: self.filename.clone(),
            document_type: self.document_type.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            sha256: self.sha256.clone(),
            uploaded_at: rfc3339_millis(self.uploaded_at),
            ddq_id: self.ddq_id,
        }
    }
}

/// Who uploaded a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uploader {
    ApiKey,
    UserToken,
}

impl Uploader {
    pub fn as_str(self) -> &'static str {
        match self {
            Uploader::ApiKey => "api_key",
            Uploader::UserToken => "user_token",
        }
    }
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
    fn magic_bytes_must_match_the_extension() {
        let png = b"\x89PNG\r\n\x1a\n0000";
        assert_eq!(FileKind::check("a.PNG", png), Ok(FileKind::Png));
        assert!(FileKind::check("a.jpg", png).unwrap_err().contains("a PNG"));
        assert!(FileKind::check("a.png", b"GIF89a").is_err());
        assert!(FileKind::check("a.gif", png).is_err());
        assert_eq!(FileKind::check("x.pdf", b"%PDF-1.7"), Ok(FileKind::Pdf));
        assert_eq!(
            FileKind::check("x.jpeg", &[0xFF, 0xD8, 0xFF, 0xE0]),
            Ok(FileKind::Jpeg)
        );
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
