//! API tokens: creation, revocation, authentication and the first admin token.

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::audit::AuditEntry;
use crate::crypto::{constant_time_eq, generate_token, hash_token};
use crate::domain::Scope;
use crate::store::tokens::ApiToken;
use crate::store::{Store, StoreError, StoreResult};

/// Name of the token installed from `OWNERBOUND_BOOTSTRAP_ADMIN_TOKEN`.
pub const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap-admin";
/// Name of the token created by the first `serve` on an empty database.
pub const INITIAL_TOKEN_NAME: &str = "initial-admin";

/// The caller of an authenticated request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub token_name: String,
    pub scope: Scope,
    /// When the token was last used before this request, as stored.
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Caller {
    /// The audit actor naming this caller's token (by name, never by value).
    pub fn actor(&self) -> String {
        crate::audit::token_actor(&self.token_name)
    }
}

/// Creates a token and returns it with the only copy of its value.
pub async fn create_token(
    store: &Store,
    name: &str,
    scope: Scope,
    actor: &str,
) -> StoreResult<(ApiToken, SecretString)> {
    let value = generate_token();
    let token = install_token(store, name, scope, &value, actor).await?;
    Ok((token, SecretString::from(value)))
}

async fn install_token(
    store: &Store,
    name: &str,
    scope: Scope,
    value: &str,
    actor: &str,
) -> StoreResult<ApiToken> {
    let mut tx = store.begin().await?;
    let token = tx
        .insert_token(name, scope, &hash_token(value), actor)
        .await?;
    tx.append_audit(
        &AuditEntry::new(actor, "token.created", "token", Some(&token.id))
            .with_details(json!({ "name": token.name, "scope": token.scope })),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Revokes a live token by id or name.
pub async fn revoke_token(store: &Store, id_or_name: &str, actor: &str) -> StoreResult<ApiToken> {
    let mut tx = store.begin().await?;
    let token = tx.revoke_token(id_or_name).await?;
    tx.append_audit(
        &AuditEntry::new(actor, "token.revoked", "token", Some(&token.id))
            .with_details(json!({ "name": token.name, "scope": token.scope })),
    )
    .await?;
    tx.commit().await?;
    Ok(token)
}

/// Finds the live token matching a presented bearer value. Writes nothing: a
/// request refused for its token's scope must change nothing, so the caller records
/// the use with [`record_use`] once the request is authorised.
///
/// The lookup is by SHA-256 of the value; the stored hash is then compared in
/// constant time, so response timing reveals nothing about stored tokens.
pub async fn authenticate(store: &Store, presented: &str) -> StoreResult<Option<Caller>> {
    let hash = hash_token(presented);
    let Some(found) = store.find_token_by_hash(&hash).await? else {
        return Ok(None);
    };
    if !constant_time_eq(&found.token_hash, &hash) {
        return Ok(None);
    }
    let Ok(scope) = found.scope.parse() else {
        return Ok(None);
    };
    Ok(Some(Caller {
        token_id: found.id,
        token_name: found.name,
        scope,
        last_used_at: found.last_used_at,
    }))
}

/// Records that an authorised request used the caller's token (`last_used_at`).
pub async fn record_use(store: &Store, caller: &Caller) -> StoreResult<()> {
    // Throttled so that a busy client does not turn every read into a write.
    let stale = caller
        .last_used_at
        .is_none_or(|at| crate::store::now() - at > chrono::Duration::seconds(60));
    if stale {
        store.touch_token(&caller.token_id).await?;
    }
    Ok(())
}

/// What start-up did about the first admin token.
pub enum Bootstrap {
    /// Nothing: a token already exists and none was configured.
    Nothing,
    /// The configured bootstrap token was installed.
    InstalledConfigured,
    /// A new admin token was created; it must be shown once.
    Created(SecretString),
}

/// Installs `OWNERBOUND_BOOTSTRAP_ADMIN_TOKEN` when no live admin token exists, or,
/// when none is configured and the database has never had a token, creates one.
pub async fn bootstrap_admin(
    store: &Store,
    configured: Option<&SecretString>,
) -> StoreResult<Bootstrap> {
    let outcome = match configured {
        Some(value) => {
            if store.live_admin_token_exists().await? {
                return Ok(Bootstrap::Nothing);
            }
            if store
                .token_hash_exists(&hash_token(value.expose_secret()))
                .await?
            {
                tracing::warn!(
                    "OWNERBOUND_BOOTSTRAP_ADMIN_TOKEN was revoked earlier and is not reinstalled; \
                     no live admin token exists: create one with `ownerbound token create --scope admin`"
                );
                return Ok(Bootstrap::Nothing);
            }
            install_token(
                store,
                BOOTSTRAP_TOKEN_NAME,
                Scope::Admin,
                value.expose_secret(),
                "system",
            )
            .await
            .map(|_| Bootstrap::InstalledConfigured)
        }
        None => {
            if store.any_token_exists().await? {
                return Ok(Bootstrap::Nothing);
            }
            create_token(store, INITIAL_TOKEN_NAME, Scope::Admin, "system")
                .await
                .map(|(_, value)| Bootstrap::Created(value))
        }
    };
    match outcome {
        // Another instance bootstrapped at the same moment: that is fine.
        Err(StoreError::Conflict(_)) => Ok(Bootstrap::Nothing),
        other => other,
    }
}
