//! SQLite's one writer, with group commit.
//!
//! SQLite admits one write transaction at a time, and a commit is durable only once it
//! is flushed to disk (`synchronous = FULL`: one fsync per commit). The writers of this
//! process queue here, in order, for the one connection that writes; none busy-waits
//! for SQLite's lock. Each writer's work runs in a savepoint inside a *group*
//! transaction. When a writer commits, its savepoint is released and, if other writers
//! are queued behind it, it hands the connection on and waits: the last of the queue
//! commits the group, with one flush for all of them, and only then is each member told
//! that it succeeded. So nobody is answered before their own write is durable, and a
//! burst of writers pays for one flush instead of one each.
//!
//! A writer that gives up (its transaction dropped without commit, a cancelled request)
//! only marks its savepoint abandoned: whoever takes the connection next rolls it back
//! first, which undoes that writer's work and nothing of the others'. If the group
//! itself fails (SQLite rolls a whole transaction back on a full disk or an I/O error),
//! every member waiting for it is told so, and none of them was acknowledged.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::ConnectOptions;
use tokio::sync::{oneshot, Mutex, OwnedMutexGuard};

use super::{StoreError, StoreResult};

/// How long a writer waits for the connection before it gives up with a retryable
/// error (the same bound as PostgreSQL's `lock_timeout`).
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// A group older than this commits when a member finishes even if others are queued,
/// so that a long queue cannot hold its first members' answers back.
const MAX_GROUP_AGE: Duration = Duration::from_millis(20);

/// Nor does a group take more members than this before it commits.
const MAX_GROUP_MEMBERS: usize = 64;

/// Every write statement of the service runs on this one connection, so its cache of
/// prepared statements holds them all (sqlx's default keeps 100).
const STATEMENT_CACHE: usize = 1024;

/// The queue of this process's writers and the connection they share.
#[derive(Clone)]
pub(crate) struct Writer {
    conn: Arc<Mutex<WriterConn>>,
    /// Writers that hold or wait for the connection: a member that commits with none
    /// left behind it commits the group.
    queued: Arc<AtomicUsize>,
    max_group_age: Duration,
    /// Groups committed, for tests.
    #[cfg(test)]
    commits: Arc<AtomicUsize>,
}

struct WriterConn {
    conn: SqliteConnection,
    #[cfg(test)]
    commits: Arc<AtomicUsize>,
    group: Option<Group>,
    /// The last holder left inside its savepoint.
    abandoned: bool,
}

/// The open group transaction.
struct Group {
    started: Instant,
    /// Members whose work is in the group, waiting for its commit.
    waiting: Vec<oneshot::Sender<Result<(), String>>>,
}

/// One writer's hold on the connection, inside its savepoint. Derefs to the
/// connection; dropping it without [`commit`](Self::commit) undoes its work.
pub(crate) struct WriterTx {
    held: Option<OwnedMutexGuard<WriterConn>>,
    place: Place,
}

/// A writer's place in the queue, given up exactly once (also when the writer's
/// future is dropped while it waits).
struct Place {
    writer: Writer,
    left: bool,
}

impl Writer {
    pub(crate) async fn connect(options: &SqliteConnectOptions) -> StoreResult<Self> {
        let conn = options
            .clone()
            .statement_cache_capacity(STATEMENT_CACHE)
            .connect()
            .await?;
        #[cfg(test)]
        let commits = Arc::<AtomicUsize>::default();
        Ok(Self {
            conn: Arc::new(Mutex::new(WriterConn {
                conn,
                #[cfg(test)]
                commits: commits.clone(),
                group: None,
                abandoned: false,
            })),
            queued: Arc::default(),
            max_group_age: MAX_GROUP_AGE,
            #[cfg(test)]
            commits,
        })
    }

    /// Waits (in order) for the connection and opens this writer's savepoint.
    pub(crate) async fn begin(&self) -> StoreResult<WriterTx> {
        self.queued.fetch_add(1, Ordering::SeqCst);
        let place = Place {
            writer: self.clone(),
            left: false,
        };
        let Ok(mut held) =
            tokio::time::timeout(QUEUE_TIMEOUT, self.conn.clone().lock_owned()).await
        else {
            return Err(StoreError::Db(sqlx::Error::PoolTimedOut));
        };
        held.clean_up().await;
        if held.group.is_none() {
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut held.conn)
                .await?;
            held.group = Some(Group {
                started: Instant::now(),
                waiting: Vec::new(),
            });
        }
        // Marked first: if this future is dropped while the statement runs, the next
        // holder still knows a savepoint may be open.
        held.abandoned = true;
        sqlx::query("SAVEPOINT member")
            .execute(&mut held.conn)
            .await?;
        held.abandoned = false;
        Ok(WriterTx {
            held: Some(held),
            place,
        })
    }

    /// Commits the open group unless a queued writer will extend it.
    async fn flush(&self) {
        let mut held = self.conn.lock().await;
        held.clean_up().await;
        if self.queued.load(Ordering::SeqCst) == 0 {
            held.commit_group().await.ok();
        }
    }
}

impl Place {
    /// Leaves the queue; true when this was the last writer in it.
    fn leave(&mut self) -> bool {
        !std::mem::replace(&mut self.left, true)
            && self.writer.queued.fetch_sub(1, Ordering::SeqCst) == 1
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        // The last writer left without committing: nobody else would commit the open
        // group (other members may be waiting for it), so a task does.
        if self.leave() {
            let writer = self.writer.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { writer.flush().await });
            }
        }
    }
}

impl WriterConn {
    /// Undoes what an abandoned holder left, and notices a transaction that SQLite
    /// ended by itself (a later savepoint would silently open a new one).
    async fn clean_up(&mut self) {
        if std::mem::take(&mut self.abandoned) {
            if let Err(err) = self.undo_member().await {
                self.fail_group(&err.to_string()).await;
            }
        }
        match (self.group.is_some(), self.in_transaction().await) {
            (true, false) => {
                self.fail_group("the database rolled the transaction back")
                    .await
            }
            // Left by a holder dropped while it opened the group.
            (false, true) => {
                sqlx::query("ROLLBACK").execute(&mut self.conn).await.ok();
            }
            _ => {}
        }
    }

    async fn undo_member(&mut self) -> Result<(), sqlx::Error> {
        match sqlx::query("ROLLBACK TO member")
            .execute(&mut self.conn)
            .await
        {
            Ok(_) => {}
            // The holder was dropped before its savepoint opened: nothing to undo.
            Err(err) if err.to_string().contains("no such savepoint") => return Ok(()),
            Err(err) => return Err(err),
        }
        sqlx::query("RELEASE member")
            .execute(&mut self.conn)
            .await?;
        Ok(())
    }

    async fn in_transaction(&mut self) -> bool {
        match self.conn.lock_handle().await {
            // SAFETY: the handle is a live connection, locked for the duration of the
            // call, and sqlite3_get_autocommit only reads its state.
            Ok(mut handle) => unsafe {
                libsqlite3_sys::sqlite3_get_autocommit(handle.as_raw_handle().as_ptr()) == 0
            },
            Err(_) => false,
        }
    }

    /// Commits the group (one flush for all its members) and answers them.
    async fn commit_group(&mut self) -> Result<(), String> {
        let Some(group) = self.group.take() else {
            return Ok(());
        };
        let outcome = match sqlx::query("COMMIT").execute(&mut self.conn).await {
            Ok(_) => {
                #[cfg(test)]
                self.commits.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(err) => {
                sqlx::query("ROLLBACK").execute(&mut self.conn).await.ok();
                Err(err.to_string())
            }
        };
        for member in group.waiting {
            member.send(outcome.clone()).ok();
        }
        outcome
    }

    /// Rolls the group back and tells its members their writes were not made.
    async fn fail_group(&mut self, why: &str) {
        if let Some(group) = self.group.take() {
            tracing::warn!(error = why, "a group of SQLite writes failed");
            sqlx::query("ROLLBACK").execute(&mut self.conn).await.ok();
            for member in group.waiting {
                member.send(Err(why.to_string())).ok();
            }
        }
    }
}

impl WriterTx {
    /// Adds this writer's work to the group and returns once the group holding it is
    /// committed: the work is durable then.
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        let held = self.held.as_mut().expect("held until commit or drop");
        sqlx::query("RELEASE member")
            .execute(&mut held.conn)
            .await?;
        let mut held = self.held.take().expect("held until commit or drop");
        let last = self.place.leave();
        let group = held.group.as_mut().expect("a member is inside a group");
        let full = group.started.elapsed() >= self.place.writer.max_group_age
            || group.waiting.len() + 1 >= MAX_GROUP_MEMBERS;
        let outcome = if last || full {
            // In a task of its own: a caller that goes away mid-commit (a cancelled
            // request) must not leave the group half-answered.
            tokio::spawn(async move { held.commit_group().await })
                .await
                .unwrap_or_else(|_| Err("the commit panicked".into()))
        } else {
            let (answer, answered) = oneshot::channel();
            group.waiting.push(answer);
            drop(held);
            answered
                .await
                .unwrap_or_else(|_| Err("the group was abandoned".into()))
        };
        outcome.map_err(|why| {
            // Nothing of this writer's work was made: the same request can be retried.
            StoreError::Db(sqlx::Error::Io(std::io::Error::other(format!(
                "the group commit failed: {why}"
            ))))
        })
    }
}

impl Drop for WriterTx {
    fn drop(&mut self) {
        if let Some(mut held) = self.held.take() {
            held.abandoned = true;
        }
        // Then `place` is dropped, leaving the queue.
    }
}

impl Deref for WriterTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.held.as_ref().expect("held until commit or drop").conn
    }
}

impl DerefMut for WriterTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.held.as_mut().expect("held until commit or drop").conn
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::{Connection, Executor};

    use super::*;

    struct Fixture {
        writer: Writer,
        url: String,
        _dir: tempfile::TempDir,
    }

    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut writer = Writer::connect(&options).await.unwrap();
        // Whatever the machine's speed, groups here end only when their queue does.
        writer.max_group_age = Duration::MAX;
        let mut setup = SqliteConnection::connect(&url).await.unwrap();
        setup
            .execute("CREATE TABLE rows (name TEXT PRIMARY KEY)")
            .await
            .unwrap();
        Fixture {
            writer,
            url,
            _dir: dir,
        }
    }

    impl Fixture {
        /// The rows another connection sees: what was committed.
        async fn committed(&self) -> Vec<String> {
            let mut reader = SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar("SELECT name FROM rows ORDER BY name")
                .fetch_all(&mut reader)
                .await
                .unwrap()
        }

        fn commits(&self) -> usize {
            self.writer.commits.load(Ordering::SeqCst)
        }

        /// Waits until `n` writers hold or wait for the connection.
        async fn queued(&self, n: usize) {
            while self.writer.queued.load(Ordering::SeqCst) != n {
                tokio::task::yield_now().await;
            }
        }
    }

    /// A first writer that inserted "a" and committed while a second, which inserted
    /// "b", was queued behind it: the first's commit (waiting on the group) and the
    /// second, which holds the connection now.
    async fn two_in_one_group(f: &Fixture) -> (tokio::task::JoinHandle<StoreResult<()>>, WriterTx) {
        let mut first = f.writer.begin().await.unwrap();
        insert(&mut first, "a").await;
        let writer = f.writer.clone();
        let second = tokio::spawn(async move {
            let mut tx = writer.begin().await.unwrap();
            insert(&mut tx, "b").await;
            tx
        });
        f.queued(2).await;
        let first_commit = tokio::spawn(first.commit());
        (first_commit, second.await.unwrap())
    }

    async fn insert(tx: &mut WriterTx, name: &str) {
        sqlx::query("INSERT INTO rows (name) VALUES ($1)")
            .bind(name)
            .execute(&mut **tx)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_lone_writer_commits_at_once() {
        let f = fixture().await;
        let mut tx = f.writer.begin().await.unwrap();
        insert(&mut tx, "a").await;
        tx.commit().await.unwrap();
        assert_eq!(f.committed().await, ["a"]);
        assert_eq!(f.commits(), 1);
    }

    #[tokio::test]
    async fn a_writer_with_others_queued_behind_it_is_answered_with_their_commit() {
        let f = fixture().await;
        let (first_commit, second) = two_in_one_group(&f).await;
        // The first writer's work is in the open group, not yet durable: not answered.
        assert!(!first_commit.is_finished());
        assert!(f.committed().await.is_empty());
        second.commit().await.unwrap();
        first_commit.await.unwrap().unwrap();
        assert_eq!(f.committed().await, ["a", "b"]);
        assert_eq!(f.commits(), 1, "one commit for both writers");
    }

    #[tokio::test]
    async fn a_writer_that_gives_up_undoes_only_its_own_work() {
        let f = fixture().await;
        let (first_commit, second) = two_in_one_group(&f).await;
        drop(second);
        // Nobody is left in the queue: the group is committed without its last member.
        first_commit.await.unwrap().unwrap();
        assert_eq!(f.committed().await, ["a"]);

        let mut next = f.writer.begin().await.unwrap();
        insert(&mut next, "c").await;
        next.commit().await.unwrap();
        assert_eq!(f.committed().await, ["a", "c"]);
    }

    #[tokio::test]
    async fn a_writer_cancelled_while_it_waits_leaves_the_queue() {
        let f = fixture().await;
        let mut first = f.writer.begin().await.unwrap();
        insert(&mut first, "a").await;
        let waiting = tokio::spawn({
            let writer = f.writer.clone();
            async move { writer.begin().await.map(drop) }
        });
        f.queued(2).await;
        waiting.abort();
        f.queued(1).await;
        first.commit().await.unwrap();
        assert_eq!(f.committed().await, ["a"]);
    }

    #[tokio::test]
    async fn when_the_database_ends_the_group_every_waiting_member_is_told_it_failed() {
        let f = fixture().await;
        let (first_commit, mut second) = two_in_one_group(&f).await;
        // What SQLite does by itself on a full disk or an I/O error: the whole
        // transaction is gone.
        sqlx::query("ROLLBACK").execute(&mut *second).await.unwrap();
        assert!(second.commit().await.is_err());
        assert!(first_commit.await.unwrap().is_err());
        assert!(f.committed().await.is_empty());

        // The writer goes on.
        let mut next = f.writer.begin().await.unwrap();
        insert(&mut next, "c").await;
        next.commit().await.unwrap();
        assert_eq!(f.committed().await, ["c"]);
    }
}
