//! The append-only, hash-chained audit log.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::QueryBuilder;

use super::{now, with_pool, with_tx, Engine, Store, StoreResult, Tx};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Option<String>,
    pub details: Value,
}

impl AuditEntry {
    pub fn new(actor: &str, action: &str, subject_kind: &str, subject_id: Option<&str>) -> Self {
        Self {
            actor: actor.to_string(),
            action: action.to_string(),
            subject_kind: subject_kind.to_string(),
            subject_id: subject_id.map(str::to_string),
            details: Value::Object(Default::default()),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// The hash of one entry.
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the columns of one audit row"
)]
pub fn chain_hash(
    prev_hash: &str,
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    subject_kind: &str,
    subject_id: Option<&str>,
    details: &str,
) -> String {
    let content = serde_json::json!([
        seq,
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        actor,
        action,
        subject_kind,
        subject_id,
        details
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(content.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

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

/// An entry on its way into the chain: what the hash covers, except its place.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Unchained {
    at: DateTime<Utc>,
    actor: String,
    action: String,
    subject_kind: String,
    subject_id: Option<String>,
    details: String,
}

/// An entry waiting in the outbox (PostgreSQL).
#[derive(Debug, Clone, sqlx::FromRow)]
struct OutboxRow {
    id: i64,
    #[sqlx(flatten)]
    entry: Unchained,
}

/// How many outbox entries one sealing transaction chains.
const SEAL_BATCH: i64 = 1000;

/// Arbitrary constant naming the advisory lock held by the one sealer at a time.
const SEALER_LOCK_KEY: i64 = 0x006f_6273_6561_6c72;

impl Tx {
    /// Appends an entry to the audit log, in this transaction.
    ///
    /// On SQLite, whose writers run one at a time, the entry joins the chain now. On
    /// PostgreSQL it goes to the outbox and joins the chain when sealed (see
    /// [`Store::seal_audit`]), moments after this commits: extending the chain here
    /// would make every writer wait for the previous one's commit.
    pub async fn append_audit(&mut self, entry: &AuditEntry) -> StoreResult<()> {
        let entry = Unchained {
            at: now(),
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            subject_kind: entry.subject_kind.clone(),
            subject_id: entry.subject_id.clone(),
            details: entry.details.to_string(),
        };
        if self.engine() == Engine::Sqlite {
            return self.chain(std::slice::from_ref(&entry)).await;
        }
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO audit_outbox (at, actor, action, subject_kind, subject_id, details) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(entry.at)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.subject_kind)
            .bind(&entry.subject_id)
            .bind(&entry.details)
            .execute(&mut *c)
            .await?;
        });
        self.seal_audit_on_commit();
        Ok(())
    }

    /// Links entries, in order, to the end of the chain. The caller is the chain's
    /// only writer: SQLite's one writer, or the sealer holding its lock.
    async fn chain(&mut self, entries: &[Unchained]) -> StoreResult<()> {
        let last: Option<(i64, String)> = with_tx!(self, c => {
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *c)
                .await?
        });
        let (mut seq, mut prev_hash) = last.unwrap_or((0, GENESIS_HASH.to_string()));
        let mut rows = Vec::with_capacity(entries.len());
        for entry in entries {
            seq += 1;
            let hash = chain_hash(
                &prev_hash,
                seq,
                entry.at,
                &entry.actor,
                &entry.action,
                &entry.subject_kind,
                entry.subject_id.as_deref(),
                &entry.details,
            );
            rows.push((
                seq,
                std::mem::replace(&mut prev_hash, hash.clone()),
                hash,
                entry,
            ));
        }
        with_tx!(self, c => {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO audit_log (seq, at, actor, action, subject_kind, subject_id, details, prev_hash, hash) ",
            );
            q.push_values(&rows, |mut b, (seq, prev, hash, entry)| {
                b.push_bind(*seq)
                    .push_bind(entry.at)
                    .push_bind(entry.actor.clone())
                    .push_bind(entry.action.clone())
                    .push_bind(entry.subject_kind.clone())
                    .push_bind(entry.subject_id.clone())
                    .push_bind(entry.details.clone())
                    .push_bind(prev.clone())
                    .push_bind(hash.clone());
            });
            q.build().execute(&mut *c).await?;
        });
        Ok(())
    }
}

impl Store {
    /// Moves the outbox's entries into the chain, oldest first, and returns how many
    /// it sealed. One sealer at a time, whichever instance: it holds an advisory lock
    /// for each (short) sealing transaction. Nothing to do on SQLite.
    pub async fn seal_audit(&self) -> StoreResult<u64> {
        let mut sealed = 0;
        while self.has_unsealed_audit_entries().await? {
            let mut tx = self.begin().await?;
            with_tx!(tx, c => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(SEALER_LOCK_KEY)
                    .execute(&mut *c)
                    .await?;
            });
            let batch: Vec<OutboxRow> = with_tx!(tx, c => {
                sqlx::query_as(
                    "SELECT id, at, actor, action, subject_kind, subject_id, details \
                     FROM audit_outbox ORDER BY id LIMIT $1",
                )
                .bind(SEAL_BATCH)
                .fetch_all(&mut *c)
                .await?
            });
            if batch.is_empty() {
                // Another sealer took them meanwhile.
                return Ok(sealed);
            }
            let entries: Vec<Unchained> = batch.iter().map(|row| row.entry.clone()).collect();
            tx.chain(&entries).await?;
            // Exactly these ids: an entry with a smaller id may commit after this read
            // (ids are drawn at insert, not at commit); it is sealed next time.
            with_tx!(tx, c => {
                let mut q = QueryBuilder::<Db>::new("DELETE FROM audit_outbox WHERE id IN (");
                let mut ids = q.separated(", ");
                for row in &batch {
                    ids.push_bind(row.id);
                }
                q.push(")");
                q.build().execute(&mut *c).await?;
            });
            tx.commit().await?;
            sealed += batch.len() as u64;
        }
        Ok(sealed)
    }

    async fn has_unsealed_audit_entries(&self) -> StoreResult<bool> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_outbox)").fetch_one(p).await?
        }))
    }

    /// Entries committed but not chained yet (always 0 on SQLite).
    pub async fn unsealed_audit_entries(&self) -> StoreResult<i64> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM audit_outbox").fetch_one(p).await?
        }))
    }
}

impl Store {
    /// Up to `limit` entries with `seq > after`, in chain order. Entries committed
    /// before the call are sealed first, so none is missing.
    pub async fn audit_after(&self, after: i64, limit: i64) -> StoreResult<Vec<AuditRecord>> {
        self.seal_audit().await?;
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

    /// Up to `limit` entries about one subject after sequence number `after`, oldest
    /// first.
    pub async fn audit_for_subject_after(
        &self,
        subject_kind: &str,
        subject_id: &str,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<AuditRecord>> {
        self.seal_audit().await?;
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE subject_kind = $1 AND subject_id = $2 \
             AND seq > $3 ORDER BY seq LIMIT $4"
        );
        Ok(with_pool!(self, p => {
            sqlx::query_as(&sql)
                .bind(subject_kind)
                .bind(subject_id)
                .bind(after)
                .bind(limit)
                .fetch_all(p)
                .await?
        }))
    }

    /// Every entry about one subject, oldest first (a case's history).
    pub async fn audit_for_subject(
        &self,
        subject_kind: &str,
        subject_id: &str,
    ) -> StoreResult<Vec<AuditRecord>> {
        self.seal_audit().await?;
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE subject_kind = $1 AND subject_id = $2 ORDER BY seq"
        );
        Ok(with_pool!(self, p => {
            sqlx::query_as(&sql).bind(subject_kind).bind(subject_id).fetch_all(p).await?
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_changes_with_every_field_and_with_the_predecessor() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let base = chain_hash(GENESIS_HASH, 1, at, "cli", "x", "agent", Some("a"), "{}");
        assert_eq!(base.len(), 64);
        assert_ne!(
            base,
            chain_hash("ff", 1, at, "cli", "x", "agent", Some("a"), "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, 2, at, "cli", "x", "agent", Some("a"), "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, 1, at, "cli", "x", "agent", None, "{}")
        );
        assert_ne!(
            base,
            chain_hash(
                GENESIS_HASH,
                1,
                at,
                "cli",
                "x",
                "agent",
                Some("a"),
                "{\"k\":1}"
            )
        );
    }
}
