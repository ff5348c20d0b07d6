//! The discovery side of connectors: what a provider's listing says exists. A run asks
//! for one page at a time (the cursor is the provider's own: a marker, a `Link`
//! URL), so it holds one page in memory and can pause for the provider's rate limit
//! between pages. Nothing here fetches or returns a secret.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::domain::CredentialKind;

/// A credential a provider listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The provider's own id for it: an access key id, a token accessor, a token id.
    pub handle: String,
    pub kind: CredentialKind,
    /// What the provider calls it (client, app or token name; AWS: the user's name).
    pub name: String,
    /// Credentials with the same group belong to one discovered agent (the IAM user
    /// whose keys they are; the OAuth client).
    pub group: String,
    pub scopes: Vec<String>,
    /// As the provider says: `Active`, `Inactive`, `active`.
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub owner: FoundOwner,
}

impl Found {
    /// A hash of what was listed, so the next run sees what changed. Not the last
    /// use: a credential in use is not a change.
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        let times = [self.created_at, self.expires_at]
            .map(|t| t.map(|t| t.to_rfc3339()).unwrap_or_default());
        for part in [
            self.kind.as_str(),
            &self.name,
            &self.group,
            &self.status,
            &self.scopes.join(" "),
            &times[0],
            &times[1],
            self.owner.identity.as_deref().unwrap_or_default(),
            self.owner.email.as_deref().unwrap_or_default(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        hex::encode(hash.finalize())
    }
}

/// Who the provider says holds a credential.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FoundOwner {
    /// The owner's identity at the provider (an IAM user, an entity id, a login),
    /// resolved through people's provider identities.
    pub identity: Option<String>,
    /// An owner email the provider's data gives (an `owner` tag): resolved to the
    /// person with that email.
    pub email: Option<String>,
    /// The email of the identity itself (an `email` tag on the IAM user): the
    /// identity is that person's, and is recorded as theirs.
    pub identity_email: Option<String>,
}

/// One page of a listing, and where the next one starts.
#[derive(Debug, Default)]
pub struct Listing {
    pub found: Vec<Found>,
    /// The provider's cursor for the next page; None on the last.
    pub next: Option<String>,
}

/// A provider's RFC 3339 time (`"2026-11-02T10:00:00Z"`), if the value is one.
pub fn rfc3339(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Why a page could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum ListingError {
    /// Worth trying again (network, 429, 5xx), after `after` when the provider says.
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Retrying cannot help (refused credentials, a missing permission).
    Permanent(String),
}

impl std::fmt::Display for ListingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retry { error, .. } | Self::Permanent(error) => f.write_str(error),
        }
    }
}

/// Waits for the provider's rate limit before each call of a page (the revocation
/// side's per-provider limit, shared with it).
pub trait Pace: Send + Sync {
    fn ready(&self) -> BoxFuture<'_, ()>;
}

/// No rate limit: for tests and benchmarks that call a listing directly.
pub struct Unpaced;

impl Pace for Unpaced {
    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_changes_with_what_was_listed_and_only_then() {
        let found = Found {
            handle: "AKIA1".into(),
            kind: CredentialKind::ApiKey,
            name: "ada".into(),
            group: "ada".into(),
            scopes: vec![],
            status: "Active".into(),
            created_at: None,
            last_used_at: None,
            expires_at: None,
            owner: FoundOwner::default(),
        };
        let same = found.clone();
        assert_eq!(found.digest(), same.digest());
        let mut inactive = found.clone();
        inactive.status = "Inactive".into();
        assert_ne!(found.digest(), inactive.digest());
        let mut owned = found.clone();
        owned.owner.email = Some("ada@example.com".into());
        assert_ne!(found.digest(), owned.digest());
    }
}
