//! Domain types that can only be built valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A parse failure naming what was wrong, safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// The comparison key of a case-insensitive identifier (userName, email, agent name):
/// full Unicode lower-casing, done here so that both database engines agree.
pub fn case_key(value: &str) -> String {
    value.trim().to_lowercase()
}

/// An email address: `local@domain`, no whitespace, at most 254 characters.
/// Comparison elsewhere is case-insensitive; the value keeps the case it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        // The value is not repeated: whatever was typed here could be a secret.
        let invalid = || Invalid("is not an email address".to_string());
        if value.is_empty() || value.len() > 254 || value.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty() || domain.is_empty() || local.contains('@') {
            return Err(invalid());
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return Err(invalid());
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a string enum stored as text, with serde, `Display` and `FromStr`.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every accepted value, for error messages.
            pub const ALL: &'static [&'static str] = &[$($text),+];

            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Invalid;
            fn from_str(s: &str) -> Result<Self, Invalid> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    // The value is not repeated: it could be a misplaced secret.
                    _ => Err(Invalid(format!("must be one of {}", Self::ALL.join(", ")))),
                }
            }
        }
    };
}

text_enum! {
    /// What an API token may do.
    Scope {
        /// Everything under `/api/v1`.
        Admin = "admin",
        /// The SCIM service provider under `/scim/v2`.
        Scim = "scim",
        /// Read-only access to `/api/v1`.
        Read = "read",
    }
}

text_enum! {
    /// Kind of credential; decides the revocation call and the rotation cadence.
    CredentialKind {
        OauthAccessToken = "oauth_access_token",
        OauthRefreshToken = "oauth_refresh_token",
        ApiKey = "api_key",
        ServiceAccountKey = "service_account_key",
        Other = "other",
    }
}

text_enum! {
    /// Operational status of an agent, set by its operators.
    AgentStatus {
        Active = "active",
        Disabled = "disabled",
        Decommissioned = "decommissioned",
    }
}

text_enum! {
    /// Lifecycle of a credential as ownerbound knows it.
    CredentialStatus {
        Active = "active",
        RevocationPending = "revocation_pending",
        Revoked = "revoked",
        VerifiedDead = "verified_dead",
        RevocationFailed = "revocation_failed",
    }
}

text_enum! {
    /// Where a person record comes from; SCIM-managed people are read-only in the API.
    PersonSource {
        Api = "api",
        Scim = "scim",
    }
}

text_enum! {
    /// Where an agent comes from; SCIM-pushed agents are read-only in the API, except
    /// for their credentials.
    AgentSource {
        /// Registered through the admin API.
        Api = "api",
        /// Registered by `ownerbound agents import`.
        Import = "import",
        /// Pushed by an identity provider to `/scim/v2/Agents`.
        Scim = "scim",
    }
}

text_enum! {
    /// Why an agent counts as orphaned: no active owner is left. The rule itself is SQL
    /// (`store::agents::ORPHAN_REASON_SQL`), so that every list agrees.
    OrphanReason {
        /// It has no owners at all (an identity provider removed them all).
        NoOwner = "no_owner",
        /// Registered only with owner emails the directory does not know (a shadow agent).
        OwnerUnresolved = "owner_unresolved",
        /// Its owners are inactive people, or groups with no active member.
        OwnerInactive = "owner_inactive",
        /// Its owners were deleted from the directory.
        OwnerDeleted = "owner_deleted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_accepts_ordinary_addresses_and_keeps_their_case() {
        assert_eq!(
            Email::parse(" Ada.Lovelace@Example.com ").unwrap().as_str(),
            "Ada.Lovelace@Example.com"
        );
    }

    #[test]
    fn email_rejects_what_is_not_an_address() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a b@x.com",
            "ada@.com",
            "a@b@c",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(260))).is_err());
    }

    #[test]
    fn text_enums_round_trip_and_list_choices_on_error() {
        assert_eq!("read".parse::<Scope>().unwrap(), Scope::Read);
        assert_eq!(CredentialKind::ApiKey.to_string(), "api_key");
        let err = "root".parse::<Scope>().unwrap_err();
        assert!(err.0.contains("admin, scim, read"), "{err}");
    }
}
