//! Sealing the rows a release before sealing wrote (CONTRACT §12): each user
//! whose row has no data key gets one, and its row and everything hanging from
//! it (events, outbox messages, documents and their pieces, EDD answers) is
//! sealed in one transaction. A pass that stops half-way (`kill -9`) leaves each
//! user either whole in the clear or whole sealed, and the next pass goes on
//! from there. Once a pass sealed anything, the engine rewrites its files so
//! that the old plaintext does not linger in free pages ([`Engine::compact`]).

use onboard_core::seal::DataKey;
use onboard_core::store::{EnterpriseId, Rendered, StoreError};

use crate::engine::{Engine, Row, Tx};
use crate::sealing::{self, binding};
use crate::users::{SUMMARY_COLUMNS, row_from};
use crate::{SqlStore, args};

/// Users sealed per round of the pass.
const ROUND: u32 = 200;

impl<E: Engine> SqlStore<E> {
    /// Seals every user row written before sealing, `ROUND` users at a time;
    /// returns how many it sealed.
    pub(crate) async fn seal_legacy(&self) -> Result<u64, StoreError> {
        let mut sealed = 0;
        loop {
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS}, profile FROM users WHERE data_key IS NULL \
                 ORDER BY position LIMIT {ROUND}"
            );
            let rows = self.engine.read(&sql, Vec::new()).await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                sealed += u64::from(self.seal_user_and_its_rows(row).await?);
            }
        }
        if sealed > 0 {
            self.engine.compact().await?;
            tracing::info!(
                users = sealed,
                "sealed the personal data an earlier release kept in the clear"
            );
        }
        Ok(sealed)
    }

    /// One user and its rows, in one transaction; `false` when another process
    /// sealed it first.
    async fn seal_user_and_its_rows(&self, row: Row) -> Result<bool, StoreError> {
        let position = row.int("position")?;
        let enterprise = EnterpriseId(row.int("enterprise_id")?);
        let mut user = row_from(row, true, &self.sealer)?;
        let decoded = user.clone().decode()?;
        user.rendered = Some(Rendered::of(&decoded)?);
        let user_id = user.user_id.clone();
        let (key, wrapped) = sealing::new_key(&self.sealer, enterprise, &user_id);
        let columns = sealing::seal_user(&self.sealer, enterprise, &user, &key, wrapped)?;
        let mut tx = self.engine.begin().await?;
        let changed = tx
            .execute(
                "UPDATE users SET data_key = ?, sealed = ?, email_index = ?, \
                 first_name_index = ?, last_name_index = ?, email = '', first_name = '', \
                 last_name = '', phone_number = '', profile = '{}', list_json = ?, \
                 user_json = ?, rendered_at = updated_at \
                 WHERE position = ? AND data_key IS NULL",
                args![
                    columns.data_key,
                    columns.sealed,
                    columns.email_index,
                    columns.first_name_index,
                    columns.last_name_index,
                    columns.list_json,
                    columns.user_json,
                    position
                ],
            )
            .await?;
        if changed == 0 {
            return Ok(false);
        }
        let user = (enterprise, user_id.as_str(), &key);
        seal_events::<E>(&mut tx, user).await?;
        seal_outbox::<E>(&mut tx, user).await?;
        seal_documents::<E>(&mut tx, &self.sealer, user).await?;
        seal_answers::<E>(&mut tx, &self.sealer, user).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// A user being sealed: its enterprise, its id and its new key.
type Sealing<'a> = (EnterpriseId, &'a str, &'a DataKey);

/// The rows of `table` (its `columns`) that hang from the user and are not
/// sealed yet.
async fn unsealed<E: Engine>(
    tx: &mut E::Tx,
    table: &str,
    columns: &str,
    (e, user_id, _): Sealing<'_>,
) -> Result<Vec<Row>, StoreError> {
    let sql = format!(
        "SELECT {columns} FROM {table} WHERE enterprise_id = ? AND user_id = ? AND sealed = FALSE"
    );
    tx.fetch(&sql, args![e.0, user_id]).await
}

async fn seal_events<E: Engine>(tx: &mut E::Tx, user: Sealing<'_>) -> Result<(), StoreError> {
    let (e, user_id, key) = user;
    let rows = unsealed::<E>(tx, "events", "event_id, snapshot, detail", user).await?;
    for row in rows {
        let event_id = row.int("event_id")?;
        let field = format!("event {event_id}");
        let seal = |text: String| key.seal_text(binding(e, user_id, &field), &text);
        let snapshot = seal(row.text("snapshot")?);
        let detail = row.opt_text("detail")?.map(seal);
        tx.execute(
            "UPDATE events SET snapshot = ?, detail = ?, sealed = TRUE \
             WHERE enterprise_id = ? AND event_id = ?",
            args![snapshot, detail, e.0, event_id],
        )
        .await?;
    }
    Ok(())
}

async fn seal_outbox<E: Engine>(tx: &mut E::Tx, user: Sealing<'_>) -> Result<(), StoreError> {
    let (e, user_id, key) = user;
    let rows = unsealed::<E>(tx, "outbox", "id, recipient, code", user).await?;
    let seal = |text: String| key.seal_text(binding(e, user_id, "outbox"), &text);
    for row in rows {
        tx.execute(
            "UPDATE outbox SET recipient = ?, code = ?, sealed = TRUE WHERE id = ?",
            args![
                seal(row.text("recipient")?),
                seal(row.text("code")?),
                row.int("id")?
            ],
        )
        .await?;
    }
    Ok(())
}

async fn seal_documents<E: Engine>(
    tx: &mut E::Tx,
    sealer: &onboard_core::seal::Sealer,
    user: Sealing<'_>,
) -> Result<(), StoreError> {
    let (e, user_id, key) = user;
    let rows = unsealed::<E>(tx, "documents", "id, filename, stem", user).await?;
    for row in rows {
        let id = row.int("id")?;
        let field = crate::edd::document_field(id, None);
        let filename = key.seal_text(binding(e, user_id, &field), &row.text("filename")?);
        let stem = crate::edd::stem_index(sealer, &row.text("stem")?);
        tx.execute(
            "UPDATE documents SET filename = ?, stem = ?, sealed = TRUE WHERE id = ?",
            args![filename, stem, id],
        )
        .await?;
        // One piece at a time: a document is never held whole.
        let mut seq = 0_i64;
        loop {
            let piece = tx
                .fetch(
                    "SELECT bytes FROM document_chunks WHERE document_id = ? AND seq = ?",
                    args![id, seq],
                )
                .await?;
            let Some(mut piece) = piece.into_iter().next() else {
                break;
            };
            let field = crate::edd::document_field(id, Some(seq));
            let sealed = key.seal(binding(e, user_id, &field), &piece.take_bytes("bytes")?);
            tx.execute(
                "UPDATE document_chunks SET bytes = ? WHERE document_id = ? AND seq = ?",
                args![sealed, id, seq],
            )
            .await?;
            seq += 1;
        }
    }
    Ok(())
}

async fn seal_answers<E: Engine>(
    tx: &mut E::Tx,
    sealer: &onboard_core::seal::Sealer,
    user: Sealing<'_>,
) -> Result<(), StoreError> {
    let (e, user_id, key) = user;
    let rows = unsealed::<E>(tx, "edd_requests", "id, answers, files", user).await?;
    for row in rows {
        let id = row.int("id")?;
        let field = crate::edd::answers_field(id);
        let answers = row
            .opt_text("answers")?
            .map(|text| key.seal_text(binding(e, user_id, &field), &text));
        let files = match row.opt_text("files")? {
            Some(json) => {
                let names: Vec<String> = serde_json::from_str(&json)
                    .map_err(|_| StoreError::Internal("corrupt row: edd files".into()))?;
                let indexes: Vec<String> = names
                    .iter()
                    .map(|n| crate::edd::stem_index(sealer, n))
                    .collect();
                Some(
                    serde_json::to_string(&indexes)
                        .map_err(|e| StoreError::Internal(e.to_string()))?,
                )
            }
            None => None,
        };
        tx.execute(
            "UPDATE edd_requests SET answers = ?, files = ?, sealed = TRUE WHERE id = ?",
            args![answers, files, id],
        )
        .await?;
    }
    Ok(())
}
