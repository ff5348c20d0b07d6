//! HMAC signatures, both ways: computing the one an HR system's webhook must carry
//! (compared by `hr::signature`), and signing the requests the `http` connector sends. A leaf module: it knows no
//! configuration and no caller.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Sha256, Sha512};

/// The hash under the HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Sha256,
    Sha512,
}

impl Algorithm {
    /// Length in bytes of a MAC under this hash.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// The HMAC of `message` (its parts in order) under `key`: what a vendor sends, and
/// what the `http` connector signs its requests with.
pub fn sign(algorithm: Algorithm, key: &[u8], message: &[&[u8]]) -> Vec<u8> {
    match algorithm {
        Algorithm::Sha256 => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            message.iter().for_each(|part| mac.update(part));
            mac.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha512 => {
            let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            message.iter().for_each(|part| mac.update(part));
            mac.finalize().into_bytes().to_vec()
        }
    }
}
