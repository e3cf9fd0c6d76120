//! Documents (CONTRACT §7): the two upload paths, and the operators' read-back.
//! Uploads are received by [`super::upload`] without holding a file in memory;
//! a document is read back in the pieces it was stored in.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use onboard_api::{Data, DocumentOut, UploadAccepted};
use onboard_core::edd::Uploader;
use onboard_core::edd::forms::{LegacyForm, VerificationForm};
use onboard_core::service::{Onboarding, ServiceError, Upload};
use onboard_core::store::EnterpriseId;
use onboard_core::values::UserId;

use super::edd::ListParams;
use super::framing::CappedMultipart;
use super::upload::{self, Form, UPLOAD_BODY_LIMIT, UploadSlot};
use crate::error::ApiError;
use crate::extract::{Authed, PathParam, QueryParams, bearer};
use crate::state::AppState;

fn accepted() -> (StatusCode, Json<UploadAccepted>) {
    (
        StatusCode::ACCEPTED,
        Json(UploadAccepted {
            message: "Files uploaded successfully".into(),
        }),
    )
}

/// The files of a form with their document types, in order, and the upload
/// slot, to hold until they are stored.
async fn uploads(form: Form, types: Vec<String>) -> Result<(Vec<Upload>, UploadSlot), ApiError> {
    let Form { files, slot, .. } = form;
    let mut uploads = Vec::with_capacity(files.len());
    for (file, kind) in files.into_iter().zip(types) {
        uploads.push(file.into_upload(kind).await?);
    }
    Ok((uploads, slot))
}

/// `POST /v1/enterprise/ddq/upload` (multipart `user_id`, `files`,
/// `file_types`, `ddq_id`?): 202.
pub async fn upload_legacy(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    CappedMultipart(multipart): CappedMultipart<UPLOAD_BODY_LIMIT>,
) -> Result<(StatusCode, Json<UploadAccepted>), ApiError> {
    let form = upload::receive(multipart, &["user_id", "file_types", "ddq_id"]).await?;
    let fields =
        LegacyForm::parse(&form.texts, &form.filenames()).map_err(ServiceError::Invalid)?;
    let (uploads, _slot) = uploads(form, fields.types).await?;
    state
        .onboarding
        .upload_documents(
            enterprise.id,
            &fields.user_id,
            fields.ddq_id,
            Uploader::ApiKey,
            uploads,
        )
        .await?;
    Ok(accepted())
}

/// `POST /v1/files/verification` with a user auth token (multipart `data`,
/// `files`): 202. An enterprise key is no user token: 401.
pub async fn upload_verification(
    State(state): State<AppState>,
    UserOwner(enterprise, user_id): UserOwner,
    CappedMultipart(multipart): CappedMultipart<UPLOAD_BODY_LIMIT>,
) -> Result<(StatusCode, Json<UploadAccepted>), ApiError> {
    let form = upload::receive(multipart, &["data"]).await?;
    let fields =
        VerificationForm::parse(&form.texts, &form.filenames()).map_err(ServiceError::Invalid)?;
    let (uploads, _slot) = uploads(form, fields.types).await?;
    state
        .onboarding
        .upload_documents(enterprise, &user_id, None, Uploader::UserToken, uploads)
        .await?;
    Ok(accepted())
}

/// The enterprise and `user_id` a bearer user auth token belongs to.
pub struct UserOwner(EnterpriseId, UserId);

impl axum::extract::FromRequestParts<AppState> for UserOwner {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ServiceError::Unauthorized)?;
        let (enterprise, user) = state.onboarding.token_owner(token).await?;
        Ok(UserOwner(enterprise, user.summary.user_id))
    }
}

/// `GET /v1/enterprise/documents[?user_id=&after=&limit=]`: metadata, oldest first.
pub async fn list(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Data<Vec<DocumentOut>>>, ApiError> {
    let (user_id, after, limit) = params.read()?;
    let documents = state
        .onboarding
        .documents(&enterprise, user_id, after, limit)
        .await?;
    Ok(Json(Data {
        data: documents.iter().map(|d| d.to_wire()).collect(),
    }))
}

/// `GET /v1/enterprise/documents/{id}`: the bytes, streamed piece by piece,
/// with their sniffed content type.
pub async fn download(
    State(state): State<AppState>,
    Authed(enterprise): Authed,
    PathParam(id): PathParam,
) -> Result<Response, ApiError> {
    let id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "the document id must be a whole number of 1 or more, not {id:?}"
        ))
    })?;
    let document = state.onboarding.document(enterprise.id, id).await?;
    let body = Body::from_stream(pieces(state.onboarding.clone(), enterprise.id, id));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    let content_type = HeaderValue::from_str(&document.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(document.size));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        ascii_name(&document.filename)
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A document's pieces, read one at a time as the client takes them.
pub(crate) fn pieces(
    onboarding: Onboarding,
    enterprise: EnterpriseId,
    id: i64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(Some(0_i64), move |seq| {
        let onboarding = onboarding.clone();
        async move {
            let seq = seq?;
            match onboarding.document_chunk(enterprise, id, seq).await {
                Ok(Some(piece)) => Some((Ok(Bytes::from(piece)), Some(seq + 1))),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "a document could not be read");
                    Some((
                        Err(std::io::Error::other("the document could not be read")),
                        None,
                    ))
                }
            }
        }
    })
}

/// The file name for `Content-Disposition`: printable ASCII, no quotes.
fn ascii_name(filename: &str) -> String {
    filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
