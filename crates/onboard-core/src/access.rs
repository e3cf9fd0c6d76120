//! Who may use the API and who may act on its users (CONTRACT §8): an
//! enterprise's API keys, which can be revoked, rotated and expire, and the
//! operators, people with a name, a role and a password.
//!
//! Read [`ApiKeyRecord::ended`] for when a key stops working, and
//! [`OperatorName`] and [`Password`] for what an operator may be called and use.

use std::fmt;

use time::OffsetDateTime;

use crate::secret::KeyHash;
use crate::tenant::EnterpriseId;

/// A problem with a name, a password or a duration an operator typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AccessError(pub String);

/// The public id of an API key: `key_` and 32 hex characters. It names a key in
/// `onboard keys` commands; it is not the key and authenticates nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    pub fn generate() -> ApiKeyId {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
        ApiKeyId(format!("key_{}", hex::encode(bytes)))
    }

    pub fn parse(text: &str) -> Result<ApiKeyId, AccessError> {
        let hex = text.strip_prefix("key_").unwrap_or_default();
        let well_formed = hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            Ok(ApiKeyId(text.to_owned()))
        } else {
            Err(AccessError(format!(
                "{text:?} is not a key id: key ids are key_ and 32 lower-case hex characters \
                 (see `onboard keys list`)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a key no longer works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEnd {
    Revoked,
    Expired,
}

impl KeyEnd {
    /// The sentence a feed session hears before it is closed.
    pub fn sentence(self) -> &'static str {
        match self {
            KeyEnd::Revoked => "the API key this connection authenticated with was revoked",
            KeyEnd::Expired => "the API key this connection authenticated with has expired",
        }
    }
}

/// A stored API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub enterprise: EnterpriseId,
    pub label: String,
    pub created_at: OffsetDateTime,
    /// The operator who created it, when one was named.
    pub created_by: Option<String>,
    pub last_used_at: Option<OffsetDateTime>,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    /// The operator who revoked it, when one was named.
    pub revoked_by: Option<String>,
    /// The key a rotation made to replace this one (whose `created_by` names
    /// who rotated).
    pub replaced_by: Option<ApiKeyId>,
}

impl ApiKeyRecord {
    /// Whether, and why, the key no longer works at `now`. Revocation wins over
    /// expiry: it is the stronger statement.
    pub fn ended(&self, now: OffsetDateTime) -> Option<KeyEnd> {
        if self.revoked_at.is_some() {
            Some(KeyEnd::Revoked)
        } else if self.expires_at.is_some_and(|at| at <= now) {
            Some(KeyEnd::Expired)
        } else {
            None
        }
    }
}

/// A key to store: its id, its hash and what describes it.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: ApiKeyId,
    pub enterprise: EnterpriseId,
    pub label: String,
    pub hash: KeyHash,
    pub expires_at: Option<OffsetDateTime>,
    pub created_by: Option<String>,
}

/// Why a key could not be revoked or rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// No key of that id belongs to the enterprise.
    Unknown,
    AlreadyRevoked(OffsetDateTime),
    /// Rotation only: an expired key has no grace period left to give.
    Expired(OffsetDateTime),
    /// Rotation only: the key was rotated already, to this successor.
    AlreadyRotated(ApiKeyId),
}

/// What [`crate::store::AccessStore::revoke_api_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    Revoked(ApiKeyRecord),
    Refused(KeyRefusal),
}

/// What [`crate::store::AccessStore::rotate_api_key`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    Rotated {
        old: Box<ApiKeyRecord>,
        new: Box<ApiKeyRecord>,
    },
    Refused(KeyRefusal),
}

/// The longest label a key may have.
pub const MAX_LABEL_CHARS: usize = 100;

/// A key's label: trimmed, at most [`MAX_LABEL_CHARS`], no control characters.
pub fn parse_label(text: &str) -> Result<String, AccessError> {
    let label = text.trim();
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(AccessError(format!(
            "the label is longer than {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(AccessError(
            "the label contains control characters".to_owned(),
        ));
    }
    if crate::values::has_invisible(label) {
        return Err(AccessError(format!(
            "the label {}",
            crate::values::ValueError::Invisible
        )));
    }
    Ok(label.to_owned())
}

/// A duration typed as a number and a unit: `90d`, `24h`, `30m`, `45s`
/// (`--expires-in`, `--grace`). Zero is allowed (a rotation without grace).
pub fn parse_duration(text: &str) -> Result<time::Duration, AccessError> {
    let bad = || {
        AccessError(format!(
            "{text:?} is not a duration: write a whole number and a unit, s, m, h or d \
             (e.g. 90d, 24h)"
        ))
    };
    let text = text.trim();
    let unit = text.chars().last().ok_or_else(bad)?;
    let number: i64 = text[..text.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| bad())?;
    let seconds = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    // Ten years bounds every arithmetic on the result.
    const MAX_SECONDS: i64 = 10 * 366 * 86_400;
    match number.checked_mul(seconds) {
        Some(total) if (0..=MAX_SECONDS).contains(&total) => Ok(time::Duration::seconds(total)),
        _ => Err(AccessError(format!(
            "{text:?} is out of range: from 0 up to 10 years"
        ))),
    }
}

/// An operator's name: 1 to 64 characters of ASCII letters, digits and `. _ - @`,
/// so that an e-mail address fits and nothing needs quoting in a log line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperatorName(String);

impl OperatorName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<OperatorName, AccessError> {
        let ok = (1..=Self::MAX_CHARS).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
        if ok {
            Ok(OperatorName(text.to_owned()))
        } else {
            Err(AccessError(format!(
                "{text:?} is not an operator name: use 1 to {} ASCII letters, digits, \
                 '.', '_', '-' or '@'",
                Self::MAX_CHARS
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperatorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an operator may do: reviewers review users (and EDD); admins also
/// manage keys, webhooks and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Reviewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
        }
    }

    pub fn parse(text: &str) -> Result<Role, AccessError> {
        match text {
            "admin" => Ok(Role::Admin),
            "reviewer" => Ok(Role::Reviewer),
            _ => Err(AccessError(format!(
                "{text:?} is not a role: use admin or reviewer"
            ))),
        }
    }
}

/// A stored operator, with the PHC string of its password.
#[derive(Clone, PartialEq, Eq)]
pub struct Operator {
    pub name: OperatorName,
    pub role: Role,
    pub password_hash: String,
    pub created_at: OffsetDateTime,
    pub password_set_at: OffsetDateTime,
    pub disabled_at: Option<OffsetDateTime>,
}

impl fmt::Debug for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Operator")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

/// What a change of an operator found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorChange {
    Changed,
    Unknown,
    AlreadyDisabled,
}

/// An operator's password, in memory only. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Shorter passwords are refused: 12 characters is the floor of current
    /// guidance for passwords that are not the only factor guarding data.
    pub const MIN_CHARS: usize = 12;
    /// Longer ones too: Argon2 would hash megabytes, and nobody types them.
    pub const MAX_CHARS: usize = 256;
    /// A generated password: 24 characters from 62 (about 143 bits).
    const GENERATED_CHARS: usize = 24;

    pub fn generate(random: &dyn crate::random::Random) -> Password {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let text = (0..Self::GENERATED_CHARS)
            .map(|_| char::from(ALPHABET[random.below(ALPHABET.len() as u32) as usize]))
            .collect();
        Password(text)
    }

    /// A password someone chose: the line as typed, without its line ending.
    pub fn chosen(text: &str) -> Result<Password, AccessError> {
        let text = text.trim_end_matches(['\r', '\n']);
        let chars = text.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(AccessError(format!(
                "the password is {chars} characters; at least {} are required",
                Self::MIN_CHARS
            )));
        }
        if chars > Self::MAX_CHARS {
            return Err(AccessError(format!(
                "the password is longer than {} characters",
                Self::MAX_CHARS
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(AccessError(
                "the password contains control characters".to_owned(),
            ));
        }
        Ok(Password(text.to_owned()))
    }

    /// A password presented at sign-in: checked against the stored hash as it
    /// is, whatever its length (the rules are for setting one).
    pub fn presented(text: &str) -> Password {
        Password(text.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Argon2id with the crate's default cost and a fresh 16-byte salt, as a
    /// PHC string.
    pub fn hash(&self, random: &dyn crate::random::Random) -> Result<String, AccessError> {
        use argon2::password_hash::PasswordHasher as _;
        let mut salt = [0u8; 16];
        random.fill(&mut salt);
        argon2::Argon2::default()
            .hash_password_with_salt(self.0.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| AccessError(format!("the password could not be hashed: {e}")))
    }

    /// Whether this is the password `phc` was made from.
    pub fn matches(&self, phc: &str) -> bool {
        use argon2::password_hash::PasswordVerifier as _;
        argon2::Argon2::default()
            .verify_password(self.0.as_bytes(), phc)
            .is_ok()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Who made a change and why: written beside the event it caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub operator: String,
    pub note: String,
}

/// The longest note an operator may attach to an action.
pub const MAX_NOTE_CHARS: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_a_number_and_a_unit_and_refuse_the_rest() {
        assert_eq!(parse_duration("90d").unwrap(), time::Duration::days(90));
        assert_eq!(parse_duration("24h").unwrap(), time::Duration::hours(24));
        assert_eq!(parse_duration("0s").unwrap(), time::Duration::ZERO);
        for bad in [
            "",
            "d",
            "12",
            "5w",
            "-1h",
            "1.5h",
            "99999999999999d",
            "3650000d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn key_ids_have_one_spelling() {
        let id = ApiKeyId::generate();
        assert_eq!(ApiKeyId::parse(id.as_str()).unwrap(), id);
        for bad in ["key_", "key_ABCDEF0123456789abcdef0123456789", "onb_00", ""] {
            assert!(ApiKeyId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn passwords_are_hashed_with_argon2id_and_verified() {
        let password = Password::chosen("correct horse battery\n").unwrap();
        let phc = password.hash(&crate::random::OsRandom).unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(password.matches(&phc));
        assert!(
            !Password::chosen("correct horse battery!")
                .unwrap()
                .matches(&phc)
        );
        assert!(Password::chosen("short").is_err());
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn operator_names_are_plain() {
        assert!(OperatorName::parse("ana.lima@example.com").is_ok());
        for bad in ["", "a b", "ünï", &"x".repeat(65), "x;drop"] {
            assert!(OperatorName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
