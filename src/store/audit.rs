//! The append-only, hash-chained audit log.

use chrono::{DateTime, Utc};

use super::{now, with_pool, with_tx, Store, StoreResult, Tx};
use crate::audit::{chain_hash, AuditEntry, GENESIS_HASH};

/// A stored audit entry.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Option<String>,
    /// JSON text, exactly as hashed (shown as a JSON object).
    #[serde(serialize_with = "details_as_json")]
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

fn details_as_json<S: serde::Serializer>(details: &str, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize;
    match serde_json::from_str::<serde_json::Value>(details) {
        Ok(value) => value.serialize(s),
        Err(_) => s.serialize_str(details),
    }
}

const AUDIT_COLUMNS: &str =
    "seq, at, actor, action, subject_kind, subject_id, details, prev_hash, hash";

impl Tx {
    /// Appends an entry to the chain. Appends cannot fork the chain, even with several
    /// instances, because every [`Tx`] holds the write lock (see [`Store::begin`]).
    pub async fn append_audit(&mut self, entry: &AuditEntry) -> StoreResult<i64> {
        let last: Option<(i64, String)> = with_tx!(self, c => {
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *c)
                .await?
        });
        let (prev_seq, prev_hash) = last.unwrap_or((0, GENESIS_HASH.to_string()));
        let seq = prev_seq + 1;
        let at = now();
        let details = entry.details.to_string();
        let hash = chain_hash(
            &prev_hash,
            seq,
            at,
            &entry.actor,
            &entry.action,
            &entry.subject_kind,
            entry.subject_id.as_deref(),
            &details,
        );
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO audit_log (seq, at, actor, action, subject_kind, subject_id, details, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(seq)
            .bind(at)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.subject_kind)
            .bind(&entry.subject_id)
            .bind(&details)
            .bind(&prev_hash)
            .bind(&hash)
            .execute(&mut *c)
            .await?;
        });
        Ok(seq)
    }
}

impl Store {
    /// Up to `limit` entries with `seq > after`, in chain order.
    pub async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        Ok(with_pool!(self, p => sqlx::query_as(&sql).bind(after).bind(limit).fetch_all(p).await?))
    }

    /// Up to `limit` sequence numbers after `after`, in order.
    pub async fn audit_seqs_after(&self, after: i64, limit: i64) -> StoreResult<Vec<i64>> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar("SELECT seq FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?
        }))
    }

    /// Entries about one subject, oldest first.
    pub async fn audit_for_subject(
        &self,
        subject_kind: &str,
        subject_id: &str,
    ) -> StoreResult<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE subject_kind = $1 AND subject_id = $2 ORDER BY seq"
        );
        Ok(with_pool!(self, p => {
            sqlx::query_as(&sql).bind(subject_kind).bind(subject_id).fetch_all(p).await?
        }))
    }
}
