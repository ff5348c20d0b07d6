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
    /// This rotation's own id: its job's dedupe key (rotating back to a key used
    /// before is another rotation).
    id: String,
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
    #[error(
        "the database's master key was rotated and this instance does not hold the new key: \
         restart it with the new key (OWNERBOUND_MASTER_KEY)"
    )]
    Outdated,
    #[error("a rotation to master key {0} is already running; `ownerbound keys status` shows it")]
    Busy(String),
    #[error("the new master key is the current one")]
    SameKey,
    #[error(
        "no next master key is configured on this instance: set OWNERBOUND_NEXT_MASTER_KEY (or \
         _FILE) to the new key, or use `ownerbound keys rotate --new-key-file`"
    )]
    NoNextKey,
    #[error("the master key rotation record in the database cannot be read")]
    MalformedRecord,
    #[error("the stored key material cannot be opened: {0}")]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rotation in progress, with its record's exact text (what finishing removes).
async fn rotation(store: &Store) -> Result<Option<(Rotation, String)>, KeyError> {
    match store.meta(ROTATION).await? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(|rotation| Some((rotation, text)))
            .map_err(|_| KeyError::MalformedRecord),
    }
}

fn unhex(text: &str) -> Result<Vec<u8>, CryptoError> {
    hex::decode(text).map_err(|_| CryptoError::Decrypt)
}

/// The keys of `master` as this database knows them: the key it was set up with (or
/// rotated to), or either key of a rotation in progress, which then gives both.
/// Anything else is refused. A new database records `master` as its key.
pub async fn open_keys(store: &Store, master: &MasterKey) -> Result<SecretKeys, KeyError> {
    // The rotation first, the check second: a rotation that finishes between the two
    // reads is then seen as running with the new key recorded (the old key refused),
    // not as no rotation with the old key recorded (the old key alone accepted).
    let running = rotation(store).await?.map(|(rotation, _)| rotation);
    let recorded = store
        .meta_insert_once(MASTER_KEY_CHECK, &master.check())
        .await?;
    let keys = if recorded == master.check() {
        let keys = match store.meta(FINGERPRINT_KEY).await? {
            Some(sealed) => SecretKeys::with_sealed_fingerprint_key(master, &unhex(&sealed)?)?,
            None => SecretKeys::new(master),
        };
        if let Some(rotation) = running.filter(|r| r.new_key_id != master.id()) {
            let new =
                keys.open_master_key(&unhex(&rotation.new_under_old)?, &rotation.new_key_id)?;
            keys.begin_rotation(&new);
        }
        keys
    } else {
        match running {
            // Started with the new key before the rotation finished.
            Some(rotation) if rotation.new_check == master.check() => {
                let keys = SecretKeys::with_sealed_fingerprint_key(
                    master,
                    &unhex(&rotation.fingerprint_under_new)?,
                )?;
                let old =
                    keys.open_master_key(&unhex(&rotation.old_under_new)?, &rotation.old_key_id)?;
                keys.also_open_with(&old);
                keys
            }
            _ => return Err(KeyError::WrongKey),
        }
    };
    keys.mark_checked();
    Ok(keys)
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
    if let Some(begun) = already_running(store, new).await? {
        return Ok(begun);
    }
    let old_key_id = keys.current_key_id();
    if old_key_id == new.id() {
        return Err(KeyError::SameKey);
    }
    let record = Rotation {
        id: uuid::Uuid::new_v4().simple().to_string(),
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
    let text = serde_json::to_string(&record).expect("serialises");
    if !tx.meta_insert_once(ROTATION, &text).await? {
        // Another process began one between the look and now.
        drop(tx);
        return already_running(store, new)
            .await?
            .ok_or(KeyError::MalformedRecord);
    }
    let queued = crate::tasks::enqueue(
        &mut tx,
        &Task::RotateKeys {
            key_id: record.new_key_id.clone(),
        },
        &Schedule {
            dedupe_key: &format!("rotate-keys:{}", record.id),
            provider: None,
            run_after: now() + chrono::Duration::from_std(GRACE).expect("small"),
        },
    )
    .await?;
    if !queued {
        return Err(KeyError::MalformedRecord);
    }
    tx.append_audit(
        &AuditEntry::new(
            actor,
            "keys.rotation_started",
            "master_key",
            Some(&record.new_key_id),
        )
        .with_details(json!({"old_key_id": record.old_key_id, "rotation_id": record.id})),
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

/// The rotation already running: this one again (nothing to do), or another
/// (refused).
async fn already_running(store: &Store, new: &MasterKey) -> Result<Option<Begun>, KeyError> {
    match rotation(store).await? {
        None => Ok(None),
        Some((running, _)) if running.new_key_id == new.id() => Ok(Some(Begun {
            old_key_id: running.old_key_id,
            new_key_id: running.new_key_id,
            started: false,
        })),
        Some((running, _)) => Err(KeyError::Busy(running.new_key_id)),
    }
}

/// Brings this instance's keys up to date with the database: a rotation begun
/// elsewhere is joined, a finished one retires the old key. An instance that no
/// longer holds the database's key gets [`KeyError::Outdated`] and seals nothing
/// (see [`ensure_current`]).
pub async fn refresh(store: &Store, keys: &SecretKeys) -> Result<(), KeyError> {
    match rotation(store).await? {
        Some((rotation, _)) => {
            if !keys.holds(&rotation.new_key_id) {
                let new =
                    keys.open_master_key(&unhex(&rotation.new_under_old)?, &rotation.new_key_id)?;
                keys.begin_rotation(&new);
                tracing::info!(new_key_id = %rotation.new_key_id,
                    "joined a master key rotation: sealing with the new key");
            }
        }
        None => {
            let recorded = store.meta(MASTER_KEY_CHECK).await?;
            if recorded.as_deref() != Some(keys.key_check().as_str()) {
                return Err(KeyError::Outdated);
            }
            if keys.retiring_key_id().is_some() {
                keys.finish_rotation();
                tracing::info!("the master key rotation finished: the old key is retired");
            }
        }
    }
    keys.mark_checked();
    Ok(())
}

/// Before sealing a secret: the keys were checked against the database within two
/// [`WATCH_INTERVAL`]s, or are checked now. An instance that may have missed a
/// rotation (its checks failing while the database was away, a paused process, a
/// command-line run) seals nothing under a key nobody else may hold any more.
pub async fn ensure_current(store: &Store, keys: &SecretKeys) -> Result<(), KeyError> {
    if keys.checked_within(WATCH_INTERVAL * 2) {
        return Ok(());
    }
    refresh(store, keys).await
}

/// Keeps this instance's keys up to date until shutdown (see [`refresh`]).
pub async fn watch(store: Store, keys: SecretKeys, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(WATCH_INTERVAL) => match refresh(&store, &keys).await {
                Ok(()) => {}
                Err(KeyError::Outdated) => tracing::error!("{}", KeyError::Outdated),
                Err(err) => tracing::warn!(error = %err, "could not check for a master key rotation"),
            },
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
    let running = rotation(store).await?.map(|(rotation, _)| rotation);
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
    /// This many stored secrets open with neither key: the rotation cannot finish
    /// until someone looks, and the job retries later rather than spin.
    Stuck(i64),
}

/// The rotation job: seals every stored secret again under the new key, batch by
/// batch, then finishes. `keep_lease` is called after every batch and before
/// finishing, and says whether this runner still holds the job.
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
    let Some((running, record)) = rotation(store)
        .await?
        .filter(|(r, _)| r.new_key_id == key_id)
    else {
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
        // Another pass while passes rewrite (rows written meanwhile under the old key
        // by an instance that had not joined yet).
        if rewritten > 0 {
            continue;
        }
        if !keep_lease().await? {
            return Ok(Step::LeaseLost);
        }
        return Ok(
            match finish(store, keys, &running, &record, &header).await? {
                0 => Step::Finished,
                left => Step::Stuck(left),
            },
        );
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

/// Records the new key as the database's, if nothing is left under another key;
/// otherwise returns how much is left. One transaction counts what is left with the
/// writers of ciphertexts held off, and removes the rotation record only if it is
/// still the one this run read: a runner that lost its job cannot finish a rotation
/// twice, nor end the next one.
async fn finish(
    store: &Store,
    keys: &SecretKeys,
    running: &Rotation,
    record: &str,
    header: &[u8],
) -> Result<i64, KeyError> {
    let mut tx = store.begin().await?;
    tx.hold_off_sealed_writers().await?;
    let mut left = 0;
    for table in SealedTable::ALL {
        left += tx.count_sealed_elsewhere(table, header).await?;
    }
    if left > 0 {
        tracing::error!(
            left,
            "stored secrets that neither master key opens keep the rotation from finishing"
        );
        return Ok(left);
    }
    if !tx.meta_delete_if(ROTATION, record).await? {
        return Ok(0);
    }
    tx.meta_put(MASTER_KEY_CHECK, &running.new_check).await?;
    tx.meta_put(FINGERPRINT_KEY, &running.fingerprint_under_new)
        .await?;
    tx.append_audit(
        &AuditEntry::new(
            "ownerbound",
            "keys.rotation_finished",
            "master_key",
            Some(&running.new_key_id),
        )
        .with_details(json!({"old_key_id": running.old_key_id, "rotation_id": running.id})),
    )
    .await?;
    tx.commit().await?;
    keys.finish_rotation();
    tracing::info!(new_key_id = %running.new_key_id, "master key rotation finished");
    Ok(0)
}
