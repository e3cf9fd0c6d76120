//! What the EDD and document methods of the [`super::Store`] take and answer
//! (CONTRACT §7).

use async_trait::async_trait;

use super::StoreError;
use crate::edd::{Answers, Document, EddRequest, Uploader};

/// The size of one stored piece of a document: documents are written and read
/// in pieces of this size, so no step holds a whole file in memory.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// Where a document's bytes come from while it is stored: the next piece of at
/// most [`CHUNK_SIZE`] bytes, or `None` at the end.
#[async_trait]
pub trait ChunkSource: Send {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError>;
}

/// A document to store: its metadata, as checked, and its bytes.
pub struct NewDocument {
    pub filename: String,
    pub document_type: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub ddq_id: Option<i64>,
    pub uploaded_by: Uploader,
    pub bytes: Box<dyn ChunkSource>,
}

impl std::fmt::Debug for NewDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewDocument")
            .field("filename", &self.filename)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// What [`super::Store::open_edd_request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EddOpening {
    Opened(EddRequest),
    /// The user already has this request open; nothing was written.
    AlreadyOpen(EddRequest),
    NoActiveUser,
}

/// What [`super::Store::record_edd_answers`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EddAnswering {
    /// Recorded; the request after.
    Recorded(EddRequest),
    /// The request no longer takes answers (it moved on meanwhile).
    NotTaking(EddRequest),
    NoRequest,
}

/// What [`super::Store::review_edd_request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EddReviewing {
    Reviewed(EddRequest),
    AlreadyReviewed(EddRequest),
    NoRequest,
}

/// What [`super::Store::store_documents`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentsStored {
    /// Every document is stored; the request they completed, if any.
    Stored {
        documents: Vec<Document>,
        completed: Option<EddRequest>,
    },
    NoActiveUser,
}

/// The answers to record, for [`super::Store::record_edd_answers`].
pub type EddAnswers = Answers;
