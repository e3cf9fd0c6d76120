//! Personal data sealed at rest (CONTRACT §12): envelope encryption with a data
//! key per end user, wrapped by a versioned master key.
//!
//! - The [`Keyring`] holds the master keys (one is current) and the blind-index
//!   key; it comes from a file the operator keeps apart from the database.
//! - Each end user gets a random 256-bit [`DataKey`] at registration. It is
//!   stored only wrapped ([`Sealer::wrap`]: AES-256-GCM under the current master
//!   key, the version written in front), so rotating the master key re-wraps
//!   keys and never re-encrypts rows, and destroying a user's wrapped key makes
//!   every value sealed with it unreadable (erasure that keeps the trail).
//! - A value is sealed with AES-256-GCM under its user's key, a random 96-bit
//!   nonce, and associated data naming its enterprise, user and field
//!   ([`Binding`]): a ciphertext moved to another row or column fails to open.
//! - Exact-match lookups on a personal value use a keyed blind index
//!   ([`Sealer::blind_index`], HMAC-SHA-256 under a key of its own).
//!
//! Unwrapped keys are cached (bounded, zeroed when dropped), keyed by the
//! wrapped text: a re-wrapped or destroyed key is simply never asked for again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Why sealed data could not be sealed or opened, or a keyring not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A ciphertext did not open under its key and binding: tampered with,
    /// moved from another row or column, or sealed under another keyring.
    #[error(
        "sealed data did not open ({0}); it was altered, moved, or sealed under another keyring"
    )]
    Tampered(String),
    /// A wrapped key names a master key version the keyring does not hold.
    #[error("a data key is wrapped by master key version {0}, which the keyring does not hold")]
    UnknownVersion(u32),
    /// The keyring file is not one this release reads.
    #[error("the master keyring is unreadable: {0}")]
    Keyring(String),
}

/// Key bytes that are zeroed when dropped.
type Secret = Zeroizing<[u8; 32]>;

fn random_secret() -> Secret {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).expect("the operating system's random generator failed");
    bytes
}

/// The master keys (by version; one is current) and the blind-index key.
pub struct Keyring {
    current: u32,
    masters: BTreeMap<u32, Secret>,
    index: Secret,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("versions", &self.versions())
            .finish_non_exhaustive()
    }
}

/// The keyring file as written: TOML, keys in standard base64.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeyringFile {
    current: u32,
    blind_index_key: String,
    keys: Vec<MasterKeyFile>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct MasterKeyFile {
    version: u32,
    key: String,
}

fn decode_key(text: &str, what: &str) -> Result<Secret, SealError> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::Keyring(format!("{what} is not base64")))?,
    );
    let array: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| SealError::Keyring(format!("{what} is not 32 bytes")))?;
    Ok(Zeroizing::new(array))
}

impl Keyring {
    /// A new keyring: master key version 1 and a blind-index key, both random.
    pub fn generate() -> Keyring {
        Keyring {
            current: 1,
            masters: BTreeMap::from([(1, random_secret())]),
            index: random_secret(),
        }
    }

    /// Reads a keyring file's text.
    pub fn parse(text: &str) -> Result<Keyring, SealError> {
        let file: KeyringFile =
            toml::from_str(text).map_err(|e| SealError::Keyring(e.message().to_owned()))?;
        let mut masters = BTreeMap::new();
        for key in &file.keys {
            let what = format!("master key version {}", key.version);
            if key.version == 0
                || masters
                    .insert(key.version, decode_key(&key.key, &what)?)
                    .is_some()
            {
                return Err(SealError::Keyring(format!(
                    "master key version {} is zero or listed twice",
                    key.version
                )));
            }
        }
        if !masters.contains_key(&file.current) {
            return Err(SealError::Keyring(format!(
                "the current version {} is not among its keys",
                file.current
            )));
        }
        Ok(Keyring {
            current: file.current,
            masters,
            index: decode_key(&file.blind_index_key, "the blind-index key")?,
        })
    }

    /// The keyring as its file's text.
    pub fn to_text(&self) -> String {
        let file = KeyringFile {
            current: self.current,
            blind_index_key: STANDARD.encode(self.index.as_ref()),
            keys: (self.masters.iter())
                .map(|(version, key)| MasterKeyFile {
                    version: *version,
                    key: STANDARD.encode(key.as_ref()),
                })
                .collect(),
        };
        let body = toml::to_string(&file).expect("a keyring serialises");
        format!(
            "# Onboard's master keyring. Whoever holds this file and a copy of the\n\
             # database can read every end user's personal data: keep it secret, and\n\
             # keep its backups apart from the database's.\n{body}"
        )
    }

    pub fn current(&self) -> u32 {
        self.current
    }

    pub fn versions(&self) -> Vec<u32> {
        self.masters.keys().copied().collect()
    }
}

/// Rotation is not built yet: these make the keyrings its tests need.
#[cfg(test)]
impl Keyring {
    /// A copy with a new random master key, one version above the highest, made
    /// current.
    pub fn with_new_version(&self) -> Keyring {
        let next = self.masters.keys().next_back().copied().unwrap_or(0) + 1;
        let mut masters = self.masters.clone();
        masters.insert(next, random_secret());
        Keyring {
            current: next,
            masters,
            index: self.index.clone(),
        }
    }

    /// A copy without version `version`; refused for the current version.
    pub fn without_version(&self, version: u32) -> Result<Keyring, SealError> {
        if version == self.current {
            return Err(SealError::Keyring(format!(
                "version {version} is the current version"
            )));
        }
        let mut masters = self.masters.clone();
        if masters.remove(&version).is_none() {
            return Err(SealError::UnknownVersion(version));
        }
        Ok(Keyring {
            current: self.current,
            masters,
            index: self.index.clone(),
        })
    }
}

/// What a sealed value belongs to: its enterprise, its user and its field. It is
/// the associated data of the seal, so the value opens only where it was sealed.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub enterprise: i64,
    pub user_id: &'a str,
    pub field: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("{}\0{}\0{}", self.enterprise, self.user_id, self.field).into_bytes()
    }
}

/// One end user's data key, unwrapped.
#[derive(Clone)]
pub struct DataKey(Secret);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn generate() -> DataKey {
        DataKey(random_secret())
    }

    /// Seals `plain` for `binding`: nonce, then ciphertext and tag.
    pub fn seal(&self, binding: Binding<'_>, plain: &[u8]) -> Vec<u8> {
        seal_with(&self.0, &binding.aad(), plain)
    }

    pub fn open(&self, binding: Binding<'_>, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        open_with(&self.0, &binding.aad(), sealed)
            .map_err(|()| SealError::Tampered(binding.field.to_owned()))
    }

    /// [`DataKey::seal`] of text, as base64 (for text columns).
    pub fn seal_text(&self, binding: Binding<'_>, plain: &str) -> String {
        STANDARD.encode(self.seal(binding, plain.as_bytes()))
    }

    pub fn open_text(&self, binding: Binding<'_>, sealed: &str) -> Result<String, SealError> {
        let tampered = || SealError::Tampered(binding.field.to_owned());
        let bytes = STANDARD.decode(sealed).map_err(|_| tampered())?;
        String::from_utf8(self.open(binding, &bytes)?).map_err(|_| tampered())
    }
}

fn aead_key(secret: &[u8; 32]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, secret).expect("a 32-byte AES-256 key"))
}

fn seal_with(secret: &[u8; 32], aad: &[u8], plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).expect("the operating system's random generator failed");
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plain);
    let mut body = out.split_off(NONCE_LEN);
    aead_key(secret)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut body,
        )
        .expect("sealing a value within AES-GCM's limits");
    out.append(&mut body);
    out
}

fn open_with(secret: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, ()> {
    if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(());
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| ())?;
    let mut body = body.to_vec();
    let plain = aead_key(secret)
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .map_err(|_| ())?;
    Ok(plain.to_vec())
}

/// An enterprise's key under one master key: HMAC-SHA-256 of the enterprise id.
fn enterprise_key(master: &[u8; 32], enterprise: i64) -> Secret {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(b"onboard enterprise key\0");
    mac.update(enterprise.to_string().as_bytes());
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The most unwrapped data keys kept in memory (32 bytes each, plus the
/// wrapped text that finds them).
const CACHED_KEYS: usize = 100_000;

/// Seals and opens personal data with the keyring; cheap to clone.
#[derive(Clone)]
pub struct Sealer(Arc<Inner>);

struct Inner {
    keyring: RwLock<Arc<Keyring>>,
    unwrapped: Mutex<HashMap<String, DataKey>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Sealer").field(&self.keyring()).finish()
    }
}

impl Sealer {
    pub fn new(keyring: Keyring) -> Sealer {
        Sealer(Arc::new(Inner {
            keyring: RwLock::new(Arc::new(keyring)),
            unwrapped: Mutex::new(HashMap::new()),
        }))
    }

    /// A sealer with a keyring of its own, for tests and throw-away databases.
    pub fn ephemeral() -> Sealer {
        Sealer::new(Keyring::generate())
    }

    pub fn keyring(&self) -> Arc<Keyring> {
        self.0.keyring.read().expect("keyring lock").clone()
    }

    /// Replaces the keyring (a reload after `master-key add`). Keys already
    /// unwrapped stay usable; new wraps use the new current version.
    pub fn reload(&self, keyring: Keyring) {
        *self.0.keyring.write().expect("keyring lock") = Arc::new(keyring);
    }

    /// `key` wrapped under the current master key, as `v<version>.<base64>`.
    pub fn wrap(&self, key: &DataKey, owner: Binding<'_>) -> String {
        let keyring = self.keyring();
        let master = &keyring.masters[&keyring.current];
        let sealed = seal_with(master, &owner.aad(), key.0.as_ref());
        format!("v{}.{}", keyring.current, STANDARD.encode(sealed))
    }

    /// The master key version a wrapped key names.
    pub fn version_of(wrapped: &str) -> Option<u32> {
        wrapped.strip_prefix('v')?.split_once('.')?.0.parse().ok()
    }

    /// The data key `wrapped` holds, from the cache or unwrapped now.
    pub fn unwrap(&self, wrapped: &str, owner: Binding<'_>) -> Result<DataKey, SealError> {
        if let Some(key) = self.0.unwrapped.lock().expect("key cache").get(wrapped) {
            return Ok(key.clone());
        }
        let key = self.unwrap_uncached(wrapped, owner)?;
        let mut cache = self.0.unwrapped.lock().expect("key cache");
        if cache.len() >= CACHED_KEYS {
            cache.clear();
        }
        cache.insert(wrapped.to_owned(), key.clone());
        Ok(key)
    }

    fn unwrap_uncached(&self, wrapped: &str, owner: Binding<'_>) -> Result<DataKey, SealError> {
        let tampered = || SealError::Tampered("data key".to_owned());
        let version = Sealer::version_of(wrapped).ok_or_else(tampered)?;
        let (_, body) = wrapped.split_once('.').ok_or_else(tampered)?;
        let keyring = self.keyring();
        let master = (keyring.masters.get(&version)).ok_or(SealError::UnknownVersion(version))?;
        let sealed = STANDARD.decode(body).map_err(|_| tampered())?;
        let plain =
            Zeroizing::new(open_with(master, &owner.aad(), &sealed).map_err(|()| tampered())?);
        let array: [u8; 32] = plain.as_slice().try_into().map_err(|_| tampered())?;
        Ok(DataKey(Zeroizing::new(array)))
    }

    /// Seals a value that belongs to an enterprise rather than one user (a
    /// kept idempotent answer, which may name several users), under a key
    /// derived from the current master key: `v<version>.<base64>`.
    pub fn seal_enterprise(&self, enterprise: i64, field: &str, plain: &[u8]) -> String {
        let keyring = self.keyring();
        let key = enterprise_key(&keyring.masters[&keyring.current], enterprise);
        let binding = Binding {
            enterprise,
            user_id: "",
            field,
        };
        let sealed = seal_with(&key, &binding.aad(), plain);
        format!("v{}.{}", keyring.current, STANDARD.encode(sealed))
    }

    pub fn open_enterprise(
        &self,
        enterprise: i64,
        field: &str,
        sealed: &str,
    ) -> Result<Vec<u8>, SealError> {
        let tampered = || SealError::Tampered(field.to_owned());
        let version = Sealer::version_of(sealed).ok_or_else(tampered)?;
        let (_, body) = sealed.split_once('.').ok_or_else(tampered)?;
        let keyring = self.keyring();
        let master = (keyring.masters.get(&version)).ok_or(SealError::UnknownVersion(version))?;
        let key = enterprise_key(master, enterprise);
        let binding = Binding {
            enterprise,
            user_id: "",
            field,
        };
        let bytes = STANDARD.decode(body).map_err(|_| tampered())?;
        open_with(&key, &binding.aad(), &bytes).map_err(|()| tampered())
    }

    /// The blind index of `value` in `field`: equal values give equal indexes,
    /// and nothing about the value can be read from one without the key.
    pub fn blind_index(&self, field: &str, value: &str) -> String {
        let keyring = self.keyring();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(keyring.index.as_ref())
            .expect("HMAC takes any key length");
        mac.update(field.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(field: &str) -> Binding<'_> {
        Binding {
            enterprise: 1,
            user_id: "alice",
            field,
        }
    }

    #[test]
    fn a_sealed_value_opens_only_under_its_own_binding() {
        let key = DataKey::generate();
        let sealed = key.seal_text(binding("email"), "alice@example.com");
        assert!(!sealed.contains("alice"));
        assert_eq!(
            key.open_text(binding("email"), &sealed).unwrap(),
            "alice@example.com"
        );
        assert!(key.open_text(binding("first_name"), &sealed).is_err());
        let other_user = Binding {
            user_id: "bob",
            ..binding("email")
        };
        assert!(key.open_text(other_user, &sealed).is_err());
        assert!(
            DataKey::generate()
                .open_text(binding("email"), &sealed)
                .is_err()
        );
    }

    #[test]
    fn a_wrapped_key_unwraps_after_a_rotation_and_not_after_its_version_is_retired() {
        let sealer = Sealer::ephemeral();
        let key = DataKey::generate();
        let wrapped = sealer.wrap(&key, binding("data key"));
        assert_eq!(Sealer::version_of(&wrapped), Some(1));
        let rotated = sealer.keyring().with_new_version();
        sealer.reload(Keyring::parse(&rotated.to_text()).unwrap());
        let fresh = Sealer::new(Keyring::parse(&rotated.to_text()).unwrap());
        let unwrapped = fresh.unwrap(&wrapped, binding("data key")).unwrap();
        let sealed = key.seal(binding("x"), b"v");
        assert_eq!(unwrapped.open(binding("x"), &sealed).unwrap(), b"v");
        let rewrapped = fresh.wrap(&unwrapped, binding("data key"));
        assert_eq!(Sealer::version_of(&rewrapped), Some(2));
        let retired = Sealer::new(fresh.keyring().without_version(1).unwrap());
        assert_eq!(
            retired.unwrap(&wrapped, binding("data key")).unwrap_err(),
            SealError::UnknownVersion(1)
        );
        assert!(retired.unwrap(&rewrapped, binding("data key")).is_ok());
    }

    #[test]
    fn a_keyring_survives_its_file_and_refuses_a_current_version_it_lacks() {
        let keyring = Keyring::generate().with_new_version();
        let text = keyring.to_text();
        let back = Keyring::parse(&text).unwrap();
        assert_eq!((back.current(), back.versions()), (2, vec![1, 2]));
        let broken = text.replace("current = 2", "current = 3");
        assert!(Keyring::parse(&broken).is_err());
        assert!(keyring.without_version(2).is_err());
    }

    #[test]
    fn an_enterprise_value_opens_for_its_enterprise_and_field_only() {
        let sealer = Sealer::ephemeral();
        let sealed = sealer.seal_enterprise(7, "answer", b"token");
        assert_eq!(
            sealer.open_enterprise(7, "answer", &sealed).unwrap(),
            b"token"
        );
        assert!(sealer.open_enterprise(8, "answer", &sealed).is_err());
        assert!(sealer.open_enterprise(7, "other", &sealed).is_err());
    }

    #[test]
    fn blind_indexes_match_equal_values_only() {
        let sealer = Sealer::ephemeral();
        let a = sealer.blind_index("email", "a@example.com");
        assert_eq!(a, sealer.blind_index("email", "a@example.com"));
        assert_ne!(a, sealer.blind_index("email", "b@example.com"));
        assert_ne!(a, sealer.blind_index("phone", "a@example.com"));
        assert_ne!(a, Sealer::ephemeral().blind_index("email", "a@example.com"));
    }
}
