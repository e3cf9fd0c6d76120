//! Enhanced due diligence and documents (CONTRACT §7): prompts, requests,
//! answers, reviews, uploads and their read-back.

use onboard_api::FieldProblem;
use serde_json::Value;

use super::{Onboarding, ServiceError, user_not_found};
use crate::edd::{Document, EddRequest, FileKind, Form, Prompt, Uploader};
use crate::events::ChangeNotifier as _;
use crate::reader::{Obj, Problems};
use crate::secret::KeyHash;
use crate::store::{
    ChunkSource, DocumentsStored, EddAnswering, EddOpening, EddReviewing, Enterprise, EnterpriseId,
    NewDocument,
};
use crate::user::User;
use crate::values::UserId;

/// One received file of an upload, checked by [`Onboarding::upload_documents`].
pub struct Upload {
    pub filename: String,
    pub document_type: String,
    pub size: i64,
    pub sha256: String,
    /// The content's first bytes (at least [`FileKind::HEAD`] when it has them).
    pub head: Vec<u8>,
    pub bytes: Box<dyn ChunkSource>,
}

/// The most requests or documents one list returns.
pub const MAX_LIST: u32 = 1000;

impl Onboarding {
    /// `GET /v1/enterprise/eddq/prompts[?account_type=]`.
    pub fn edd_prompts(&self, account_type: Option<&str>) -> Result<Vec<&Prompt>, ServiceError> {
        let form = match account_type {
            None => None,
            Some(t) if t.eq_ignore_ascii_case("individual") => Some(Form::Individual),
            Some(t) if t.eq_ignore_ascii_case("corporation") => Some(Form::Business),
            Some(t) => {
                return Err(ServiceError::BadRequest(format!(
                    "account_type must be individual or corporation, not {t:?}"
                )));
            }
        };
        Ok(self.edd.prompts(form).collect())
    }

    /// Opens an EDD request for a user (CLI, console, or the sandbox route);
    /// `form` defaults to the user's account type. A user has at most one open
    /// request: asking again is a 409 naming it.
    pub async fn open_edd_request(
        &self,
        enterprise: &Enterprise,
        user_id: &UserId,
        form: Option<Form>,
        cause: &str,
    ) -> Result<EddRequest, ServiceError> {
        let user = self.user(enterprise, user_id).await?;
        let user_id = user_id.as_str();
        let form = form.unwrap_or(Form::of(user.summary.account_type));
        let now = self.clock.now();
        match self
            .store
            .open_edd_request(enterprise.id, user_id, form, cause, now)
            .await?
        {
            EddOpening::Opened(request) => {
                self.changes.changed(enterprise.id);
                Ok(request)
            }
            EddOpening::AlreadyOpen(open) => Err(ServiceError::Conflict(format!(
                "user {user_id} already has EDD request {} open ({}); it must be reviewed \
                 before another is opened",
                open.id,
                open.status.as_str()
            ))),
            EddOpening::NoActiveUser => Err(user_not_found(user_id)),
        }
    }

    /// `GET /v1/enterprise/eddq/requests[?user_id=]`.
    pub async fn edd_requests(
        &self,
        enterprise: &Enterprise,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<EddRequest>, ServiceError> {
        let limit = limit.clamp(1, MAX_LIST);
        Ok(self
            .store
            .list_edd_requests(enterprise.id, user_id, after, limit)
            .await?)
    }

    /// `POST /v1/enterprise/eddq/responses`: all answers, or nothing.
    pub async fn answer_edd(
        &self,
        enterprise: &Enterprise,
        body: Value,
    ) -> Result<EddRequest, ServiceError> {
        let (user_id, prompts) = responses_body(body)?;
        self.user(enterprise, &user_id).await?;
        let user_id = user_id.as_str();
        let request = self
            .store
            .open_edd_request_of(enterprise.id, user_id)
            .await?
            .filter(|r| r.status.takes_answers())
            .ok_or_else(|| no_request_for_answers(user_id))?;
        let answers = self
            .edd
            .parse_answers(request.form, prompts)
            .map_err(ServiceError::Invalid)?;
        let now = self.clock.now();
        match self
            .store
            .record_edd_answers(enterprise.id, request.id, &answers, now)
            .await?
        {
            EddAnswering::Recorded(request) => {
                self.changes.changed(enterprise.id);
                Ok(request)
            }
            EddAnswering::NotTaking(_) | EddAnswering::NoRequest => {
                Err(no_request_for_answers(user_id))
            }
        }
    }

    /// Marks a request REVIEWED (CLI `onboard edd review`, the console); its
    /// `edd.updated` event names the operator and their note.
    pub async fn review_edd(
        &self,
        enterprise: &Enterprise,
        request_id: i64,
        by: &super::Actor,
        note: &str,
    ) -> Result<EddRequest, ServiceError> {
        let attribution = by.attribution(note)?;
        let now = self.clock.now();
        match self
            .store
            .review_edd_request(enterprise.id, request_id, &attribution, now)
            .await?
        {
            EddReviewing::Reviewed(request) => {
                self.changes.changed(enterprise.id);
                Ok(request)
            }
            EddReviewing::AlreadyReviewed(_) => Err(ServiceError::Unprocessable(format!(
                "EDD request {request_id} is already REVIEWED"
            ))),
            EddReviewing::NoRequest => Err(ServiceError::NotFound(format!(
                "No EDD request with id {request_id} exists."
            ))),
        }
    }

    /// Both upload routes, once their form is read: every file must be a JPEG,
    /// PNG or PDF matching its extension (else 422 naming it); the user must be
    /// an active user of the enterprise (else 404); the user's and the
    /// enterprise's documents must stay within their storage quota (else 413).
    /// All are stored, or none.
    pub async fn upload_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: &UserId,
        ddq_id: Option<i64>,
        uploaded_by: Uploader,
        uploads: Vec<Upload>,
    ) -> Result<Vec<Document>, ServiceError> {
        let user_id = user_id.as_str();
        if self.store.find_user(enterprise, user_id).await?.is_none() {
            return Err(user_not_found(user_id));
        }
        let mut documents = Vec::with_capacity(uploads.len());
        for upload in uploads {
            let kind = FileKind::check(&upload.filename, &upload.head)
                .map_err(ServiceError::Unprocessable)?;
            documents.push(NewDocument {
                filename: upload.filename,
                document_type: upload.document_type,
                content_type: kind.content_type().to_owned(),
                size: upload.size,
                sha256: upload.sha256,
                ddq_id,
                uploaded_by,
                bytes: upload.bytes,
            });
        }
        let incoming = documents.iter().map(|d| d.size).sum();
        let _turn = self.upload_turns.take(enterprise).await;
        self.check_document_quota(enterprise, user_id, incoming)
            .await?;
        let now = self.clock.now();
        match self
            .store
            .store_documents(enterprise, user_id, documents, now)
            .await?
        {
            DocumentsStored::Stored { documents, .. } => {
                self.changes.changed(enterprise);
                Ok(documents)
            }
            DocumentsStored::NoActiveUser => Err(user_not_found(user_id)),
        }
    }

    /// `GET /v1/enterprise/documents[?user_id=]`: metadata only.
    pub async fn documents(
        &self,
        enterprise: &Enterprise,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Document>, ServiceError> {
        let limit = limit.clamp(1, MAX_LIST);
        Ok(self
            .store
            .list_documents(enterprise.id, user_id, after, limit)
            .await?)
    }

    /// One document's metadata; another enterprise's is as missing as none.
    pub async fn document(
        &self,
        enterprise: EnterpriseId,
        id: i64,
    ) -> Result<Document, ServiceError> {
        self.store
            .document(enterprise, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("No document with id {id} exists.")))
    }

    /// Piece `seq` of a document's bytes (`None` past the end), for streaming.
    pub async fn document_chunk(
        &self,
        enterprise: EnterpriseId,
        id: i64,
        seq: i64,
    ) -> Result<Option<Vec<u8>>, ServiceError> {
        Ok(self.store.document_chunk(enterprise, id, seq).await?)
    }

    /// The enterprise and user a user auth token belongs to (the upload route
    /// authenticated by user token).
    pub async fn token_owner(&self, token: &str) -> Result<(EnterpriseId, User), ServiceError> {
        self.store
            .token_owner(&KeyHash::of(token), self.clock.now())
            .await?
            .ok_or(ServiceError::Unauthorized)
    }
}

fn no_request_for_answers(user_id: &str) -> ServiceError {
    ServiceError::Unprocessable(format!(
        "user {user_id} has no EDD request waiting for answers"
    ))
}

/// The `user_id` and `prompts` of a responses body; every problem at once.
fn responses_body(body: Value) -> Result<(UserId, Value), ServiceError> {
    let problems = Problems::default();
    let Some(mut obj) = Obj::new(body, "", &problems) else {
        return Err(ServiceError::Invalid(problems.into_vec()));
    };
    let user_id = obj.req("user_id", UserId::parse);
    let prompts = match obj.take("prompts") {
        Some(p @ Value::Object(_)) => Some(p),
        Some(_) => {
            obj.report("prompts", "must be a JSON object keyed by prompt id");
            None
        }
        None => {
            obj.report("prompts", "is required");
            None
        }
    };
    obj.finish();
    match (user_id, prompts) {
        (Some(user_id), Some(prompts)) if problems.is_empty() => Ok((user_id, prompts)),
        _ => Err(ServiceError::Invalid(nonempty(problems.into_vec()))),
    }
}

fn nonempty(problems: Vec<FieldProblem>) -> Vec<FieldProblem> {
    if problems.is_empty() {
        vec![FieldProblem {
            field: "body".into(),
            message: "is invalid".into(),
        }]
    } else {
        problems
    }
}
