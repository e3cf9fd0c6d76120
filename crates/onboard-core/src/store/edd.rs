//! Enhanced due diligence requests, their answers and documents
//! (CONTRACT §7).

use crate::tenant::EnterpriseId;
use async_trait::async_trait;
use time::OffsetDateTime;

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

/// What [`EddStore::open_edd_request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EddOpening {
    Opened(EddRequest),
    /// The user already has this request open; nothing was written.
    AlreadyOpen(EddRequest),
    NoActiveUser,
}

/// What [`EddStore::record_edd_answers`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EddAnswering {
    /// Recorded; the request after.
    Recorded(EddRequest),
    /// The request no longer takes answers (it moved on meanwhile).
    NotTaking(EddRequest),
    NoRequest,
}

/// What [`EddStore::review_edd_request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EddReviewing {
    Reviewed(EddRequest),
    AlreadyReviewed(EddRequest),
    NoRequest,
}

/// What [`EddStore::store_documents`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentsStored {
    /// Every document is stored; the request they completed, if any.
    Stored {
        documents: Vec<Document>,
        completed: Option<EddRequest>,
    },
    NoActiveUser,
}

/// Bytes of documents stored for one user and for its whole enterprise, which
/// the storage quota (CONTRACT §7) counts against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentUsage {
    pub user: i64,
    pub enterprise: i64,
}

/// Bytes of documents stored on the server in all, and by the enterprise that
/// stores the most (unnamed), for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DocumentTotals {
    pub all: i64,
    pub largest_enterprise: i64,
}

/// The answers to record, for [`EddStore::record_edd_answers`].
pub type EddAnswers = Answers;

/// EDD requests, answers and documents.
#[async_trait]
pub trait EddStore: Send + Sync {
    /// Opens a request of `form` for an active user, with its `edd.requested`
    /// event, unless the user already has one open (then nothing is written).
    async fn open_edd_request(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        form: crate::edd::Form,
        cause: &str,
        now: OffsetDateTime,
    ) -> Result<EddOpening, StoreError>;

    /// Requests in id order after `after`, at most `limit`, optionally of one user.
    async fn list_edd_requests(
        &self,
        enterprise: EnterpriseId,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<crate::edd::EddRequest>, StoreError>;

    /// The user's open request (not yet reviewed), if any.
    async fn open_edd_request_of(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<crate::edd::EddRequest>, StoreError>;

    /// Records the answers of request `request_id` if it still takes answers:
    /// its status becomes IN_REVIEW when every file they name is stored, else
    /// PARTIAL_SUBMISSION; one `edd.updated` event.
    async fn record_edd_answers(
        &self,
        enterprise: EnterpriseId,
        request_id: i64,
        answers: &EddAnswers,
        now: OffsetDateTime,
    ) -> Result<EddAnswering, StoreError>;

    /// Marks a request REVIEWED, with an `edd.updated` event naming the
    /// operator and their note.
    async fn review_edd_request(
        &self,
        enterprise: EnterpriseId,
        request_id: i64,
        by: &crate::access::Attribution,
        now: OffsetDateTime,
    ) -> Result<EddReviewing, StoreError>;

    /// Stores every document of one upload for an active user, or none: bytes,
    /// metadata and one `document.uploaded` event each, in one transaction. A
    /// PARTIAL_SUBMISSION request whose named files are then all stored moves
    /// to IN_REVIEW in the same transaction, with its `edd.updated` event.
    async fn store_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        documents: Vec<NewDocument>,
        now: OffsetDateTime,
    ) -> Result<DocumentsStored, StoreError>;

    /// Bytes of documents stored for `user_id` and for all of `enterprise`.
    async fn document_usage(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<DocumentUsage, StoreError>;

    /// Bytes of documents stored in all, and by the enterprise storing most.
    async fn document_totals(&self) -> Result<DocumentTotals, StoreError>;

    /// Documents' metadata in id order after `after`, at most `limit`,
    /// optionally of one user.
    async fn list_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<crate::edd::Document>, StoreError>;

    /// One document's metadata.
    async fn document(
        &self,
        enterprise: EnterpriseId,
        id: i64,
    ) -> Result<Option<crate::edd::Document>, StoreError>;

    /// Piece `seq` (from 0) of a document's bytes; `None` past the last.
    async fn document_chunk(
        &self,
        enterprise: EnterpriseId,
        id: i64,
        seq: i64,
    ) -> Result<Option<Vec<u8>>, StoreError>;
}
