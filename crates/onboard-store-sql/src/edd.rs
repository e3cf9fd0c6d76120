//! The `edd_requests`, `documents` and `document_chunks` tables (CONTRACT §7):
//! requests and their status path, answers, and documents stored in pieces of
//! [`CHUNK_SIZE`] bytes so that no step holds a whole file.
//!
//! Lock order, as everywhere: the user row, then the request row, then the
//! enterprise row (taken by the event append, last).

use crate::SqlStore;
use crate::users::SUMMARY_COLUMNS;
use async_trait::async_trait;
use onboard_core::store::EddStore;
use std::collections::BTreeSet;

use onboard_core::access::Attribution;
use onboard_core::edd::{Document, EddRequest, EddStatus, Form, stem};
use onboard_core::events::{EventDetail, EventKind};
use onboard_core::store::{
    CHUNK_SIZE, DocumentTotals, DocumentUsage, DocumentsStored, EddAnswering, EddAnswers,
    EddOpening, EddReviewing, EnterpriseId, EventRow, NewDocument, StoreError, from_micros, micros,
};
use onboard_core::user::User;
use onboard_core::values::UserId;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::engine::{Engine, Row, Tx, first, one};
use crate::users::{self, user_from};
use crate::{args, events, sealing};
use onboard_core::seal::{DataKey, Sealer};

pub(crate) const REQUEST_COLUMNS: &str = "id, user_id, ddq_id, status, date_added, date_updated";

const DOCUMENT_COLUMNS: &str = "id, user_id, filename, document_type, content_type, size, \
    sha256, uploaded_at, ddq_id, sealed";

/// Documents beside their users' data keys (`d` and `u`).
const DOCUMENTS_WITH_KEYS: &str = "documents d LEFT JOIN users u \
    ON u.enterprise_id = d.enterprise_id AND u.user_id = d.user_id";

/// The binding of a document's file name, or of one piece of its bytes.
pub(crate) fn document_field(id: i64, piece: Option<i64>) -> String {
    match piece {
        Some(seq) => format!("document {id} piece {seq}"),
        None => format!("document {id} filename"),
    }
}

/// The binding of a request's answers.
pub(crate) fn answers_field(request_id: i64) -> String {
    format!("edd request {request_id} answers")
}

/// What a document's `stem` and a request's `files` hold for a file name's
/// stem: its blind index (the name itself is sealed).
pub(crate) fn stem_index(sealer: &Sealer, stem: &str) -> String {
    sealer.blind_index("document stem", stem)
}

/// The user's data key as read beside a row (`data_key`), for a row whose
/// `sealed` is set.
pub(crate) fn row_key(
    row: &Row,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<Option<DataKey>, StoreError> {
    if !row.bool("sealed")? {
        return Ok(None);
    }
    let wrapped = row
        .opt_text("data_key")?
        .ok_or_else(|| StoreError::Internal("a sealed row's user has no data key".into()))?;
    sealing::key_of(sealer, enterprise, user_id, &wrapped).map(Some)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

pub(crate) fn request_from(row: &Row) -> Result<EddRequest, StoreError> {
    Ok(EddRequest {
        id: row.int("id")?,
        user_id: UserId::parse(&row.text("user_id")?).map_err(|_| corrupt("user_id"))?,
        form: Form::from_ddq_id(row.int("ddq_id")?).ok_or_else(|| corrupt("ddq_id"))?,
        status: EddStatus::parse(&row.text("status")?).ok_or_else(|| corrupt("edd status"))?,
        date_added: from_micros(row.int("date_added")?),
        date_updated: from_micros(row.int("date_updated")?),
    })
}

/// A document from a row of [`DOCUMENT_COLUMNS`] and `data_key`, its file name
/// opened when sealed.
fn document_from(
    row: &Row,
    sealer: &Sealer,
    enterprise: EnterpriseId,
) -> Result<Document, StoreError> {
    let (id, user_id) = (row.int("id")?, row.text("user_id")?);
    let mut filename = row.text("filename")?;
    if let Some(key) = row_key(row, sealer, enterprise, &user_id)? {
        let field = document_field(id, None);
        let binding = sealing::binding(enterprise, &user_id, &field);
        filename = key
            .open_text(binding, &filename)
            .map_err(sealing::refused)?;
    }
    Ok(Document {
        id,
        user_id: UserId::parse(&user_id).map_err(|_| corrupt("user_id"))?,
        filename,
        document_type: row.text("document_type")?,
        content_type: row.text("content_type")?,
        size: row.int("size")?,
        sha256: row.text("sha256")?,
        uploaded_at: from_micros(row.int("uploaded_at")?),
        ddq_id: row.opt_int("ddq_id")?,
    })
}

/// A user row locked for the rest of the transaction.
struct Locked {
    position: i64,
    user: User,
    /// The user's data key; `None` for a row written before sealing.
    key: Option<DataKey>,
}

fn locked_from(row: Row, sealer: &Sealer, enterprise: EnterpriseId) -> Result<Locked, StoreError> {
    Ok(Locked {
        position: row.int("position")?,
        key: users::key_from(&row, sealer, enterprise)?,
        user: user_from(row, sealer)?,
    })
}

/// The active user, locked for the rest of the transaction.
async fn lock_user<E: Engine>(
    tx: &mut E::Tx,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<Option<Locked>, StoreError> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, profile FROM users \
         WHERE enterprise_id = ? AND user_id = ? AND active = TRUE{}",
        E::DIALECT.for_update
    );
    let rows = tx.fetch(&sql, args![enterprise.0, user_id]).await?;
    match first(rows) {
        Some(row) => locked_from(row, sealer, enterprise).map(Some),
        None => Ok(None),
    }
}

/// The user's open request, locked.
async fn lock_open_request<E: Engine>(
    tx: &mut E::Tx,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<Option<(EddRequest, Vec<String>)>, StoreError> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS}, files FROM edd_requests \
         WHERE enterprise_id = ? AND user_id = ? AND status <> 'REVIEWED' \
         ORDER BY id DESC LIMIT 1{}",
        E::DIALECT.for_update
    );
    let rows = tx.fetch(&sql, args![enterprise.0, user_id]).await?;
    let Some(row) = first(rows) else {
        return Ok(None);
    };
    let files = match row.opt_text("files")? {
        Some(json) => serde_json::from_str(&json).map_err(|_| corrupt("edd files"))?,
        None => Vec::new(),
    };
    Ok(Some((request_from(&row)?, files)))
}

/// The names without extension of the user's stored documents.
async fn stored_stems<E: Engine>(
    tx: &mut E::Tx,
    enterprise: EnterpriseId,
    user_id: &str,
) -> Result<BTreeSet<String>, StoreError> {
    let rows = tx
        .fetch(
            "SELECT DISTINCT stem FROM documents WHERE enterprise_id = ? AND user_id = ?",
            args![enterprise.0, user_id],
        )
        .await?;
    rows.iter().map(|r| r.text("stem")).collect()
}

async fn set_status<E: Engine>(
    tx: &mut E::Tx,
    request: &mut EddRequest,
    status: EddStatus,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE edd_requests SET status = ?, date_updated = ? WHERE id = ?",
        args![status.as_str(), micros(now), request.id],
    )
    .await?;
    request.status = status;
    request.date_updated = now;
    Ok(())
}

/// An `edd.*` event: what kind, why, and the operator who caused it, if one did.
struct Change<'a> {
    kind: EventKind,
    cause: &'a str,
    by: Option<&'a Attribution>,
    now: OffsetDateTime,
}

async fn append_request_event<E: Engine>(
    tx: &mut E::Tx,
    enterprise: EnterpriseId,
    user: &Locked,
    request: &EddRequest,
    change: Change<'_>,
) -> Result<(), StoreError> {
    let Change {
        kind,
        cause,
        by,
        now,
    } = change;
    let detail = EventDetail::EddRequest(request.to_wire());
    let mut row = EventRow::encode_detailed(kind, cause, &user.user.summary, &detail, now)?;
    row.operator = by.map(|by| by.operator.clone());
    row.note = by.map(|by| by.note.clone());
    let (user_id, key) = (request.user_id.as_str(), user.key.as_ref());
    events::append_row::<E>(tx, enterprise, user_id, row, key).await?;
    Ok(())
}

#[async_trait]
impl<E: Engine> EddStore for SqlStore<E> {
    async fn open_edd_request(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        form: Form,
        cause: &str,
        now: OffsetDateTime,
    ) -> Result<EddOpening, StoreError> {
        let mut tx = self.engine.begin().await?;
        let Some(user) = lock_user::<E>(&mut tx, &self.sealer, enterprise, user_id).await? else {
            return Ok(EddOpening::NoActiveUser);
        };
        if let Some((open, _)) = lock_open_request::<E>(&mut tx, enterprise, user_id).await? {
            return Ok(EddOpening::AlreadyOpen(open));
        }
        let sql = format!(
            "INSERT INTO edd_requests (enterprise_id, user_position, user_id, ddq_id, status, \
             date_added, date_updated) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {REQUEST_COLUMNS}"
        );
        let params = args![
            enterprise.0,
            user.position,
            user_id,
            form.ddq_id(),
            EddStatus::Requested.as_str(),
            micros(now),
            micros(now)
        ];
        let request = request_from(&one(tx.fetch(&sql, params).await?)?)?;
        let change = Change {
            kind: EventKind::EddRequested,
            cause,
            by: None,
            now,
        };
        append_request_event::<E>(&mut tx, enterprise, &user, &request, change).await?;
        tx.commit().await?;
        Ok(EddOpening::Opened(request))
    }

    async fn list_edd_requests(
        &self,
        enterprise: EnterpriseId,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<EddRequest>, StoreError> {
        let (filter, mut params) = match user_id {
            Some(u) => (" AND user_id = ?", args![enterprise.0, after, u]),
            None => ("", args![enterprise.0, after]),
        };
        params.push(i64::from(limit).into());
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM edd_requests \
             WHERE enterprise_id = ? AND id > ?{filter} ORDER BY id LIMIT ?"
        );
        let rows = self.engine.read(&sql, params).await?;
        rows.iter().map(request_from).collect()
    }

    async fn open_edd_request_of(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<Option<EddRequest>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM edd_requests \
             WHERE enterprise_id = ? AND user_id = ? AND status <> 'REVIEWED' \
             ORDER BY id DESC LIMIT 1"
        );
        let rows = self.engine.read(&sql, args![enterprise.0, user_id]).await?;
        first(rows).as_ref().map(request_from).transpose()
    }

    async fn record_edd_answers(
        &self,
        enterprise: EnterpriseId,
        request_id: i64,
        answers: &EddAnswers,
        now: OffsetDateTime,
    ) -> Result<EddAnswering, StoreError> {
        let mut tx = self.engine.begin().await?;
        let Some(owner) = request_owner::<E>(&mut tx, enterprise, request_id).await? else {
            return Ok(EddAnswering::NoRequest);
        };
        let Some(user) =
            lock_user::<E>(&mut tx, &self.sealer, enterprise, owner.user_id.as_str()).await?
        else {
            return Ok(EddAnswering::NoRequest);
        };
        let open = lock_open_request::<E>(&mut tx, enterprise, owner.user_id.as_str()).await?;
        let mut request = match open {
            Some((r, _)) if r.id == request_id && r.status.takes_answers() => r,
            Some((r, _)) if r.id == request_id => return Ok(EddAnswering::NotTaking(r)),
            _ => return Ok(EddAnswering::NoRequest),
        };
        let stored = stored_stems::<E>(&mut tx, enterprise, owner.user_id.as_str()).await?;
        let (answers_text, files, sealed) = match &user.key {
            Some(key) => {
                let field = answers_field(request_id);
                let binding = sealing::binding(enterprise, owner.user_id.as_str(), &field);
                let files = answers.files.iter().map(|f| stem_index(&self.sealer, f));
                (
                    key.seal_text(binding, &answers.to_json()),
                    files.collect(),
                    true,
                )
            }
            None => (answers.to_json(), answers.files.clone(), false),
        };
        let missing = files.difference(&stored).count();
        let files =
            serde_json::to_string(&files).map_err(|e| StoreError::Internal(e.to_string()))?;
        tx.execute(
            "UPDATE edd_requests SET answers = ?, files = ?, sealed = ? WHERE id = ?",
            args![answers_text, files, sealed, request_id],
        )
        .await?;
        set_status::<E>(
            &mut tx,
            &mut request,
            EddStatus::after_answers(missing),
            now,
        )
        .await?;
        let cause = if missing == 0 {
            "answers recorded, every named file present"
        } else {
            "answers recorded, a named file not uploaded yet"
        };
        let change = Change {
            kind: EventKind::EddUpdated,
            cause,
            by: None,
            now,
        };
        append_request_event::<E>(&mut tx, enterprise, &user, &request, change).await?;
        tx.commit().await?;
        Ok(EddAnswering::Recorded(request))
    }

    async fn review_edd_request(
        &self,
        enterprise: EnterpriseId,
        request_id: i64,
        by: &Attribution,
        now: OffsetDateTime,
    ) -> Result<EddReviewing, StoreError> {
        let mut tx = self.engine.begin().await?;
        let Some(owner) = request_owner::<E>(&mut tx, enterprise, request_id).await? else {
            return Ok(EddReviewing::NoRequest);
        };
        // A deactivated user's request can still be closed: read the user row
        // whatever its state, locked like the others.
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, profile FROM users \
             WHERE enterprise_id = ? AND user_id = ?{}",
            E::DIALECT.for_update
        );
        let rows = tx
            .fetch(&sql, args![enterprise.0, owner.user_id.as_str()])
            .await?;
        let user = locked_from(one(rows)?, &self.sealer, enterprise)?;
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM edd_requests WHERE id = ?{}",
            E::DIALECT.for_update
        );
        let mut request = request_from(&one(tx.fetch(&sql, args![request_id]).await?)?)?;
        if !request.status.is_open() {
            return Ok(EddReviewing::AlreadyReviewed(request));
        }
        tx.execute(
            "UPDATE edd_requests SET reviewed_by = ?, review_note = ? WHERE id = ?",
            args![&by.operator, &by.note, request_id],
        )
        .await?;
        set_status::<E>(&mut tx, &mut request, EddStatus::Reviewed, now).await?;
        let change = Change {
            kind: EventKind::EddUpdated,
            cause: "reviewed by an operator",
            by: Some(by),
            now,
        };
        append_request_event::<E>(&mut tx, enterprise, &user, &request, change).await?;
        tx.commit().await?;
        Ok(EddReviewing::Reviewed(request))
    }

    async fn store_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
        documents: Vec<NewDocument>,
        now: OffsetDateTime,
    ) -> Result<DocumentsStored, StoreError> {
        let mut tx = self.engine.begin().await?;
        let Some(user) = lock_user::<E>(&mut tx, &self.sealer, enterprise, user_id).await? else {
            return Ok(DocumentsStored::NoActiveUser);
        };
        let mut stored = Vec::with_capacity(documents.len());
        for document in documents {
            stored.push(
                insert_document::<E>(&mut tx, &self.sealer, enterprise, &user, document, now)
                    .await?,
            );
        }
        let completed = complete_request::<E>(&mut tx, enterprise, user_id, now).await?;
        for document in &stored {
            let detail = EventDetail::Document(document.to_wire());
            let kind = EventKind::DocumentUploaded;
            let summary = &user.user.summary;
            let row = EventRow::encode_detailed(kind, "document uploaded", summary, &detail, now)?;
            events::append_row::<E>(&mut tx, enterprise, user_id, row, user.key.as_ref()).await?;
        }
        if let Some(request) = &completed {
            let change = Change {
                kind: EventKind::EddUpdated,
                cause: "every named file uploaded",
                by: None,
                now,
            };
            append_request_event::<E>(&mut tx, enterprise, &user, request, change).await?;
        }
        tx.commit().await?;
        Ok(DocumentsStored::Stored {
            documents: stored,
            completed,
        })
    }

    async fn document_usage(
        &self,
        enterprise: EnterpriseId,
        user_id: &str,
    ) -> Result<DocumentUsage, StoreError> {
        // CAST: PostgreSQL sums BIGINTs as NUMERIC.
        let rows = self
            .engine
            .read(
                "SELECT CAST(COALESCE(SUM(CASE WHEN user_id = ? THEN size ELSE 0 END), 0) \
                 AS BIGINT) AS user_bytes, \
                 CAST(COALESCE(SUM(size), 0) AS BIGINT) AS enterprise_bytes \
                 FROM documents WHERE enterprise_id = ?",
                args![user_id, enterprise.0],
            )
            .await?;
        let row = one(rows)?;
        Ok(DocumentUsage {
            user: row.int("user_bytes")?,
            enterprise: row.int("enterprise_bytes")?,
        })
    }

    async fn document_totals(&self) -> Result<DocumentTotals, StoreError> {
        let rows = self
            .engine
            .read(
                "SELECT CAST(COALESCE(SUM(total), 0) AS BIGINT) AS all_bytes, \
                 CAST(COALESCE(MAX(total), 0) AS BIGINT) AS largest_bytes \
                 FROM (SELECT SUM(size) AS total FROM documents GROUP BY enterprise_id) AS t",
                Vec::new(),
            )
            .await?;
        let row = one(rows)?;
        Ok(DocumentTotals {
            all: row.int("all_bytes")?,
            largest_enterprise: row.int("largest_bytes")?,
        })
    }

    async fn list_documents(
        &self,
        enterprise: EnterpriseId,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Document>, StoreError> {
        let (filter, mut params) = match user_id {
            Some(u) => (" AND d.user_id = ?", args![enterprise.0, after, u]),
            None => ("", args![enterprise.0, after]),
        };
        params.push(i64::from(limit).into());
        let sql = format!(
            "SELECT {}, u.data_key FROM {DOCUMENTS_WITH_KEYS} \
             WHERE d.enterprise_id = ? AND d.id > ?{filter} ORDER BY d.id LIMIT ?",
            crate::prefixed("d", DOCUMENT_COLUMNS)
        );
        let rows = self.engine.read(&sql, params).await?;
        let open = |row| document_from(row, &self.sealer, enterprise);
        rows.iter().map(open).collect()
    }

    async fn document(
        &self,
        enterprise: EnterpriseId,
        id: i64,
    ) -> Result<Option<Document>, StoreError> {
        let sql = format!(
            "SELECT {}, u.data_key FROM {DOCUMENTS_WITH_KEYS} WHERE d.enterprise_id = ? AND d.id = ?",
            crate::prefixed("d", DOCUMENT_COLUMNS)
        );
        let rows = self.engine.read(&sql, args![enterprise.0, id]).await?;
        let open = |row| document_from(row, &self.sealer, enterprise);
        first(rows).as_ref().map(open).transpose()
    }

    async fn document_chunk(
        &self,
        enterprise: EnterpriseId,
        id: i64,
        seq: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let rows = self
            .engine
            .read(
                "SELECT c.bytes, d.user_id, d.sealed, u.data_key FROM document_chunks c \
                 JOIN documents d ON d.id = c.document_id \
                 LEFT JOIN users u ON u.enterprise_id = d.enterprise_id AND u.user_id = d.user_id \
                 WHERE d.enterprise_id = ? AND c.document_id = ? AND c.seq = ?",
                args![enterprise.0, id, seq],
            )
            .await?;
        let Some(mut row) = first(rows) else {
            return Ok(None);
        };
        let user_id = row.text("user_id")?;
        let bytes = row.take_bytes("bytes")?;
        match row_key(&row, &self.sealer, enterprise, &user_id)? {
            Some(key) => {
                let field = document_field(id, Some(seq));
                let binding = sealing::binding(enterprise, &user_id, &field);
                key.open(binding, &bytes)
                    .map(Some)
                    .map_err(sealing::refused)
            }
            None => Ok(Some(bytes)),
        }
    }
}

/// The request `id` of the enterprise, unlocked: who it belongs to.
async fn request_owner<E: Engine>(
    tx: &mut E::Tx,
    enterprise: EnterpriseId,
    id: i64,
) -> Result<Option<EddRequest>, StoreError> {
    let sql =
        format!("SELECT {REQUEST_COLUMNS} FROM edd_requests WHERE enterprise_id = ? AND id = ?");
    let rows = tx.fetch(&sql, args![enterprise.0, id]).await?;
    first(rows).as_ref().map(request_from).transpose()
}

/// Inserts one document and its bytes, piece by piece; the bytes must add up
/// to the size and digest the document claims.
/// With the user's data key, the file name and every piece are sealed.
async fn insert_document<E: Engine>(
    tx: &mut E::Tx,
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user: &Locked,
    mut document: NewDocument,
    now: OffsetDateTime,
) -> Result<Document, StoreError> {
    let user_id = user.user.summary.user_id.as_str();
    let sealed = user.key.is_some();
    let stem = match sealed {
        true => stem_index(sealer, stem(&document.filename)),
        false => stem(&document.filename).to_owned(),
    };
    // The id is known once the row exists: the name is sealed in a second write.
    let sql = format!(
        "INSERT INTO documents (enterprise_id, user_position, user_id, filename, stem, \
         document_type, content_type, size, sha256, uploaded_by, uploaded_at, ddq_id, sealed) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {DOCUMENT_COLUMNS}"
    );
    let placeholder = if sealed {
        ""
    } else {
        document.filename.as_str()
    };
    let params = args![
        enterprise.0,
        user.position,
        user_id,
        placeholder,
        stem,
        &document.document_type,
        &document.content_type,
        document.size,
        &document.sha256,
        document.uploaded_by.as_str(),
        micros(now),
        document.ddq_id,
        sealed
    ];
    let row = one(tx.fetch(&sql, params).await?)?;
    let id = row.int("id")?;
    if let Some(key) = &user.key {
        let field = document_field(id, None);
        let name = key.seal_text(
            sealing::binding(enterprise, user_id, &field),
            &document.filename,
        );
        tx.execute(
            "UPDATE documents SET filename = ? WHERE id = ?",
            args![name, id],
        )
        .await?;
    }
    let stored = Document {
        id,
        user_id: user.user.summary.user_id.clone(),
        filename: document.filename.clone(),
        document_type: row.text("document_type")?,
        content_type: row.text("content_type")?,
        size: row.int("size")?,
        sha256: row.text("sha256")?,
        uploaded_at: from_micros(row.int("uploaded_at")?),
        ddq_id: row.opt_int("ddq_id")?,
    };
    let (mut seq, mut total, mut digest) = (0_i64, 0_i64, Sha256::new());
    while let Some(chunk) = document.bytes.next_chunk().await? {
        if chunk.is_empty() || chunk.len() > CHUNK_SIZE {
            return Err(StoreError::Internal(format!(
                "a document piece of {} bytes is out of bounds",
                chunk.len()
            )));
        }
        total += chunk.len() as i64;
        digest.update(&chunk);
        let piece = match &user.key {
            Some(key) => {
                let field = document_field(id, Some(seq));
                key.seal(sealing::binding(enterprise, user_id, &field), &chunk)
            }
            None => chunk,
        };
        tx.execute(
            "INSERT INTO document_chunks (document_id, seq, bytes) VALUES (?, ?, ?)",
            args![stored.id, seq, piece],
        )
        .await?;
        seq += 1;
    }
    if total != document.size || hex::encode(digest.finalize()) != document.sha256 {
        return Err(StoreError::Internal(format!(
            "the bytes of {} changed while they were stored",
            document.filename
        )));
    }
    Ok(stored)
}

/// The user's PARTIAL_SUBMISSION request, moved to IN_REVIEW if every file its
/// answers name is now stored.
async fn complete_request<E: Engine>(
    tx: &mut E::Tx,
    enterprise: EnterpriseId,
    user_id: &str,
    now: OffsetDateTime,
) -> Result<Option<EddRequest>, StoreError> {
    let Some((mut request, files)) = lock_open_request::<E>(tx, enterprise, user_id).await? else {
        return Ok(None);
    };
    if request.status != EddStatus::PartialSubmission {
        return Ok(None);
    }
    let stored = stored_stems::<E>(tx, enterprise, user_id).await?;
    if !files.iter().all(|f| stored.contains(f)) {
        return Ok(None);
    }
    set_status::<E>(tx, &mut request, EddStatus::InReview, now).await?;
    Ok(Some(request))
}
