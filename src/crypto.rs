//! Secret handling: encryption at rest, keyed fingerprints, API token hashing.
//!
//! The master key never encrypts anything directly: two purpose-bound keys are
//! derived from it with HMAC-SHA256, one for AES-256-GCM and one for fingerprints,
//! so a fingerprint can never be used to attack the ciphertext or the other way round.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const NONCE_LEN: usize = 12;

/// Errors of this module. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes, given as base64 or 64 hex characters")]
    BadMasterKey,
    #[error("stored secret cannot be decrypted (wrong master key or corrupted data)")]
    Decrypt,
    #[error("cannot create the master key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

/// The 32-byte master key.
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Parses a key given as standard base64 (44 characters) or hex (64 characters).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| CryptoError::BadMasterKey)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| CryptoError::BadMasterKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadMasterKey)?;
        Ok(Self(key))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self(key)
    }

    /// Reads the key file at `path`, creating it with mode 0600 when it does not exist.
    /// Returns the key and whether it was just created.
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), CryptoError> {
        let key_file_error = |reason: String| CryptoError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
        if path.exists() {
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| key_file_error(e.to_string()))?,
            );
            return Ok((Self::parse(&text)?, false));
        }
        let key = Self::generate();
        let encoded = base64::engine::general_purpose::STANDARD.encode(key.0);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(path)
            .map_err(|e| key_file_error(e.to_string()))?;
        file.write_all(format!("{encoded}\n").as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| key_file_error(e.to_string()))?;
        Ok((key, true))
    }

    /// Whether a key file can be read by anyone but its owner (a start-up warning).
    pub fn file_is_readable_by_others(path: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            false
        }
    }

    fn derive(&self, purpose: &[u8]) -> [u8; 32] {
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(purpose);
        mac.finalize().into_bytes().into()
    }
}

/// Purpose-bound keys derived from the master key.
#[derive(Clone)]
pub struct SecretKeys {
    cipher: Aes256Gcm,
    fingerprint_key: [u8; 32],
    check: String,
}

impl SecretKeys {
    pub fn new(master: &MasterKey) -> Self {
        let enc = master.derive(b"ownerbound/v1/secret-encryption");
        Self {
            cipher: Aes256Gcm::new_from_slice(&enc).expect("32-byte key"),
            fingerprint_key: master.derive(b"ownerbound/v1/secret-fingerprint"),
            check: hex::encode(master.derive(b"ownerbound/v1/key-check")),
        }
    }

    /// A value that identifies the master key without revealing it, stored in the
    /// database so that starting with a different key is refused instead of silently
    /// making every stored secret unreadable.
    pub fn key_check(&self) -> &str {
        &self.check
    }

    /// Encrypts `plaintext`, binding it to `context` (the credential id) so that a
    /// ciphertext copied onto another row does not decrypt. Output: nonce || ciphertext.
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        out
    }

    /// Decrypts what [`encrypt`](Self::encrypt) produced for the same `context`.
    pub fn decrypt(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Keyed fingerprint of a secret (hex HMAC-SHA256): equal secrets have equal
    /// fingerprints, but the fingerprint cannot be brute-forced without the key.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.fingerprint_key)
            .expect("HMAC accepts any key");
        mac.update(secret);
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Prefix of tokens ownerbound generates, so secret scanners can recognise them.
pub const TOKEN_PREFIX: &str = "ob_";

/// A new random API token (256 bits of entropy).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of an API token: hex SHA-256. Tokens are high-entropy random
/// strings, so a fast unsalted hash is sufficient (as for GitHub tokens).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time equality of two strings (for hashes and tokens).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SecretKeys {
        SecretKeys::new(&MasterKey::parse(&"11".repeat(32)).unwrap())
    }

    #[test]
    fn encryption_round_trips_and_is_bound_to_its_context() {
        let keys = keys();
        let sealed = keys.encrypt(b"xoxb-secret", "cred-1");
        assert!(!sealed.windows(11).any(|w| w == b"xoxb-secret"));
        assert_eq!(keys.decrypt(&sealed, "cred-1").unwrap(), b"xoxb-secret");
        assert!(keys.decrypt(&sealed, "cred-2").is_err());
    }

    #[test]
    fn different_master_keys_give_different_fingerprints() {
        let other = SecretKeys::new(&MasterKey::parse(&"22".repeat(32)).unwrap());
        assert_eq!(keys().fingerprint(b"s"), keys().fingerprint(b"s"));
        assert_ne!(keys().fingerprint(b"s"), other.fingerprint(b"s"));
    }

    #[test]
    fn master_key_accepts_base64_and_hex_and_rejects_short_keys() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(MasterKey::parse(&b64).is_ok());
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
        assert!(MasterKey::parse("not base64 at all!").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn generated_key_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ownerbound.key");
        let (first, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(created);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (second, created) = MasterKey::load_or_create_file(&path).unwrap();
        assert!(!created);
        assert_eq!(first.0, second.0);
    }

    #[test]
    fn tokens_are_prefixed_random_and_hash_stably() {
        let a = generate_token();
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_ne!(a, generate_token());
        assert_eq!(hash_token(&a), hash_token(&a));
        assert!(constant_time_eq(&hash_token(&a), &hash_token(&a)));
        assert!(!constant_time_eq("abc", "abd"));
    }
}
