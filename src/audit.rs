//! Audit entries and the verification of their hash chain.
//!
//! Each entry's hash is SHA-256 over the previous entry's hash and the entry's own
//! canonical content (sequence number included, so a removed entry breaks the chain).
//! Entries never contain secrets: callers put names, ids and classifications in
//! `details`, never a credential value.

use crate::store::{Store, StoreError, StoreResult};

// The entry and its hash belong to the store, which appends them; they are named
// here too, where the rest of the code looks for the audit log.
pub use crate::store::audit::{chain_hash, AuditEntry, GENESIS_HASH};

/// Who did something: an API token by name, the CLI, or the service itself.
pub fn token_actor(token_name: &str) -> String {
    format!("token:{token_name}")
}

/// Outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStatus {
    /// Every entry links to its predecessor and matches its hash. `unsealed` entries
    /// were committed too late to be chained before the walk ended (PostgreSQL,
    /// while writers run; see `Store::seal_audit`).
    Intact { entries: u64, unsealed: u64 },
    /// The first entry that does not verify, and why.
    Broken { seq: i64, reason: String },
}

/// Walks the whole chain in pages, never holding it all in memory.
pub async fn verify_chain(store: &Store) -> StoreResult<ChainStatus> {
    const PAGE: i64 = 1000;
    let mut expected_prev = GENESIS_HASH.to_string();
    let mut expected_seq = 1;
    let mut count = 0u64;
    loop {
        let page = match store.audit_after(expected_seq - 1, PAGE).await {
            Ok(page) => page,
            Err(StoreError::Db(sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_))) => {
                // SQLite columns take any type: an altered row may not even decode.
                let seq = first_unreadable_entry(store, expected_seq - 1, PAGE).await?;
                return Ok(ChainStatus::Broken {
                    seq,
                    reason: "entry cannot be read (a column was altered)".into(),
                });
            }
            Err(err) => return Err(err),
        };
        if page.is_empty() {
            let unsealed = store.unsealed_audit_entries().await?;
            return Ok(ChainStatus::Intact {
                entries: count,
                unsealed: u64::try_from(unsealed).unwrap_or(0),
            });
        }
        for row in &page {
            let broken = |reason: &str| ChainStatus::Broken {
                seq: row.seq,
                reason: reason.to_string(),
            };
            if row.seq != expected_seq {
                return Ok(ChainStatus::Broken {
                    seq: expected_seq,
                    reason: format!("entry is missing (next stored entry is {})", row.seq),
                });
            }
            if row.prev_hash != expected_prev {
                return Ok(broken("prev_hash does not match the previous entry's hash"));
            }
            let recomputed = chain_hash(
                &row.prev_hash,
                row.seq,
                row.at,
                &row.actor,
                &row.action,
                &row.subject_kind,
                row.subject_id.as_deref(),
                &row.details,
            );
            if recomputed != row.hash {
                return Ok(broken(
                    "content does not match its hash (entry was altered)",
                ));
            }
            expected_prev = row.hash.clone();
            expected_seq += 1;
            count += 1;
        }
    }
}

/// How often the sealer looks at the outbox without being woken: entries left by
/// other instances' writes (they wake their own sealer) or by a crash mid-way.
const SEAL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Chains the audit outbox (PostgreSQL) until `shutdown`: at once after each commit
/// of this instance that left entries, and every [`SEAL_INTERVAL`]. Every instance
/// runs one; they take turns (see `Store::seal_audit`).
pub async fn run_sealer(store: Store, shutdown: tokio_util::sync::CancellationToken) {
    let signal = store.audit_signal();
    loop {
        if let Err(err) = store.seal_audit().await {
            tracing::warn!(error = %err, "sealing audit entries failed; retrying");
        }
        tokio::select! {
            () = signal.notified() => {}
            () = tokio::time::sleep(SEAL_INTERVAL) => {}
            () = shutdown.cancelled() => break,
        }
    }
}

/// The first entry after `after` (within `limit`) that does not decode.
async fn first_unreadable_entry(store: &Store, after: i64, limit: i64) -> StoreResult<i64> {
    for seq in store.audit_seqs_after(after, limit).await? {
        if store.audit_after(seq - 1, 1).await.is_err() {
            return Ok(seq);
        }
    }
    Ok(after + 1)
}
