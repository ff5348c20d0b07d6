//! A provider call that did not get a usable answer, as the REST connectors
//! (Google, Graph, Okta) report it to discovery, revocation and verification alike.

use std::time::Duration;

use super::access_token::TokenError;
use super::discovery::ListingError;
use super::{Revocation, Verdict};

pub enum CallError {
    /// Worth retrying (network, 401 of an expired access token, 429, 5xx), after
    /// `Retry-After` when the provider gave one.
    Transient(String, Option<Duration>),
    /// Retrying cannot help (the configured credentials are refused).
    Permanent(String),
}

impl From<TokenError> for CallError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::Transient(error, after) => Self::Transient(error, after),
            TokenError::Permanent(reason) => Self::Permanent(reason),
        }
    }
}

impl From<CallError> for ListingError {
    fn from(err: CallError) -> Self {
        match err {
            CallError::Transient(error, after) => ListingError::Retry { error, after },
            CallError::Permanent(reason) => ListingError::Permanent(reason),
        }
    }
}

impl From<CallError> for Revocation {
    fn from(err: CallError) -> Self {
        match err {
            CallError::Transient(error, after) => Revocation::Retry { error, after },
            CallError::Permanent(reason) => Revocation::Permanent(reason),
        }
    }
}

impl From<CallError> for Verdict {
    fn from(err: CallError) -> Self {
        match err {
            CallError::Transient(error, _) | CallError::Permanent(error) => Verdict::Unknown(error),
        }
    }
}
