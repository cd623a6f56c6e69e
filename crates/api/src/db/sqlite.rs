//! What SQLite needs that PostgreSQL does not: one node per file (a lock file), one
//! writer at a time in this process, and `BEGIN IMMEDIATE` transactions.
//!
//! SQLite takes one writer at a time. Writes go through [`crate::db::write`], which
//! queues them on one lock in this process and starts them with `BEGIN IMMEDIATE`, so
//! concurrent sends wait their turn instead of failing with "database is locked";
//! readers never wait for writers (WAL).

use std::fs::File;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use diesel::connection::{AnsiTransactionManager, TransactionManager};

use crate::db::DbConnection;

/// How long a SQLite statement waits for a lock held by another connection (a
/// checkpoint, the event pruner, an operator's sqlite3 shell) before failing.
pub(crate) const BUSY_TIMEOUT_MS: u32 = 5_000;

/// The one path this process's SQLite writers take.
pub(crate) struct SqliteWriter {
    /// Writers take their turn here.
    turn: Mutex<()>,
    /// Held while this process runs: a second node on the same file is refused.
    _lock: File,
}

impl SqliteWriter {
    /// Takes the lock that keeps a second natter off the file at `path`.
    pub(crate) fn for_file(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            turn: Mutex::new(()),
            _lock: lock_sqlite_file(path)?,
        })
    }

    /// Runs `f` as this process's only writer, in a `BEGIN IMMEDIATE` transaction.
    pub(crate) fn write<T, E>(
        &self,
        conn: &mut DbConnection,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        let _turn = self.turn.lock().unwrap_or_else(PoisonError::into_inner);
        immediate_transaction(conn, f)
    }
}

/// Creates the database's directory and takes the lock that keeps a second natter
/// off the same file: SQLite serves one node; several need PostgreSQL.
pub(crate) fn lock_sqlite_file(path: &Path) -> anyhow::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    // A separate file: SQLite's own locks on the database file must not be touched.
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".natter-lock");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", Path::new(&lock_path).display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another natter is already serving the SQLite database {}. SQLite serves one \
             node; to run several nodes, move to PostgreSQL (see the README) and give every \
             node the same postgres:// DATABASE_URL",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock {}", Path::new(&lock_path).display()))
        }
    }
}

/// `BEGIN IMMEDIATE` takes SQLite's write lock up front, so a transaction that reads
/// before it writes can never find its snapshot stale when it comes to write.
pub(crate) fn immediate_transaction<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let DbConnection::Sqlite(sqlite) = conn else {
        return f(conn);
    };
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    let result = f(conn);
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("the connection's backend does not change");
    };
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(sqlite) {
                tracing::error!(%rollback, "rolling back a failed write failed");
            }
            Err(error)
        }
    }
}
