//! Master key rotation, online: a new master key is introduced, every stored secret
//! is sealed again under it in batches while the service keeps working, and then the
//! old key is refused.
//!
//! How the instances agree, with nothing but the database between them:
//! - `master_key_check` names the key the database is set up with.
//! - While a rotation runs, `master_key_rotation` holds each key sealed under the
//!   other, so that an instance configured with either one holds both. Instances
//!   read it at start-up and every [`WATCH_INTERVAL`] ([`watch`]), and from then on
//!   seal with the new key. Rewriting starts [`GRACE`] after the rotation began, so
//!   every running instance has the new key before any secret depends on it.
//! - The rotation is a durable job: batches of rows still sealed under another key
//!   are opened and sealed again, each batch one transaction that only replaces a
//!   ciphertext nobody changed since it was read; a crashed instance's job is taken
//!   over and simply goes on (rows already done are skipped by their header).
//! - When no row is left, one transaction records the new key as the database's key,
//!   keeps the fingerprint key sealed under it, and deletes the rotation record: from
//!   then on the old key opens nothing (no ciphertext, no sealed key) and an instance
//!   started with it is refused.
//!
//! The fingerprint key does not rotate (see `crypto::SecretKeys::fingerprint`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditEntry;
use crate::crypto::{sealed_header, CryptoError, MasterKey, SecretKeys};
use crate::store::sealed::{SealedRow, SealedTable};
use crate::store::{now, Store, StoreError};
use crate::tasks::{Schedule, Task};

/// `instance_meta`: the check value of the database's master key.
pub const MASTER_KEY_CHECK: &str = "master_key_check";
/// `instance_meta`: the rotation in progress (a [`Rotation`] as JSON).
const ROTATION: &str = "master_key_rotation";
/// `instance_meta`: the fingerprint key sealed under the database's master key, once
/// the master key has been rotated (before that it is derived from the master key).
const FINGERPRINT_KEY: &str = "fingerprint_key_sealed";

/// How often running instances look for a rotation begun elsewhere.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How long after a rotation begins its first secret is sealed again: every running
/// instance has looked ([`WATCH_INTERVAL`]) and holds the new key by then.
pub const GRACE: Duration = Duration::from_secs(5);

/// How a rotation paces itself (`key_rotation_batch_size`, `key_rotation_pause_ms`).
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Secrets sealed again per transaction.
    pub batch_size: i64,
    /// Pause between batches, leaving the database to other writers.
    pub pause: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            batch_size: 100,
            pause: Duration::from_millis(20),
        }
    }
}

/// The rotation record: each key sealed under the other, and the fingerprint key
/// sealed under the new one. Nothing in it opens without one of the two keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Rotation {
    old_key_id: String,
    new_key_id: String,
    new_check: String,
    /// Hex: the new master key sealed under the old one.
    new_under_old: String,
    /// Hex: the old master key sealed under the new one.
    old_under_new: String,
    /// Hex: the fingerprint key sealed under the new master key.
    fingerprint_under_new: String,
    started_at: DateTime<Utc>,
    started_by: String,
}

/// Why the keys cannot be opened, or a rotation cannot begin.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "OWNERBOUND_MASTER_KEY (master_key) is not the key this database was set up with, so its \
         stored secrets cannot be decrypted. If the master key was rotated, configure the new key; \
         otherwise restore the original key (or key file beside a SQLite database) and start again."
    )]
    WrongKey,
    #[error("a rotation to master key {0} is already running; `ownerbound keys status` shows it")]
    Busy(String),
    #[error("the new master key is the current one")]
    SameKey,
    #[error("the stored key material cannot be opened: {0}")]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn rotation(store: &Store) -> Result<Option<Rotation>, StoreError> {
    Ok(store
        .meta(ROTATION)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok()))
}

fn unhex(text: &str) -> Result<Vec<u8>, CryptoError> {
    hex::decode(text).map_err(|_| CryptoError::Decrypt)
}

/// The keys of `master` as this database knows them: the key it was set up with (or
/// rotated to), or either key of a rotation in progress, which then gives both.
/// Anything else is refused. A new database records `master` as its key.
pub async fn open_keys(store: &Store, master: &MasterKey) -> Result<SecretKeys, KeyError> {
    let recorded = store
        .meta_insert_once(MASTER_KEY_CHECK, &master.check())
        .await?;
    let running = rotation(store).await?;
    if recorded == master.check() {
        let keys = match store.meta(FINGERPRINT_KEY).await? {
            Some(sealed) => SecretKeys::with_sealed_fingerprint_key(master, &unhex(&sealed)?)?,
            None => SecretKeys::new(master),
        };
        if let Some(rotation) = running {
            let new =
                keys.open_master_key(&unhex(&rotation.new_under_old)?, &rotation.new_key_id)?;
            keys.begin_rotation(&new);
        }
        return Ok(keys);
    }
    match running {
        // Restarted with the new key before the rotation finished.
        Some(rotation) if rotation.new_check == master.check() => {
            let keys = SecretKeys::with_sealed_fingerprint_key(
                master,
                &unhex(&rotation.fingerprint_under_new)?,
            )?;
            let old =
                keys.open_master_key(&unhex(&rotation.old_under_new)?, &rotation.old_key_id)?;
            keys.also_open_with(&old);
            Ok(keys)
        }
        _ => Err(KeyError::WrongKey),
    }
}

/// What beginning a rotation came to.
#[derive(Debug, Clone, Serialize)]
pub struct Begun {
    pub old_key_id: String,
    pub new_key_id: String,
    /// False when this very rotation was running already (a repeated request).
    pub started: bool,
}

/// Begins rotating to `new`: records the rotation, seals with `new` from now on in
/// this process, and queues the job that seals every stored secret again. Asking
/// again for the same key while it runs changes nothing.
pub async fn begin(
    store: &Store,
    keys: &SecretKeys,
    new: &MasterKey,
    actor: &str,
) -> Result<Begun, KeyError> {
    refresh(store, keys).await?;
    if let Some(running) = rotation(store).await? {
        if running.new_key_id != new.id() {
            return Err(KeyError::Busy(running.new_key_id));
        }
        return Ok(Begun {
            old_key_id: running.old_key_id,
            new_key_id: running.new_key_id,
            started: false,
        });
    }
    let old_key_id = keys.current_key_id();
    if old_key_id == new.id() {
        return Err(KeyError::SameKey);
    }
    let record = Rotation {
        old_key_id: old_key_id.clone(),
        new_key_id: new.id(),
        new_check: new.check(),
        new_under_old: hex::encode(keys.seal_master_key(new)),
        old_under_new: hex::encode(keys.seal_current_under(&SecretKeys::new(new))),
        fingerprint_under_new: hex::encode(keys.seal_fingerprint_key(new)),
        started_at: now(),
        started_by: actor.to_string(),
    };
    let mut tx = store.begin().await?;
    if !tx
        .meta_insert_once(
            ROTATION,
            &serde_json::to_string(&record).expect("serialises"),
        )
        .await?
    {
        // Another instance began one between the look and now.
        drop(tx);
        return Box::pin(begin(store, keys, new, actor)).await;
    }
    crate::tasks::enqueue(
        &mut tx,
        &Task::RotateKeys {
            key_id: record.new_key_id.clone(),
        },
        &Schedule {
            dedupe_key: &format!("rotate-keys:{}", record.new_key_id),
            provider: None,
            run_after: now() + chrono::Duration::from_std(GRACE).expect("small"),
        },
    )
    .await?;
    tx.append_audit(
        &AuditEntry::new(
            actor,
            "keys.rotation_started",
            "master_key",
            Some(&record.new_key_id),
        )
        .with_details(json!({"old_key_id": record.old_key_id})),
    )
    .await?;
    tx.commit().await?;
    keys.begin_rotation(new);
    Ok(Begun {
        old_key_id,
        new_key_id: record.new_key_id,
        started: true,
    })
}

/// Brings this instance's keys up to date with the database: a rotation begun
/// elsewhere is joined, a finished one retires the old key.
pub async fn refresh(store: &Store, keys: &SecretKeys) -> Result<(), KeyError> {
    match rotation(store).await? {
        Some(rotation) => {
            if !keys.holds(&rotation.new_key_id) {
                let new =
                    keys.open_master_key(&unhex(&rotation.new_under_old)?, &rotation.new_key_id)?;
                keys.begin_rotation(&new);
                tracing::info!(new_key_id = %rotation.new_key_id,
                    "joined a master key rotation: sealing with the new key");
            }
        }
        None => {
            if keys.retiring_key_id().is_some() {
                let recorded = store.meta(MASTER_KEY_CHECK).await?;
                if recorded.as_deref() == Some(keys.key_check().as_str()) {
                    keys.finish_rotation();
                    tracing::info!("the master key rotation finished: the old key is retired");
                }
            } else if store.meta(MASTER_KEY_CHECK).await?.as_deref()
                != Some(keys.key_check().as_str())
            {
                tracing::error!(
                    "the database's master key was rotated and this instance never learned the new \
                     key: restart it with the new key"
                );
            }
        }
    }
    Ok(())
}

/// Keeps this instance's keys up to date until shutdown (see [`refresh`]).
pub async fn watch(store: Store, keys: SecretKeys, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(WATCH_INTERVAL) => {
                if let Err(err) = refresh(&store, &keys).await {
                    tracing::warn!(error = %err, "could not check for a master key rotation");
                }
            }
        }
    }
}

/// Decrypts `sealed`, first joining a rotation another instance began when the
/// ciphertext names a key this instance does not hold yet.
pub async fn decrypt(
    store: &Store,
    keys: &SecretKeys,
    sealed: &[u8],
    context: &str,
) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
    match keys.decrypt(sealed, context) {
        Err(CryptoError::UnknownKey(_)) => {
            refresh(store, keys).await?;
            Ok(keys.decrypt(sealed, context)?)
        }
        other => Ok(other?),
    }
}

/// Where a rotation stands.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The key the database is set up with (the old one while rotating).
    pub key_id: String,
    pub rotating: bool,
    pub new_key_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub started_by: Option<String>,
    /// Stored secrets in all.
    pub secrets: i64,
    /// Of which not sealed under the newest key yet.
    pub remaining: i64,
}

/// Where the rotation stands, from the database.
pub async fn status(store: &Store, keys: &SecretKeys) -> Result<Status, KeyError> {
    let running = rotation(store).await?;
    let newest = running
        .as_ref()
        .map(|r| r.new_key_id.clone())
        .unwrap_or_else(|| keys.current_key_id());
    let header = sealed_header(&newest).ok_or(CryptoError::Decrypt)?;
    let (mut secrets, mut remaining) = (0, 0);
    for table in SealedTable::ALL {
        let (all, elsewhere) = store.count_sealed(table, &header).await?;
        secrets += all;
        remaining += elsewhere;
    }
    Ok(Status {
        key_id: running
            .as_ref()
            .map(|r| r.old_key_id.clone())
            .unwrap_or(newest),
        rotating: running.is_some(),
        new_key_id: running.as_ref().map(|r| r.new_key_id.clone()),
        started_at: running.as_ref().map(|r| r.started_at),
        started_by: running.map(|r| r.started_by),
        secrets,
        remaining,
    })
}

/// What one run of the rotation job came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Every secret is sealed under the new key and the old key is retired.
    Finished,
    /// Not yet: begun less than [`GRACE`] ago.
    TooEarly(Duration),
    /// The rotation this job was for is not running (finished by another run).
    NotRunning,
    /// The job's lease was lost (another instance holds it now).
    LeaseLost,
}

/// The rotation job: seals every stored secret again under the new key, batch by
/// batch, then finishes. `keep_lease` is called after every batch and says whether
/// this runner still holds the job.
pub async fn run<F, Fut>(
    store: &Store,
    keys: &SecretKeys,
    key_id: &str,
    pace: Pace,
    keep_lease: F,
) -> Result<Step, KeyError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<bool, StoreError>>,
{
    let Some(running) = rotation(store).await?.filter(|r| r.new_key_id == key_id) else {
        return Ok(Step::NotRunning);
    };
    let since = (now() - running.started_at).to_std().unwrap_or_default();
    if since < GRACE {
        return Ok(Step::TooEarly(GRACE - since));
    }
    refresh(store, keys).await?;
    let header = sealed_header(key_id).ok_or(CryptoError::Decrypt)?;
    loop {
        let mut rewritten = 0;
        for table in SealedTable::ALL {
            let mut after = String::new();
            loop {
                let rows = store
                    .sealed_elsewhere(table, &header, &after, pace.batch_size)
                    .await?;
                let Some(last) = rows.last() else { break };
                after = last.id.clone();
                rewritten += reseal_batch(store, keys, table, &rows).await?;
                if !keep_lease().await? {
                    return Ok(Step::LeaseLost);
                }
                tokio::time::sleep(pace.pause).await;
            }
        }
        // A pass that rewrote nothing found nothing left (rows another writer sealed
        // meanwhile were sealed under the new key already).
        if rewritten == 0 && finish(store, keys, &running, &header).await? {
            return Ok(Step::Finished);
        }
    }
}

/// Seals one batch again in one transaction; returns how many rows were rewritten.
async fn reseal_batch(
    store: &Store,
    keys: &SecretKeys,
    table: SealedTable,
    rows: &[SealedRow],
) -> Result<usize, KeyError> {
    let mut tx = store.begin().await?;
    let mut done = 0;
    for row in rows {
        let context = match table {
            SealedTable::Credentials => row.binding.clone(),
            SealedTable::HrVerificationTokens => crate::hr::verification_context(&row.binding),
        };
        let plaintext = match keys.decrypt(&row.sealed, &context) {
            Ok(plaintext) => plaintext,
            Err(err) => {
                // A ciphertext no key opens stays as it is; finishing refuses while it
                // is there, so it is looked at rather than silently dropped.
                tracing::error!(table = ?table, id = %row.id, error = %err,
                    "a stored secret cannot be opened with either master key");
                continue;
            }
        };
        let sealed = keys.encrypt(&plaintext, &context);
        if tx.reseal(table, &row.id, &row.sealed, &sealed).await? {
            done += 1;
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Records the new key as the database's, if nothing is left under another key.
async fn finish(
    store: &Store,
    keys: &SecretKeys,
    running: &Rotation,
    header: &[u8],
) -> Result<bool, KeyError> {
    let mut left = 0;
    for table in SealedTable::ALL {
        left += store.count_sealed(table, header).await?.1;
    }
    if left > 0 {
        tracing::error!(
            left,
            "stored secrets that neither master key opens keep the rotation from finishing"
        );
        return Ok(false);
    }
    let mut tx = store.begin().await?;
    tx.meta_put(MASTER_KEY_CHECK, &running.new_check).await?;
    tx.meta_put(FINGERPRINT_KEY, &running.fingerprint_under_new)
        .await?;
    tx.meta_delete(ROTATION).await?;
    tx.append_audit(
        &AuditEntry::new(
            "ownerbound",
            "keys.rotation_finished",
            "master_key",
            Some(&running.new_key_id),
        )
        .with_details(json!({"old_key_id": running.old_key_id})),
    )
    .await?;
    tx.commit().await?;
    keys.finish_rotation();
    tracing::info!(new_key_id = %running.new_key_id, "master key rotation finished");
    Ok(true)
}
