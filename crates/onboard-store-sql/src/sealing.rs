//! How rows hold personal data sealed (CONTRACT §12), in one place for every
//! table: which columns are sealed, under which binding, and how a row that
//! does not open fails (closed: an error logged, a 500 naming no data).
//!
//! A user row written by this release carries its wrapped data key in
//! `data_key`; its email, names, phone number and profile are sealed together
//! in `sealed` (the plain columns hold empty text), and its rendered wire JSON
//! in `list_json` and `user_json` is sealed too. A row whose `data_key` is NULL
//! was written before sealing existed and is read as it is, until the upgrade
//! pass seals it.

use onboard_core::seal::{Binding, DataKey, SealError, Sealer};
use onboard_core::store::{EnterpriseId, Rendered, StoreError, UserRow};

/// The fields of a user row that are personal data, sealed as one JSON value.
#[derive(serde::Serialize, serde::Deserialize)]
struct Personal {
    email: String,
    first_name: String,
    last_name: String,
    phone_number: String,
    profile: Option<String>,
}

/// The columns of a sealed user row, as written.
pub(crate) struct SealedUser {
    pub data_key: String,
    pub sealed: String,
    pub email_index: String,
    pub first_name_index: String,
    pub last_name_index: String,
    pub list_json: Option<String>,
    pub user_json: Option<String>,
}

/// A failure to open sealed data: logged with what failed (never the data),
/// and answered as an internal error.
pub(crate) fn refused(e: SealError) -> StoreError {
    tracing::error!(error = %e, "sealed personal data did not open");
    StoreError::Internal(format!("sealed data: {e}"))
}

pub(crate) fn binding<'a>(
    enterprise: EnterpriseId,
    user_id: &'a str,
    field: &'a str,
) -> Binding<'a> {
    Binding {
        enterprise: enterprise.0,
        user_id,
        field,
    }
}

/// The blind index of a searchable field (`email`, `first_name`, `last_name`):
/// lower-cased, as the console's search compares.
pub(crate) fn search_index(sealer: &Sealer, field: &str, value: &str) -> String {
    sealer.blind_index(field, &value.to_lowercase())
}

/// A new data key for a user, and its wrapped text.
pub(crate) fn new_key(
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user_id: &str,
) -> (DataKey, String) {
    let key = DataKey::generate();
    let wrapped = sealer.wrap(&key, binding(enterprise, user_id, "data key"));
    (key, wrapped)
}

/// The data key `wrapped` holds for this user.
pub(crate) fn key_of(
    sealer: &Sealer,
    enterprise: EnterpriseId,
    user_id: &str,
    wrapped: &str,
) -> Result<DataKey, StoreError> {
    sealer
        .unwrap(wrapped, binding(enterprise, user_id, "data key"))
        .map_err(refused)
}

/// Seals `row` under `key` (its rendered JSON too, when it has it).
pub(crate) fn seal_user(
    sealer: &Sealer,
    enterprise: EnterpriseId,
    row: &UserRow,
    key: &DataKey,
    wrapped: String,
) -> Result<SealedUser, StoreError> {
    let user_id = row.user_id.as_str();
    let personal = Personal {
        email: row.email.clone(),
        first_name: row.first_name.clone(),
        last_name: row.last_name.clone(),
        phone_number: row.phone_number.clone(),
        profile: row.profile.clone(),
    };
    let json = serde_json::to_string(&personal)
        .map_err(|e| StoreError::Internal(format!("personal data does not serialise: {e}")))?;
    let seal = |field: &str, text: &str| key.seal_text(binding(enterprise, user_id, field), text);
    Ok(SealedUser {
        data_key: wrapped,
        sealed: seal("personal", &json),
        email_index: search_index(sealer, "email", &row.email),
        first_name_index: search_index(sealer, "first_name", &row.first_name),
        last_name_index: search_index(sealer, "last_name", &row.last_name),
        list_json: row.rendered.as_ref().map(|r| seal("list_json", &r.list)),
        user_json: row.rendered.as_ref().map(|r| seal("user_json", &r.full)),
    })
}

/// Rendered JSON sealed under `key`, for an update of the row's columns.
pub(crate) fn seal_rendered(
    enterprise: EnterpriseId,
    user_id: &str,
    key: &DataKey,
    rendered: &Rendered,
) -> (String, String) {
    (
        key.seal_text(binding(enterprise, user_id, "list_json"), &rendered.list),
        key.seal_text(binding(enterprise, user_id, "user_json"), &rendered.full),
    )
}

/// Fills the personal fields of `row` from its sealed column.
pub(crate) fn open_user(
    enterprise: EnterpriseId,
    row: &mut UserRow,
    key: &DataKey,
    sealed: &str,
) -> Result<(), StoreError> {
    let json = key
        .open_text(binding(enterprise, &row.user_id, "personal"), sealed)
        .map_err(refused)?;
    let personal: Personal = serde_json::from_str(&json)
        .map_err(|e| StoreError::Internal(format!("corrupt sealed row: {e}")))?;
    row.email = personal.email;
    row.first_name = personal.first_name;
    row.last_name = personal.last_name;
    row.phone_number = personal.phone_number;
    if row.profile.is_some() {
        row.profile = personal.profile;
    }
    Ok(())
}

/// Stored wire JSON as read with its row's key and user id: `<wrapped key>
/// <user_id> <sealed JSON>` for a sealed row (the statement joins them, so one
/// text column carries all three; neither a wrapped key nor a `user_id` holds a
/// space), or the JSON itself for a row written before sealing.
pub(crate) fn open_stored_json(
    sealer: &Sealer,
    enterprise: EnterpriseId,
    field: &str,
    stored: &str,
) -> Result<String, StoreError> {
    if stored.starts_with('{') {
        return Ok(stored.to_owned());
    }
    let mut parts = stored.splitn(3, ' ');
    let (Some(wrapped), Some(user_id), Some(sealed)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(StoreError::Internal(
            "corrupt sealed row: stored JSON".into(),
        ));
    };
    let key = key_of(sealer, enterprise, user_id, wrapped)?;
    key.open_text(binding(enterprise, user_id, field), sealed)
        .map_err(refused)
}

/// The SQL of a stored JSON column read for [`open_stored_json`].
pub(crate) fn stored_json_sql(column: &str) -> String {
    format!("COALESCE(data_key || ' ' || user_id || ' ', '') || {column}")
}

impl<E: crate::Engine> crate::SqlStore<E> {
    /// Refuses a keyring that cannot open this database's data keys: one
    /// sealed user's key is unwrapped, and its master key version named when
    /// the keyring lacks it. A database with no sealed data accepts any.
    pub async fn check_keyring(&self) -> Result<(), StoreError> {
        let rows = self
            .engine
            .read(
                "SELECT enterprise_id, user_id, data_key FROM users \
                 WHERE data_key IS NOT NULL ORDER BY position DESC LIMIT 1",
                Vec::new(),
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(());
        };
        let (enterprise, user_id) = (
            EnterpriseId(row.int("enterprise_id")?),
            row.text("user_id")?,
        );
        let binding = binding(enterprise, &user_id, "data key");
        match self.sealer.unwrap(&row.text("data_key")?, binding) {
            Ok(_) => Ok(()),
            Err(e) => Err(StoreError::Keyring(e.to_string())),
        }
    }
}
