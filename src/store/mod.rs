//! Storage: one narrow async interface over SQLite and PostgreSQL.
//!
//! The SQL text is written once; the [`with_pool!`] and [`with_tx!`] macros expand
//! each statement for both engines, so both are type-checked and both are tested.
//! Only where the engines really differ (write locking, job claiming) does the
//! code branch on [`Engine`].

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Postgres;

/// Which database engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

pub mod agents;
pub mod applications;
pub mod audit;
pub mod credentials;
pub mod discovery;
pub mod findings;
pub mod groups;
pub mod hr;
pub mod hr_verification;
pub mod instances;
pub mod jobs;
pub mod lifecycle;
pub mod locks;
pub mod offboarding;
pub mod people;
pub mod provider_health;
pub mod reports;
pub mod sealed;
mod sqlite_writer;
pub mod tokens;

// `ignore_missing`: during a rolling upgrade an older instance meets migrations that a
// newer one applied; it must keep starting rather than refuse an unknown version.
static SQLITE_MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations/sqlite")
};
static POSTGRES_MIGRATOR: Migrator = Migrator {
    ignore_missing: true,
    ..sqlx::migrate!("./migrations/postgres")
};

/// Bounded waits on PostgreSQL, set on every connection: a writer that waits this
/// long for a lock (another instance paused inside a transaction, say) gives up with
/// a retryable error rather than hanging every SCIM and HR acknowledgement behind it.
const LOCK_TIMEOUT: &str = "5s";
/// No statement runs longer; the longest (findings over a large inventory) take well
/// under a second.
const STATEMENT_TIMEOUT: &str = "30s";
/// A session that sits idle inside a transaction (a paused or wedged instance) loses
/// it, and with it the locks it holds.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "60s";

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the message names the rule, never a value.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Turns a unique-constraint violation into [`StoreError::Conflict`].
pub(crate) fn conflict(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |err| match err.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::Conflict(what.to_string()),
        _ => StoreError::Db(err),
    }
}

/// Current time, truncated to microseconds: PostgreSQL keeps microseconds, so every
/// timestamp round-trips identically through both engines (the audit hash relies on it).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A new sortable id (UUIDv7: ordering by id is ordering by creation).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[derive(Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// SQLite admits one writer at a time: this process's writers queue for one
    /// connection and commit in groups (see [`sqlite_writer`]). Other processes (the
    /// CLI) meet SQLite's busy timeout.
    sqlite_writer: Option<sqlite_writer::Writer>,
    /// Signalled when a committed write made a job runnable, so idle workers of this
    /// process start at once (other PostgreSQL instances hear [`JOBS_CHANNEL`]).
    job_signal: Arc<tokio::sync::Notify>,
    /// Signalled when a committed write scheduled an HR termination, so the
    /// scheduler sleeps until the earliest one due rather than polling.
    schedule_signal: Arc<tokio::sync::Notify>,
    /// Signalled when a committed write left audit entries in the outbox, so the
    /// sealer chains them at once (PostgreSQL).
    audit_signal: Arc<tokio::sync::Notify>,
}

/// The PostgreSQL `NOTIFY` channel on which a commit that made a job runnable wakes
/// the workers of every instance.
pub const JOBS_CHANNEL: &str = "ownerbound_jobs";

/// Runs `$body` with `$p` bound to the engine's pool, once per engine. Inside the
/// body, `Db` names the engine's `sqlx::Database` (for `QueryBuilder::<Db>`).
macro_rules! with_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($p) => {
                #[allow(dead_code, reason = "only some bodies build queries dynamically")]
                type Db = sqlx::Sqlite;
                $body
            }
            $crate::store::Pool::Postgres($p) => {
                #[allow(dead_code, reason = "only some bodies build queries dynamically")]
                type Db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Runs one write, `$body`, outside any transaction of the caller's, with `$c` bound to
/// where writes go: on SQLite a transaction of the one writer (queued and committed in a
/// group, see [`sqlite_writer`]; a write on a pooled connection would busy-wait for
/// SQLite's lock instead), on PostgreSQL the pool. `Db` as in [`with_pool!`].
macro_rules! with_writer {
    ($store:expr, $c:ident => $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite(_) => {
                #[allow(dead_code, reason = "only some bodies build queries dynamically")]
                type Db = sqlx::Sqlite;
                let mut tx = $store.begin().await?;
                let out = {
                    let $crate::store::TxInner::Sqlite(t) = &mut tx.inner else {
                        unreachable!("a SQLite store begins SQLite transactions")
                    };
                    let $c = &mut **t;
                    $body
                };
                tx.commit().await?;
                out
            }
            $crate::store::Pool::Postgres($c) => {
                #[allow(dead_code, reason = "only some bodies build queries dynamically")]
                type Db = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection, once per engine;
/// `Db` as in [`with_pool!`].
macro_rules! with_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match &mut $tx.inner {
            $crate::store::TxInner::Sqlite(t) => {
                #[allow(dead_code, reason = "only some bodies build queries dynamically")]
                type Db = sqlx::Sqlite;
                let $c = &mut **t;
                $body
            }
            $crate::store::TxInner::Postgres(t) => {
                #[allow(dead_code, reason = "only some bodies build queries dynamically")]
                type Db = sqlx::Postgres;
                let $c = &mut **t;
                $body
            }
        }
    };
}

pub(crate) use with_pool;
pub(crate) use with_tx;
pub(crate) use with_writer;

pub(crate) enum TxInner {
    Sqlite(sqlite_writer::WriterTx),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// A write transaction. Dropping it without [`commit`](Tx::commit) rolls back.
pub struct Tx {
    pub(crate) inner: TxInner,
    /// Set when this transaction made a job runnable: workers are woken on commit.
    wakes_workers: bool,
    job_signal: Arc<tokio::sync::Notify>,
    /// Set when this transaction scheduled an HR termination.
    wakes_scheduler: bool,
    schedule_signal: Arc<tokio::sync::Notify>,
    /// Set when this transaction put audit entries in the outbox.
    wakes_sealer: bool,
    /// Advisory locks this transaction holds (see [`locks`]): taken once each.
    held_locks: std::collections::HashSet<i64>,
    audit_signal: Arc<tokio::sync::Notify>,
}

impl Tx {
    pub fn engine(&self) -> Engine {
        match self.inner {
            TxInner::Sqlite(_) => Engine::Sqlite,
            TxInner::Postgres(_) => Engine::Postgres,
        }
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await?,
            TxInner::Postgres(mut t) => {
                if self.wakes_workers {
                    // Delivered to every listening instance when (and only if) this commits.
                    sqlx::query("SELECT pg_notify($1, '')")
                        .bind(JOBS_CHANNEL)
                        .execute(&mut *t)
                        .await?;
                }
                t.commit().await?
            }
        }
        if self.wakes_workers {
            self.job_signal.notify_one();
        }
        if self.wakes_scheduler {
            self.schedule_signal.notify_one();
        }
        if self.wakes_sealer {
            self.audit_signal.notify_one();
        }
        Ok(())
    }

    /// Marks that this transaction leaves audit entries to seal.
    pub(crate) fn seal_audit_on_commit(&mut self) {
        self.wakes_sealer = true;
    }

    /// Marks that this transaction schedules an HR termination.
    pub(crate) fn wake_scheduler_on_commit(&mut self) {
        self.wakes_scheduler = true;
    }

    /// Marks that this transaction makes a job runnable now.
    pub(crate) fn wake_workers_on_commit(&mut self) {
        self.wakes_workers = true;
    }
}

impl Store {
    /// Connects to the database at `url`, creating a SQLite file when needed. Does
    /// not migrate.
    pub async fn connect_url(url: &str) -> StoreResult<Self> {
        // Files SQLite creates (the database, then its -wal and -shm, which take the
        // database's mode) are the owner's alone; see [`keep_private`].
        let mut writer = None;
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?;
            keep_private(options.get_filename());
            let options = options
                .create_if_missing(true)
                // LIKE is case-sensitive on PostgreSQL; make SQLite agree (and let it
                // use indexes for prefix matches). Case-insensitive matching goes
                // through the *_key columns.
                .pragma("case_sensitive_like", "ON")
                .journal_mode(SqliteJournalMode::Wal)
                // Every commit reaches the disk before it is acknowledged (NORMAL
                // survives a crash of the process, not of the machine); group commit
                // pays one flush for a burst of writers.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
                .await?;
            writer = Some(sqlite_writer::Writer::connect(&options).await?);
            Pool::Sqlite(pool)
        } else {
            let options = PgConnectOptions::from_str(url)?.options([
                ("lock_timeout", LOCK_TIMEOUT),
                ("statement_timeout", STATEMENT_TIMEOUT),
                (
                    "idle_in_transaction_session_timeout",
                    IDLE_IN_TRANSACTION_TIMEOUT,
                ),
            ]);
            let pool = PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Pool::Postgres(pool)
        };
        Ok(Self {
            pool,
            sqlite_writer: writer,
            job_signal: Arc::default(),
            schedule_signal: Arc::default(),
            audit_signal: Arc::default(),
        })
    }

    pub fn engine(&self) -> Engine {
        match self.pool {
            Pool::Sqlite(_) => Engine::Sqlite,
            Pool::Postgres(_) => Engine::Postgres,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATOR,
            Pool::Postgres(_) => &POSTGRES_MIGRATOR,
        }
    }

    /// Applies pending migrations (PostgreSQL serialises concurrent instances with an
    /// advisory lock).
    pub async fn migrate(&self) -> StoreResult<()> {
        with_pool!(self, p => self.migrator().run(p).await?);
        Ok(())
    }

    /// True when the database answers and every migration this binary knows is
    /// applied (newer ones, applied by a newer instance during a rolling upgrade, are fine).
    pub async fn is_ready(&self) -> bool {
        let applied: Result<Vec<i64>, sqlx::Error> = with_pool!(self, p => {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(p)
                .await
        });
        match applied {
            Ok(applied) => self.migrator().iter().all(|m| applied.contains(&m.version)),
            Err(_) => false,
        }
    }

    /// Starts a write transaction. On SQLite write transactions run one at a time, on
    /// one connection, in groups committed together (see [`sqlite_writer`]). On PostgreSQL they run
    /// side by side, in every instance; each read-check-write decision takes the lock
    /// named after what it decides (see [`locks`]), and the audit chain is extended by
    /// one sealer (see [`Store::seal_audit`]). No network call happens inside one.
    pub async fn begin(&self) -> StoreResult<Tx> {
        let inner = match (&self.pool, &self.sqlite_writer) {
            (Pool::Sqlite(_), Some(writer)) => TxInner::Sqlite(writer.begin().await?),
            (Pool::Postgres(p), _) => TxInner::Postgres(p.begin().await?),
            (Pool::Sqlite(_), None) => unreachable!("a SQLite store has a writer"),
        };
        Ok(Tx {
            inner,
            wakes_workers: false,
            job_signal: self.job_signal.clone(),
            wakes_scheduler: false,
            schedule_signal: self.schedule_signal.clone(),
            wakes_sealer: false,
            held_locks: Default::default(),
            audit_signal: self.audit_signal.clone(),
        })
    }

    /// Signalled when jobs became runnable in this process (an enqueue, a release, a
    /// provider that answers again), or a worker slot was freed.
    pub fn job_signal(&self) -> Arc<tokio::sync::Notify> {
        self.job_signal.clone()
    }

    /// Signalled when an HR termination was scheduled in this process.
    pub fn schedule_signal(&self) -> Arc<tokio::sync::Notify> {
        self.schedule_signal.clone()
    }

    /// Signalled when audit entries of this process wait in the outbox.
    pub fn audit_signal(&self) -> Arc<tokio::sync::Notify> {
        self.audit_signal.clone()
    }

    /// Wakes idle workers of this process.
    pub fn wake_workers(&self) {
        self.job_signal.notify_one();
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }

    /// Runs SQL text as it is, without preparing it; for benchmarks and tests that seed
    /// data in bulk. Never called with user input.
    pub async fn execute_unprepared(&self, sql: &str) -> StoreResult<()> {
        use sqlx::Executor;
        with_pool!(self, p => {
            p.execute(sqlx::raw_sql(sql)).await?;
        });
        Ok(())
    }

    /// Number of rows in a table; for tests and diagnostics. `table` must be a
    /// known table name, it is not a user input.
    pub async fn count_rows(&self, table: &str) -> StoreResult<i64> {
        assert!(
            table.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "table name must be an identifier"
        );
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(with_pool!(self, p => sqlx::query_scalar(&sql).fetch_one(p).await?))
    }

    /// Table → sorted column names (with NOT NULL flag) of the application schema.
    pub async fn schema_columns(&self) -> StoreResult<Vec<(String, String, bool)>> {
        let rows: Vec<(String, String, bool)> = match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT m.name, c.name, c.\"notnull\" = 1 OR c.pk > 0 \
                     FROM sqlite_master m JOIN pragma_table_info(m.name) c \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                       AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\' \
                     ORDER BY m.name, c.name",
                )
                .fetch_all(p)
                .await?
            }
            Pool::Postgres(p) => {
                sqlx::query_as(
                    "SELECT table_name::text, column_name::text, is_nullable = 'NO' \
                     FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%' \
                     ORDER BY table_name, column_name",
                )
                .fetch_all(p)
                .await?
            }
        };
        Ok(rows)
    }
}

impl Store {
    /// (table, index, unique, partial) of the application's declared indexes, sorted;
    /// primary keys excluded.
    pub async fn schema_indexes(&self) -> StoreResult<Vec<(String, String, bool, bool)>> {
        let rows: Vec<(String, String, bool, bool)> = match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query_as(
                    "SELECT m.tbl_name, m.name, il.\"unique\" = 1, il.partial = 1 \
                     FROM sqlite_master m JOIN pragma_index_list(m.tbl_name) il ON il.name = m.name \
                     WHERE m.type = 'index' AND m.sql IS NOT NULL ORDER BY m.tbl_name, m.name",
                )
                .fetch_all(p)
                .await?
            }
            Pool::Postgres(p) => {
                sqlx::query_as(
                    "SELECT tablename::text, indexname::text, indexdef LIKE 'CREATE UNIQUE%', \
                     indexdef LIKE '% WHERE %' FROM pg_indexes \
                     WHERE schemaname = current_schema() AND indexname NOT LIKE '%\\_pkey' ESCAPE '\\' \
                       AND tablename NOT LIKE '\\_sqlx%' ESCAPE '\\' \
                     ORDER BY tablename, indexname",
                )
                .fetch_all(p)
                .await?
            }
        };
        Ok(rows)
    }
}

/// A value bound into dynamically built SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// A piece of a dynamically built SQL condition: text, or a bound value. Built by
/// engine-independent code (the SCIM filter translator) and bound per engine.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlPart {
    Sql(String),
    Bind(SqlValue),
}

/// Pushes [`SqlPart`]s onto a `QueryBuilder` of either engine.
macro_rules! push_parts {
    ($q:expr, $parts:expr) => {
        for part in $parts {
            match part {
                $crate::store::SqlPart::Sql(text) => {
                    $q.push(text.as_str());
                }
                $crate::store::SqlPart::Bind($crate::store::SqlValue::Text(v)) => {
                    $q.push_bind(v.clone());
                }
                $crate::store::SqlPart::Bind($crate::store::SqlValue::Bool(v)) => {
                    $q.push_bind(*v);
                }
                $crate::store::SqlPart::Bind($crate::store::SqlValue::Time(v)) => {
                    $q.push_bind(*v);
                }
            }
        }
    };
}
pub(crate) use push_parts;

/// A page of results and the cursor for the next one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Keyset pagination over ids (UUIDv7, so the order is creation order and stable).
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<String>,
}

impl PageRequest {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 500;

    /// Splits `limit + 1` fetched rows into a page, using `id` for the cursor.
    pub fn paginate<T>(&self, mut rows: Vec<T>, id: impl Fn(&T) -> &str) -> Page<T> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| id(r).to_string())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

impl Store {
    /// Reads a fact about this installation.
    pub async fn meta(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(with_pool!(self, p => {
            sqlx::query_scalar("SELECT value FROM instance_meta WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        }))
    }

    /// Records a fact unless one is already recorded; returns the recorded value.
    pub async fn meta_insert_once(&self, name: &str, value: &str) -> StoreResult<String> {
        with_writer!(self, p => {
            sqlx::query(
                "INSERT INTO instance_meta (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .bind(value)
            .bind(now())
            .execute(p)
            .await?;
        });
        self.meta(name).await?.ok_or(StoreError::NotFound)
    }
}

/// Makes a SQLite database file readable by its owner only: created 0600 when it
/// does not exist yet, tightened to 0600 (with a warning) when it does, with its
/// `-wal` and `-shm` files. SQLite gives those the database's mode when it creates
/// them, so this one place covers all three. Best effort: a file that cannot be
/// changed is left to SQLite, which reports what it cannot open.
fn keep_private(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // In-memory databases (sqlx names them `file:sqlx-in-memory-…`) have no file.
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
            return;
        }
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            let file = std::path::PathBuf::from(name);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                    Ok(()) => tracing::warn!(path = %file.display(),
                        "the database file was readable by others: made it 0600"),
                    Err(err) => tracing::warn!(path = %file.display(), error = %err,
                        "the database file is readable by others and could not be made 0600"),
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

impl Tx {
    /// Records a fact unless one is already recorded, in one transaction with what
    /// goes with it; returns whether this call recorded it.
    pub async fn meta_insert_once(&mut self, name: &str, value: &str) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO instance_meta (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(name)
            .bind(value)
            .bind(now())
            .execute(&mut *c)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Records a fact in this transaction, replacing any earlier value.
    pub async fn meta_put(&mut self, name: &str, value: &str) -> StoreResult<()> {
        with_tx!(self, c => {
            sqlx::query(
                "INSERT INTO instance_meta (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
            )
            .bind(name)
            .bind(value)
            .bind(now())
            .execute(&mut *c)
            .await?;
        });
        Ok(())
    }

    /// Forgets a fact in this transaction if it still holds `value`; whether it did.
    pub async fn meta_delete_if(&mut self, name: &str, value: &str) -> StoreResult<bool> {
        let done = with_tx!(self, c => {
            sqlx::query("DELETE FROM instance_meta WHERE name = $1 AND value = $2")
                .bind(name)
                .bind(value)
                .execute(&mut *c)
                .await?
                .rows_affected()
        });
        Ok(done == 1)
    }
}
