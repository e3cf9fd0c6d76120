//! Receiving a multipart upload without holding a file in memory (CONTRACT §7):
//! each file field is streamed in the pieces the client sends into an anonymous
//! temporary file, hashed (SHA-256) and counted on the way, and its first bytes
//! kept for sniffing. A file past [`MAX_FILE_BYTES`] is a 413 at once; the rest
//! of the body is then read and dropped so that the client hears the answer.
//! The database sees nothing until every file has arrived: the store then
//! copies them from the temporary files in bounded pieces, in one short
//! transaction.

use async_trait::async_trait;
use axum::extract::Multipart;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::http::StatusCode;
use onboard_core::edd::FileKind;
use onboard_core::service::{ServiceError, Upload};
use onboard_core::store::{CHUNK_SIZE, ChunkSource, StoreError};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::framing::HeadTooLong;
use crate::error::{ApiError, Rejection};

/// The largest file accepted: 10 MiB.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// The most files one upload may carry.
pub const MAX_FILES: usize = 10;
/// The most parts (files and text fields) one upload may carry.
pub const MAX_PARTS: usize = 32;
/// The largest text field (`file_types`, `data`, …): 64 KiB.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Uploads received at once by this node: each may hold up to ten files on disk
/// until it is stored, so this bounds the temporary space uploads can take
/// (32 × 100 MiB). Past it an upload is refused at once (429, retry in a second).
pub const MAX_UPLOADS_IN_FLIGHT: usize = 32;

static UPLOAD_SLOTS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_UPLOADS_IN_FLIGHT);

/// The upload routes' own body limit: every file at its largest, and room for
/// the text fields and the multipart framing.
pub const UPLOAD_BODY_LIMIT: usize = MAX_FILES * MAX_FILE_BYTES as usize + 2 * 1024 * 1024;

/// A file received into a temporary file.
pub struct Received {
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub head: Vec<u8>,
    file: tokio::fs::File,
}

impl Received {
    /// The file as the service takes it, with its document type.
    pub async fn into_upload(mut self, document_type: String) -> Result<Upload, ApiError> {
        self.file
            .rewind()
            .await
            .map_err(|e| internal(format!("a temporary file cannot be rewound: {e}")))?;
        Ok(Upload {
            filename: self.filename,
            document_type,
            size: self.size as i64,
            sha256: self.sha256,
            head: self.head,
            bytes: Box::new(FileChunks(self.file)),
        })
    }
}

/// An upload's parts: text fields by name, and the files. It holds one of the
/// node's upload slots until the files are stored and it is dropped.
pub struct Form {
    pub texts: Vec<(String, String)>,
    pub files: Vec<Received>,
    pub slot: UploadSlot,
}

/// One of the node's [`MAX_UPLOADS_IN_FLIGHT`] upload slots, held until the
/// upload's temporary files are gone.
pub type UploadSlot = tokio::sync::SemaphorePermit<'static>;

impl Form {
    pub fn filenames(&self) -> Vec<String> {
        self.files.iter().map(|f| f.filename.clone()).collect()
    }
}

/// Reads every part: files (field `files`, or `files[]`) into temporary files,
/// the `text_fields` into memory; anything else is refused with a sentence.
pub async fn receive(
    multipart: Result<Multipart, MultipartRejection>,
    text_fields: &[&str],
) -> Result<Form, ApiError> {
    let mut multipart = multipart.map_err(|_| {
        ApiError::bad_request(
            "the body must be multipart/form-data, with a boundary in its Content-Type",
        )
    })?;
    let Ok(slot) = UPLOAD_SLOTS.try_acquire() else {
        return Err(ApiError::Service(ServiceError::Throttled {
            why: format!(
                "this node is receiving {MAX_UPLOADS_IN_FLIGHT} uploads already; retry shortly"
            ),
            retry_after: 1,
        }));
    };
    let mut form = Form {
        texts: Vec::new(),
        files: Vec::new(),
        slot,
    };
    let outcome = read_parts(&mut multipart, text_fields, &mut form).await;
    if outcome.is_err() {
        drain(&mut multipart).await;
    }
    outcome.map(|()| form)
}

async fn read_parts(
    multipart: &mut Multipart,
    text_fields: &[&str],
    form: &mut Form,
) -> Result<(), ApiError> {
    let mut parts = 0;
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::bad_request(format!(
                "an upload may have at most {MAX_PARTS} parts"
            )));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "files" || name == "files[]" {
            if form.files.len() == MAX_FILES {
                return Err(ApiError::bad_request(format!(
                    "an upload may carry at most {MAX_FILES} files"
                )));
            }
            form.files.push(receive_file(field).await?);
        } else if text_fields.contains(&name.as_str()) {
            let text = receive_text(field, &name).await?;
            form.texts.push((name, text));
        } else {
            return Err(ApiError::bad_request(format!(
                "the part {name:?} is not one of this upload's (files, {})",
                text_fields.join(", ")
            )));
        }
    }
    Ok(())
}

async fn receive_file(mut field: Field<'_>) -> Result<Received, ApiError> {
    let filename = field
        .file_name()
        .map(str::to_owned)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("each part named files must carry a file name"))?;
    let std_file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| internal(e.to_string()))?
        .map_err(|e| internal(format!("a temporary file cannot be created: {e}")))?;
    let mut file = tokio::fs::File::from_std(std_file);
    let (mut size, mut digest, mut head) = (0_u64, Sha256::new(), Vec::new());
    while let Some(piece) = field.chunk().await.map_err(malformed)? {
        size += piece.len() as u64;
        if size > MAX_FILE_BYTES {
            return Err(ApiError::Rejected(
                Rejection::TooLarge,
                format!("{filename} is larger than {MAX_FILE_BYTES} bytes (10 MiB)"),
            ));
        }
        if head.len() < FileKind::HEAD {
            let take = (FileKind::HEAD - head.len()).min(piece.len());
            head.extend_from_slice(&piece[..take]);
        }
        digest.update(&piece);
        file.write_all(&piece)
            .await
            .map_err(|e| internal(format!("a temporary file cannot be written: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| internal(format!("a temporary file cannot be written: {e}")))?;
    Ok(Received {
        filename,
        size,
        sha256: hex::encode(digest.finalize()),
        head,
        file,
    })
}

async fn receive_text(mut field: Field<'_>, name: &str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(piece) = field.chunk().await.map_err(malformed)? {
        if bytes.len() + piece.len() > MAX_TEXT_BYTES {
            return Err(ApiError::Rejected(
                Rejection::TooLarge,
                format!("the part {name} is larger than {MAX_TEXT_BYTES} bytes"),
            ));
        }
        bytes.extend_from_slice(&piece);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request(format!("the part {name} is not UTF-8 text")))
}

/// Reads and drops what is left of the body, so that a client still sending
/// hears the refusal instead of a reset connection. Bounded by the route's body
/// limit and the edge's body deadline.
async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

fn malformed(e: MultipartError) -> ApiError {
    if let Some(late) = crate::extract::body_timeout(&e) {
        return ApiError::Rejected(Rejection::TooSlow, late.to_string());
    }
    if let Some(too_long) = crate::extract::cause::<HeadTooLong>(&e) {
        return ApiError::bad_request(too_long.to_string());
    }
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::Rejected(
            Rejection::TooLarge,
            format!("the upload is larger than {UPLOAD_BODY_LIMIT} bytes"),
        )
    } else {
        // The reader's own message names its internals; ours names the rule.
        ApiError::bad_request(
            "the multipart body cannot be read: it is not well-formed multipart/form-data",
        )
    }
}

fn internal(why: String) -> ApiError {
    ApiError::Service(ServiceError::Internal(why))
}

/// A received file read back in pieces of at most [`CHUNK_SIZE`] bytes.
struct FileChunks(tokio::fs::File);

#[async_trait]
impl ChunkSource for FileChunks {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        let mut piece = vec![0; CHUNK_SIZE];
        let mut filled = 0;
        while filled < CHUNK_SIZE {
            let read = self.0.read(&mut piece[filled..]).await.map_err(|e| {
                StoreError::Internal(format!("a temporary file cannot be read: {e}"))
            })?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        piece.truncate(filled);
        Ok((filled > 0).then_some(piece))
    }
}
