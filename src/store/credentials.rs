//! Credentials and the many-to-many link between agents and credentials.
//!
//! No query here ever selects `secret_ciphertext` into a type that leaves the
//! store: the encrypted secret is written, and read back only by the revocation
//! engine through a dedicated method.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::locks::LockKey;
use super::{
    conflict, new_id, now, with_pool, with_tx, Page, PageRequest, Store, StoreError, StoreResult,
    Tx,
};
use crate::domain::{CredentialKind, CredentialStatus};

/// A credential as shown to operators: never the secret, only whether there is one
/// and a short prefix of its keyed fingerprint.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Credential {
    pub id: String,
    pub provider: String,
    pub kind: String,
    pub external_id: Option<String>,
    /// JSON array of scope strings.
    pub scopes: String,
    pub issued_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_secret: bool,
    pub fingerprint: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Live agents linked to this credential, filled in after the query.
    #[sqlx(skip)]
    pub agent_ids: Vec<String>,
}

impl Credential {
    pub fn scope_list(&self) -> Vec<String> {
        serde_json::from_str(&self.scopes).unwrap_or_default()
    }
}

const CREDENTIAL_SELECT: &str = "SELECT c.id, c.provider, c.kind, c.external_id, c.scopes, \
    c.issued_at, c.rotated_at, c.expires_at, \
    CASE WHEN c.secret_ciphertext IS NULL THEN FALSE ELSE TRUE END AS has_secret, \
    c.fingerprint, c.status, c.created_at, c.updated_at FROM credentials c";

/// A credential about to be stored. The secret arrives already encrypted.
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub id: String,
    pub provider: String,
    pub kind: CredentialKind,
    pub external_id: Option<String>,
    pub scopes: Vec<String>,
    pub issued_at: Option<DateTime<Utc>>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub sealed_secret: Option<Vec<u8>>,
    pub fingerprint: Option<String>,
}

impl NewCredential {
    /// A fresh id, known before insertion because the ciphertext is bound to it.
    pub fn new_id() -> String {
        new_id()
    }
}

/// Filters of the credential list.
#[derive(Debug, Clone, Default)]
pub struct CredentialFilter {
    pub provider: Option<String>,
    pub kind: Option<CredentialKind>,
    pub status: Option<CredentialStatus>,
    pub agent_id: Option<String>,
    /// Linked to more than one live agent.
    pub shared: Option<bool>,
}

const LIVE_LINKS: &str =
    "(SELECT COUNT(*) FROM agent_credentials ac JOIN agents la ON la.id = ac.agent_id \
     WHERE ac.credential_id = c.id AND la.deleted_at IS NULL)";

impl Store {
    pub async fn get_credential(&self, id: &str) -> StoreResult<Credential> {
        let sql = format!("{CREDENTIAL_SELECT} WHERE c.id = $1");
        let row: Option<Credential> =
            with_pool!(self, p => sqlx::query_as(&sql).bind(id).fetch_optional(p).await?);
        let mut rows = self
            .with_agent_ids(vec![row.ok_or(StoreError::NotFound)?])
            .await?;
        Ok(rows.remove(0))
    }

    pub async fn list_credentials(
        &self,
        filter: &CredentialFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Credential>> {
        let rows: Vec<Credential> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(CREDENTIAL_SELECT);
            q.push(" WHERE 1 = 1");
            if let Some(provider) = &filter.provider {
                q.push(" AND c.provider = ").push_bind(provider.clone());
            }
            if let Some(kind) = filter.kind {
                q.push(" AND c.kind = ").push_bind(kind.as_str());
            }
            if let Some(status) = filter.status {
                q.push(" AND c.status = ").push_bind(status.as_str());
            }
            if let Some(agent_id) = &filter.agent_id {
                q.push(" AND EXISTS (SELECT 1 FROM agent_credentials ac WHERE ac.credential_id = c.id AND ac.agent_id = ")
                    .push_bind(agent_id.clone())
                    .push(")");
            }
            match filter.shared {
                Some(true) => {
                    q.push(" AND ").push(LIVE_LINKS).push(" > 1");
                }
                Some(false) => {
                    q.push(" AND ").push(LIVE_LINKS).push(" <= 1");
                }
                None => {}
            }
            if let Some(after) = &page.after {
                q.push(" AND c.id > ").push_bind(after.clone());
            }
            q.push(" ORDER BY c.id LIMIT ").push_bind(page.fetch_limit());
            q.build_query_as().fetch_all(p).await?
        });
        let page_of = page.paginate(rows, |c| &c.id);
        Ok(Page {
            items: self.with_agent_ids(page_of.items).await?,
            next_cursor: page_of.next_cursor,
        })
    }

    async fn with_agent_ids(&self, mut rows: Vec<Credential>) -> StoreResult<Vec<Credential>> {
        if rows.is_empty() {
            return Ok(rows);
        }
        let links: Vec<(String, String)> = with_pool!(self, p => {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT ac.credential_id, ac.agent_id FROM agent_credentials ac \
                 JOIN agents a ON a.id = ac.agent_id WHERE a.deleted_at IS NULL AND ac.credential_id IN (",
            );
            let mut list = q.separated(", ");
            for row in &rows {
                list.push_bind(row.id.clone());
            }
            q.push(") ORDER BY ac.agent_id");
            q.build_query_as().fetch_all(p).await?
        });
        for row in &mut rows {
            row.agent_ids = links
                .iter()
                .filter(|(cred, _)| *cred == row.id)
                .map(|(_, agent)| agent.clone())
                .collect();
        }
        Ok(rows)
    }
}

impl Store {
    /// The sealed secret of a credential, for the revocation engine only: nothing else
    /// reads `secret_ciphertext`.
    pub async fn sealed_secret(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        let sealed: Option<Option<Vec<u8>>> = with_pool!(self, p => {
            sqlx::query_scalar("SELECT secret_ciphertext FROM credentials WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await?
        });
        Ok(sealed.flatten())
    }

    /// Sets a credential's lifecycle status (`revoked`, `verified_dead`, …).
    pub async fn set_credential_status(
        &self,
        id: &str,
        status: CredentialStatus,
    ) -> StoreResult<()> {
        // Through a write transaction: on SQLite, writes take the one writer's queue.
        let mut tx = self.begin().await?;
        tx.set_credential_status(id, status).await?;
        tx.commit().await
    }
}

impl Tx {
    /// As [`Store::set_credential_status`], inside the caller's transaction.
    pub async fn set_credential_status(
        &mut self,
        id: &str,
        status: CredentialStatus,
    ) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query("UPDATE credentials SET status = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(status.as_str())
                .bind(now())
                .execute(c)
                .await?;
        });
        Ok(())
    }

    /// The id and fingerprint of the credential with this fingerprint, if stored.
    pub async fn find_credential_by_fingerprint(
        &mut self,
        fingerprint: &str,
    ) -> StoreResult<Option<String>> {
        self.lock(LockKey::Secret(fingerprint)).await?;
        Ok(with_tx!(self, c => {
            sqlx::query_scalar("SELECT id FROM credentials WHERE fingerprint = $1")
                .bind(fingerprint)
                .fetch_optional(&mut *c)
                .await?
        }))
    }

    /// The id and stored fingerprint of the credential known by (provider, external id).
    pub async fn find_credential_by_external_id(
        &mut self,
        provider: &str,
        external_id: &str,
    ) -> StoreResult<Option<(String, Option<String>)>> {
        self.lock(LockKey::CredentialHandle(provider, external_id))
            .await?;
        Ok(with_tx!(self, c => {
            sqlx::query_as("SELECT id, fingerprint FROM credentials WHERE provider = $1 AND external_id = $2")
                .bind(provider)
                .bind(external_id)
                .fetch_optional(&mut *c)
                .await?
        }))
    }

    pub async fn credential_exists(&mut self, id: &str) -> StoreResult<bool> {
        let found: Option<String> = with_tx!(self, c => {
            sqlx::query_scalar("SELECT id FROM credentials WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *c)
                .await?
        });
        Ok(found.is_some())
    }

    pub async fn insert_credential(&mut self, new: &NewCredential) -> StoreResult<()> {
        let scopes = serde_json::to_string(&new.scopes).expect("strings serialise");
        let at = now();
        // Secret before handle, as every path that finds a credential takes them.
        if let Some(fingerprint) = &new.fingerprint {
            self.lock(LockKey::Secret(fingerprint)).await?;
        }
        if let Some(external_id) = &new.external_id {
            self.lock(LockKey::CredentialHandle(&new.provider, external_id))
                .await?;
        }
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO credentials (id, provider, kind, external_id, scopes, issued_at, rotated_at, \
                 expires_at, secret_ciphertext, fingerprint, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            )
            .bind(&new.id)
            .bind(&new.provider)
            .bind(new.kind.as_str())
            .bind(&new.external_id)
            .bind(scopes)
            .bind(new.issued_at)
            .bind(new.rotated_at)
            .bind(new.expires_at)
            .bind(&new.sealed_secret)
            .bind(&new.fingerprint)
            .bind(CredentialStatus::Active.as_str())
            .bind(at)
            .execute(&mut *c)
            .await
            .map_err(conflict("this credential is already stored"))?;
        });
        Ok(())
    }

    /// Stores a secret for a credential that had none.
    pub async fn set_credential_secret(
        &mut self,
        id: &str,
        sealed_secret: &[u8],
        fingerprint: &str,
    ) -> StoreResult<()> {
        self.lock(LockKey::Secret(fingerprint)).await?;
        with_tx!(self, c => {
            sqlx::query(
                "UPDATE credentials SET secret_ciphertext = $2, fingerprint = $3, updated_at = $4 \
                 WHERE id = $1 AND fingerprint IS NULL",
            )
            .bind(id)
            .bind(sealed_secret)
            .bind(fingerprint)
            .bind(now())
            .execute(&mut *c)
            .await
            .map_err(conflict("this secret is already stored for another credential"))?;
        });
        Ok(())
    }

    /// Links a credential to an agent; returns false when the link already existed.
    pub async fn link_credential(
        &mut self,
        agent_id: &str,
        credential_id: &str,
    ) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO agent_credentials (agent_id, credential_id, linked_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(agent_id)
            .bind(credential_id)
            .bind(now())
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Removes a link; returns false when there was none.
    pub async fn unlink_credential(
        &mut self,
        agent_id: &str,
        credential_id: &str,
    ) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query("DELETE FROM agent_credentials WHERE agent_id = $1 AND credential_id = $2")
                .bind(agent_id)
                .bind(credential_id)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
