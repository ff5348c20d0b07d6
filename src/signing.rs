//! HMAC signatures, both ways: checking those HR systems put on their webhooks, and
//! signing the requests the `http` connector sends. A leaf module: it knows no
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

/// Whether `signature` is the HMAC of `message` (its parts in order) under `key`,
/// compared in constant time.
pub fn matches(algorithm: Algorithm, key: &[u8], message: &[&[u8]], signature: &[u8]) -> bool {
    match algorithm {
        Algorithm::Sha256 => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            message.iter().for_each(|part| mac.update(part));
            mac.verify_slice(signature).is_ok()
        }
        Algorithm::Sha512 => {
            let mut mac = <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes any key");
            message.iter().for_each(|part| mac.update(part));
            mac.verify_slice(signature).is_ok()
        }
    }
}
