//! Secret handling: encryption at rest, keyed fingerprints, API token hashing.
//!
//! The master key never encrypts anything directly: two purpose-bound keys are
//! derived from it with HMAC-SHA256, one for AES-256-GCM and one for fingerprints,
//! so a fingerprint can never be used to attack the ciphertext or the other way round.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, RwLock};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

const NONCE_LEN: usize = 12;

/// Errors of this module. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes, given as base64 or 64 hex characters")]
    BadMasterKey,
    #[error("stored secret cannot be decrypted (wrong master key or corrupted data)")]
    Decrypt,
    /// The ciphertext names a master key this keyring does not hold (another
    /// instance started a rotation, or the key was retired).
    #[error("stored secret is sealed under master key {0}, which this instance does not hold")]
    UnknownKey(String),
    #[error("cannot create the master key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

/// The 32-byte master key, wiped from memory when dropped.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    /// Parses a key given as standard base64 (44 characters) or hex (64 characters).
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
                hex::decode(text).map_err(|_| CryptoError::BadMasterKey)?
            } else {
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| CryptoError::BadMasterKey)?
            },
        );
        Self::from_slice(&bytes)
    }

    fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return Err(CryptoError::BadMasterKey);
        }
        key.copy_from_slice(bytes);
        Ok(Self(key))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// The key as base64, for a key file or to show once.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.0.as_ref()))
    }

    /// The key's public id: 16 hex characters that name it in ciphertexts and in
    /// `keys status` without revealing it.
    pub fn id(&self) -> String {
        hex::encode(self.id_bytes())
    }

    fn id_bytes(&self) -> [u8; KEY_ID_LEN] {
        let derived = self.derive(b"ownerbound/v1/key-id");
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&derived[..KEY_ID_LEN]);
        id
    }

    /// A value that identifies the key without revealing it, stored in the database
    /// so that starting with a different key is refused instead of silently making
    /// every stored secret unreadable.
    pub fn check(&self) -> String {
        hex::encode(self.derive(b"ownerbound/v1/key-check").as_ref())
    }

    /// Reads the key file at `path`, creating it with mode 0600 when it does not exist.
    /// Returns the key and whether it was just created.
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), CryptoError> {
        if path.exists() {
            return Ok((Self::read_file(path)?, false));
        }
        let key = Self::generate();
        key.write_new_file(path)?;
        Ok((key, true))
    }

    /// Reads a key file.
    pub fn read_file(path: &Path) -> Result<Self, CryptoError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|e| CryptoError::KeyFile {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
            );
        Self::parse(&text)
    }

    /// Writes the key to a new file, mode 0600; an existing file is never replaced.
    pub fn write_new_file(&self, path: &Path) -> Result<(), CryptoError> {
        let key_file_error = |reason: String| CryptoError::KeyFile {
            path: path.display().to_string(),
            reason,
        };
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
        let encoded = self.to_base64();
        file.write_all(format!("{}\n", encoded.as_str()).as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| key_file_error(e.to_string()))
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

    fn derive(&self, purpose: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.0.as_ref())
            .expect("HMAC accepts any key length");
        mac.update(purpose);
        Zeroizing::new(mac.finalize().into_bytes().into())
    }
}

/// Length of a key id in a ciphertext's header.
const KEY_ID_LEN: usize = 8;
/// Marks a ciphertext that names its key: `OBK1 || key id || nonce || ciphertext`.
/// Ciphertexts written before key ids existed are `nonce || ciphertext` and are read
/// with any key held (AES-GCM's tag tells which one, or none).
const MAGIC: &[u8; 4] = b"OBK1";
/// Length of the header: [`MAGIC`] and the key id.
pub const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN;

/// The header of every ciphertext sealed under the key with id `key_id` (hex): the
/// store selects what a rotation still has to rewrite by it.
pub fn sealed_header(key_id: &str) -> Option<Vec<u8>> {
    let id = hex::decode(key_id)
        .ok()
        .filter(|id| id.len() == KEY_ID_LEN)?;
    Some([MAGIC.as_slice(), &id].concat())
}

/// One master key's cipher, ready to use. `Aes256Gcm` wipes its key schedule when
/// dropped (aes-gcm's `zeroize` feature).
struct DataKey {
    id: [u8; KEY_ID_LEN],
    check: String,
    cipher: Aes256Gcm,
    /// Kept (wiped on drop) only to be handed over, sealed, when a rotation begins.
    master: MasterKey,
}

impl DataKey {
    fn new(master: &MasterKey) -> Self {
        let enc = master.derive(b"ownerbound/v1/secret-encryption");
        Self {
            id: master.id_bytes(),
            check: master.check(),
            cipher: Aes256Gcm::new_from_slice(enc.as_ref()).expect("32-byte key"),
            master: MasterKey(master.0.clone()),
        }
    }

    fn open(&self, nonce: &[u8], ciphertext: &[u8], context: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

/// The master keys an instance holds: the one that seals, and during a rotation the
/// one being retired, which only opens. The fingerprint key does not rotate (see
/// [`SecretKeys::fingerprint`]).
struct Ring {
    current: DataKey,
    retiring: Option<DataKey>,
    fingerprint_key: Zeroizing<[u8; 32]>,
    /// When the ring was last found to agree with the database (see
    /// `key_rotation::ensure_current`).
    checked_at: Option<std::time::Instant>,
}

/// Purpose-bound keys derived from the master keys, shared by every clone (a
/// rotation changes them for the whole process at once).
#[derive(Clone)]
pub struct SecretKeys {
    ring: Arc<RwLock<Ring>>,
}

impl SecretKeys {
    /// Keys of `master`, with the fingerprint key derived from it (a database that
    /// has never rotated its master key).
    pub fn new(master: &MasterKey) -> Self {
        Self::with_fingerprint_key(master, master.derive(b"ownerbound/v1/secret-fingerprint"))
    }

    fn with_fingerprint_key(master: &MasterKey, fingerprint_key: Zeroizing<[u8; 32]>) -> Self {
        Self {
            ring: Arc::new(RwLock::new(Ring {
                current: DataKey::new(master),
                retiring: None,
                fingerprint_key,
                checked_at: None,
            })),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().expect("not poisoned")
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Ring> {
        self.ring.write().expect("not poisoned")
    }

    /// The check value of the key that seals (see [`MasterKey::check`]).
    pub fn key_check(&self) -> String {
        self.read().current.check.clone()
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> String {
        hex::encode(self.read().current.id)
    }

    /// The id of the key being retired, during a rotation.
    pub fn retiring_key_id(&self) -> Option<String> {
        self.read().retiring.as_ref().map(|key| hex::encode(key.id))
    }

    /// Whether this ring holds the key with id `key_id`.
    pub fn holds(&self, key_id: &str) -> bool {
        let ring = self.read();
        std::iter::once(&ring.current)
            .chain(ring.retiring.as_ref())
            .any(|key| hex::encode(key.id) == key_id)
    }

    /// Seals with `next` from now on, keeping the current key to open what it sealed.
    pub fn begin_rotation(&self, next: &MasterKey) {
        let mut ring = self.write();
        if ring.current.id == next.id_bytes() {
            return;
        }
        let previous = std::mem::replace(&mut ring.current, DataKey::new(next));
        ring.retiring = Some(previous);
    }

    /// Opens with `old` too, while sealing with the current key: an instance started
    /// with the new key while a rotation from `old` still runs.
    pub fn also_open_with(&self, old: &MasterKey) {
        self.write().retiring = Some(DataKey::new(old));
    }

    /// The key that seals now, sealed under `next`'s keys: what an instance started
    /// with `next` needs to open what is not sealed again yet.
    pub fn seal_current_under(&self, next: &SecretKeys) -> Vec<u8> {
        next.seal_master_key(&self.read().current.master)
    }

    /// Records that the keys agree with the database now.
    pub fn mark_checked(&self) {
        self.write().checked_at = Some(std::time::Instant::now());
    }

    /// Whether the keys were found to agree with the database within `window`.
    pub fn checked_within(&self, window: std::time::Duration) -> bool {
        self.read()
            .checked_at
            .is_some_and(|at| at.elapsed() < window)
    }

    /// Forgets the retiring key: what it sealed has all been sealed again.
    pub fn finish_rotation(&self) {
        self.write().retiring = None;
    }

    /// Encrypts `plaintext`, binding it to `context` (the credential id) so that a
    /// ciphertext copied onto another row does not decrypt. Output: the header naming
    /// the key, the nonce, the ciphertext.
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let ring = self.read();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = ring
            .current
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        [MAGIC.as_slice(), &ring.current.id, &nonce, &ciphertext].concat()
    }

    /// Decrypts what [`encrypt`](Self::encrypt) produced for the same `context`, with
    /// whichever held key sealed it; the plaintext is wiped when dropped.
    pub fn decrypt(&self, sealed: &[u8], context: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let ring = self.read();
        let keys = || std::iter::once(&ring.current).chain(ring.retiring.as_ref());
        if let Some(rest) = sealed.strip_prefix(MAGIC.as_slice()) {
            if rest.len() >= KEY_ID_LEN + NONCE_LEN {
                let (id, rest) = rest.split_at(KEY_ID_LEN);
                let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
                return match keys().find(|key| key.id == id) {
                    Some(key) => key
                        .open(nonce, ciphertext, context)
                        .ok_or(CryptoError::Decrypt),
                    None => Err(CryptoError::UnknownKey(hex::encode(id))),
                };
            }
        }
        // Written before ciphertexts named their key.
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        keys()
            .find_map(|key| key.open(nonce, ciphertext, context))
            .ok_or(CryptoError::Decrypt)
    }

    /// Keyed fingerprint of a secret (hex HMAC-SHA256): equal secrets have equal
    /// fingerprints, but the fingerprint cannot be brute-forced without the key.
    ///
    /// The fingerprint key does not rotate with the master key: fingerprints of
    /// credentials whose secret was never stored (only fingerprinted) could not be
    /// computed again, and duplicates must keep matching across a rotation. A
    /// rotation seals it under the new master key instead
    /// ([`seal_fingerprint_key`](Self::seal_fingerprint_key)).
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        let ring = self.read();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(ring.fingerprint_key.as_ref())
            .expect("HMAC accepts any key");
        mac.update(secret);
        hex::encode(mac.finalize().into_bytes())
    }

    /// `other` sealed under the current key, to be stored while a rotation runs, so
    /// that an instance holding either key can open the other.
    pub fn seal_master_key(&self, other: &MasterKey) -> Vec<u8> {
        self.encrypt(other.0.as_ref(), &format!("master-key:{}", other.id()))
    }

    /// Opens a master key sealed by [`seal_master_key`](Self::seal_master_key).
    pub fn open_master_key(&self, sealed: &[u8], key_id: &str) -> Result<MasterKey, CryptoError> {
        let bytes = self.decrypt(sealed, &format!("master-key:{key_id}"))?;
        let key = MasterKey::from_slice(&bytes)?;
        if key.id() != key_id {
            return Err(CryptoError::Decrypt);
        }
        Ok(key)
    }

    /// The fingerprint key sealed under `master` (see [`fingerprint`](Self::fingerprint)).
    pub fn seal_fingerprint_key(&self, master: &MasterKey) -> Vec<u8> {
        let key = SecretKeys::new(master);
        let ring = self.read();
        key.encrypt(ring.fingerprint_key.as_ref(), FINGERPRINT_CONTEXT)
    }

    /// Keys of `master` with the fingerprint key it sealed (a database whose master
    /// key was rotated at least once).
    pub fn with_sealed_fingerprint_key(
        master: &MasterKey,
        sealed: &[u8],
    ) -> Result<Self, CryptoError> {
        let bytes = SecretKeys::new(master).decrypt(sealed, FINGERPRINT_CONTEXT)?;
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return Err(CryptoError::Decrypt);
        }
        key.copy_from_slice(&bytes);
        Ok(Self::with_fingerprint_key(master, key))
    }
}

/// Encryption context of the sealed fingerprint key.
const FINGERPRINT_CONTEXT: &str = "fingerprint-key";

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
        assert_eq!(
            keys.decrypt(&sealed, "cred-1").unwrap().as_slice(),
            b"xoxb-secret"
        );
        assert!(keys.decrypt(&sealed, "cred-2").is_err());
    }

    #[test]
    fn ciphertexts_name_their_key_and_a_rotation_opens_old_and_new() {
        let old = MasterKey::parse(&"11".repeat(32)).unwrap();
        let new = MasterKey::parse(&"33".repeat(32)).unwrap();
        let keys = SecretKeys::new(&old);
        let before = keys.encrypt(b"s-old", "c");
        assert_eq!(&before[..HEADER_LEN], sealed_header(&old.id()).unwrap());
        let fingerprint = keys.fingerprint(b"s-old");
        keys.begin_rotation(&new);
        let after = keys.encrypt(b"s-new", "c");
        assert_eq!(&after[..HEADER_LEN], sealed_header(&new.id()).unwrap());
        assert_eq!(keys.decrypt(&before, "c").unwrap().as_slice(), b"s-old");
        assert_eq!(keys.decrypt(&after, "c").unwrap().as_slice(), b"s-new");
        assert_eq!(
            keys.fingerprint(b"s-old"),
            fingerprint,
            "fingerprints survive"
        );
        keys.finish_rotation();
        assert!(matches!(
            keys.decrypt(&before, "c"),
            Err(CryptoError::UnknownKey(id)) if id == old.id()
        ));
        // The new key alone, with the fingerprint key sealed for it, agrees.
        let sealed_fp = keys.seal_fingerprint_key(&new);
        let restarted = SecretKeys::with_sealed_fingerprint_key(&new, &sealed_fp).unwrap();
        assert_eq!(restarted.fingerprint(b"s-old"), fingerprint);
        assert_eq!(restarted.decrypt(&after, "c").unwrap().as_slice(), b"s-new");
    }

    #[test]
    fn ciphertexts_from_before_key_ids_still_open() {
        let master = MasterKey::parse(&"11".repeat(32)).unwrap();
        let keys = SecretKeys::new(&master);
        // The old layout: nonce || AES-256-GCM(ciphertext), under the same derived key.
        let enc = master.derive(b"ownerbound/v1/secret-encryption");
        let cipher = Aes256Gcm::new_from_slice(enc.as_ref()).unwrap();
        let nonce = [9u8; NONCE_LEN];
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: b"legacy".as_slice(),
                    aad: b"c",
                },
            )
            .unwrap();
        let legacy = [nonce.as_slice(), &sealed].concat();
        assert_eq!(keys.decrypt(&legacy, "c").unwrap().as_slice(), b"legacy");
        assert!(keys.decrypt(&legacy, "d").is_err());
    }

    #[test]
    fn a_sealed_master_key_opens_only_as_itself() {
        let old = MasterKey::parse(&"11".repeat(32)).unwrap();
        let new = MasterKey::generate();
        let keys = SecretKeys::new(&old);
        let sealed = keys.seal_master_key(&new);
        assert_eq!(
            keys.open_master_key(&sealed, &new.id()).unwrap().id(),
            new.id()
        );
        assert!(keys.open_master_key(&sealed, &old.id()).is_err());
        let stranger = SecretKeys::new(&MasterKey::generate());
        assert!(stranger.open_master_key(&sealed, &new.id()).is_err());
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
        assert_eq!(first.id(), second.id());
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_readable_by_others_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        MasterKey::generate().write_new_file(&path).unwrap();
        assert!(!MasterKey::file_is_readable_by_others(&path));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(MasterKey::file_is_readable_by_others(&path));
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
