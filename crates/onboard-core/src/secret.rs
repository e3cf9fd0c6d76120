//! Secrets the server hands out once and keeps only as hashes: enterprise API keys
//! (and, later, user auth tokens). Keys are 256 random bits, so a fast hash is the
//! right tool; a password hash would cost 50–200 ms on every request for nothing.

use std::fmt;

use sha2::{Digest, Sha256};

/// A new API key, shown once to whoever created it. `Debug` never prints it.
pub struct ApiKey(String);

impl ApiKey {
    /// `onb_` and 64 hex characters from the operating system's CSPRNG.
    pub fn generate() -> Result<ApiKey, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(ApiKey(format!("onb_{}", hex::encode(bytes))))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// The SHA-256 of a presented secret, hex-encoded: what the store keeps and looks up.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(secret: &str) -> KeyHash {
        KeyHash(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A hash as a store returns it.
    pub fn from_stored(hex: String) -> KeyHash {
        KeyHash(hex)
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({}…)", &self.0[..8])
    }
}

/// How long a user auth token is valid (CONTRACT §4).
pub const USER_TOKEN_TTL: time::Duration = time::Duration::hours(24);

/// A new user auth token: 32 random bytes as 64 hex characters, shown once.
pub struct UserToken(String);

impl UserToken {
    pub fn generate(random: &dyn crate::random::Random) -> UserToken {
        let mut bytes = [0u8; 32];
        random.fill(&mut bytes);
        UserToken(hex::encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.0)
    }
}

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_differ_and_hash_stably() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 4 + 64);
        assert_eq!(a.hash(), KeyHash::of(a.expose()));
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
    }
}
