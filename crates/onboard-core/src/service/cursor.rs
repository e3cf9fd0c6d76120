//! List cursors (CONTRACT §2, §11): opaque to clients, sealed by the server.
//!
//! Inside, a cursor is the keyset position of the last user of a page — a row
//! number shared by every enterprise, so it must not be readable: two cursors
//! would tell how many users other enterprises registered in between. It leaves
//! the server encrypted with a fresh nonce (the position XOR a keystream drawn
//! from HMAC-SHA256 of the nonce) and tagged (HMAC-SHA256 over the enterprise,
//! the nonce and the ciphertext), under a key every node reads from the database.
//! A cursor edited, truncated, or issued to another enterprise fails the tag: 400.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;

use super::{Onboarding, ServiceError};
use crate::store::EnterpriseId;

/// The keyset position of a list page: the last user it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub(crate) i64);

const NONCE: usize = 8;
const TAG: usize = 12;
/// `c` + hex of nonce, sealed position and tag.
const LEN: usize = 1 + 2 * (NONCE + 8 + TAG);

/// The name of the cursor key among the server secrets.
const SECRET_NAME: &str = "list-cursor-key";

/// The cursor key, read once per process.
#[derive(Default)]
pub(crate) struct CursorKey(OnceCell<[u8; 32]>);

fn mac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn keystream(key: &[u8; 32], enterprise: EnterpriseId, nonce: &[u8]) -> [u8; 8] {
    let full = mac(key, &[b"cursor-stream", &enterprise.0.to_be_bytes(), nonce]);
    let mut out = [0; 8];
    out.copy_from_slice(&full[..8]);
    out
}

fn tag(key: &[u8; 32], enterprise: EnterpriseId, nonce: &[u8], sealed: &[u8]) -> [u8; TAG] {
    let full = mac(
        key,
        &[b"cursor-tag", &enterprise.0.to_be_bytes(), nonce, sealed],
    );
    let mut out = [0; TAG];
    out.copy_from_slice(&full[..TAG]);
    out
}

fn seal(key: &[u8; 32], enterprise: EnterpriseId, nonce: [u8; NONCE], cursor: Cursor) -> String {
    let stream = keystream(key, enterprise, &nonce);
    let mut sealed = cursor.0.to_be_bytes();
    for (b, k) in sealed.iter_mut().zip(stream) {
        *b ^= k;
    }
    let tag = tag(key, enterprise, &nonce, &sealed);
    format!(
        "c{}{}{}",
        hex::encode(nonce),
        hex::encode(sealed),
        hex::encode(tag)
    )
}

fn open(key: &[u8; 32], enterprise: EnterpriseId, text: &str) -> Option<Cursor> {
    let hex_part = text.strip_prefix('c').filter(|_| text.len() == LEN)?;
    // Lower-case hex only: one cursor has one spelling (found by fuzzing: the
    // upper-case spelling of a sealed cursor opened too).
    if !hex_part
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let bytes = hex::decode(hex_part).ok()?;
    let (nonce, rest) = bytes.split_at(NONCE);
    let (sealed, given_tag) = rest.split_at(8);
    let expected = tag(key, enterprise, nonce, sealed);
    // Constant time: the comparison must not tell how much of a guess was right.
    let same = expected
        .iter()
        .zip(given_tag)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if !same {
        return None;
    }
    let stream = keystream(key, enterprise, nonce);
    let mut position = [0; 8];
    for ((p, s), k) in position.iter_mut().zip(sealed).zip(stream) {
        *p = s ^ k;
    }
    Some(Cursor(i64::from_be_bytes(position))).filter(|c| c.0 >= 0)
}

impl Cursor {
    /// Seals a cursor under `key` and `nonce`: the wire form, without the service
    /// (for fuzzing and tests; the service draws the key and the nonce itself).
    pub fn seal_with(self, key: &[u8; 32], enterprise: EnterpriseId, nonce: [u8; 8]) -> String {
        seal(key, enterprise, nonce, self)
    }

    /// Opens a wire cursor sealed under `key` for `enterprise`; `None` for anything
    /// this key and enterprise did not seal.
    pub fn open_with(key: &[u8; 32], enterprise: EnterpriseId, text: &str) -> Option<Cursor> {
        open(key, enterprise, text)
    }
}

impl Onboarding {
    /// The server's key, shared by every node; also signs the console's sign-in
    /// form tokens, under a label of their own.
    pub(super) async fn cursor_key(&self) -> Result<[u8; 32], ServiceError> {
        let key = self
            .cursor_key
            .0
            .get_or_try_init(|| async {
                let mut candidate = [0u8; 32];
                self.random.fill(&mut candidate);
                let stored = self
                    .store
                    .server_secret(SECRET_NAME, &hex::encode(candidate))
                    .await?;
                let bytes = hex::decode(&stored)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| ServiceError::Internal("the cursor key is corrupt".into()))?;
                Ok::<_, ServiceError>(bytes)
            })
            .await?;
        Ok(*key)
    }

    /// A cursor as the client may send it back.
    pub async fn encode_cursor(
        &self,
        enterprise: EnterpriseId,
        cursor: Cursor,
    ) -> Result<String, ServiceError> {
        let key = self.cursor_key().await?;
        let mut nonce = [0u8; NONCE];
        self.random.fill(&mut nonce);
        Ok(seal(&key, enterprise, nonce, cursor))
    }

    /// A cursor the client sent: 400 unless this server issued it to this enterprise.
    pub async fn decode_cursor(
        &self,
        enterprise: EnterpriseId,
        text: &str,
    ) -> Result<Cursor, ServiceError> {
        let key = self.cursor_key().await?;
        open(&key, enterprise, text)
            .ok_or_else(|| ServiceError::BadRequest("cursor is not one this server issued".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];
    const ACME: EnterpriseId = EnterpriseId(1);

    #[test]
    fn a_sealed_cursor_opens_to_its_position() {
        for position in [0, 1, 17, 1 << 40, i64::MAX] {
            let text = seal(&KEY, ACME, [3; NONCE], Cursor(position));
            assert_eq!(text.len(), LEN);
            assert_eq!(open(&KEY, ACME, &text), Some(Cursor(position)));
        }
    }

    #[test]
    fn the_construction_matches_an_independent_implementation() {
        // Sealed outside this crate (HMAC-SHA256 as the module comment says):
        // position 42, enterprise 1, key [7; 32], nonce [3; 8].
        let text = "c030303030303030322a8badaf0795e8fb5482e9da4a0a81951da3de3";
        assert_eq!(Cursor::open_with(&KEY, ACME, text), Some(Cursor(42)));
        assert_eq!(Cursor(42).seal_with(&KEY, ACME, [3; NONCE]), text);
    }

    #[test]
    fn the_position_cannot_be_read_or_compared() {
        let a = seal(&KEY, ACME, [1; NONCE], Cursor(20));
        let b = seal(&KEY, ACME, [2; NONCE], Cursor(20));
        assert_ne!(a, b, "the same position under two nonces looks different");
        assert!(!a.contains("14"), "{a}");
    }

    #[test]
    fn an_edited_foreign_or_old_style_cursor_is_refused() {
        let text = seal(&KEY, ACME, [5; NONCE], Cursor(42));
        for i in 1..text.len() {
            let mut edited = text.clone().into_bytes();
            edited[i] = if edited[i] == b'0' { b'1' } else { b'0' };
            let edited = String::from_utf8(edited).unwrap();
            assert_eq!(open(&KEY, ACME, &edited), None, "edited at {i}");
        }
        assert_eq!(open(&KEY, EnterpriseId(2), &text), None);
        assert_eq!(open(&[8; 32], ACME, &text), None);
        assert_eq!(open(&KEY, ACME, "c1a"), None);
        assert_eq!(
            open(&KEY, ACME, &text.to_uppercase().replacen('C', "c", 1)),
            None
        );
        let one_upper = "c030303030303030322a8badaf0795E8fb5482e9da4a0a81951da3de3";
        assert_eq!(open(&KEY, ACME, one_upper), None);
        assert_eq!(open(&KEY, ACME, &text[..LEN - 2]), None);
        assert_eq!(open(&KEY, ACME, ""), None);
        assert_eq!(open(&KEY, ACME, "cé"), None);
    }
}
