//! Database access: PostgreSQL or SQLite behind one Diesel `MultiConnection`, the
//! pool, the embedded migrations of each backend, and the helpers that move blocking
//! Diesel work off the async workers.
//!
//! SQLite takes one writer at a time. Writes go through [`write`], which queues them
//! on one lock in this process and starts them with `BEGIN IMMEDIATE`, so concurrent
//! sends wait their turn instead of failing with "database is locked"; readers never
//! wait for writers (WAL).
//!
//! On PostgreSQL, sends go to the node's send writer instead, which commits the sends
//! waiting at once together (see [`sends`]).

use std::fs::File;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::web;
use anyhow::Context;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;
use crate::error::ApiError;

pub mod conversations;
pub mod copy;
pub mod emojis;
pub mod events;
pub mod health;
pub mod messages;
pub mod models;
pub mod prepared;
pub mod sends;
pub mod settings;
pub mod users;

/// A connection to either backend. Queries written once with Diesel's DSL run on
/// both; the few that differ match on it (see [`per_backend`]).
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection, for statements
/// `MultiConnection` cannot express (upserts): the same code, compiled per backend.
macro_rules! per_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// The database's clock as a UTC timestamp, written as the columns' defaults are.
pub trait DatabaseNow {
    const NOW: &'static str;
}

impl DatabaseNow for PgConnection {
    const NOW: &'static str = "(now() AT TIME ZONE 'UTC')";
}

impl DatabaseNow for SqliteConnection {
    const NOW: &'static str = "(strftime('%Y-%m-%d %H:%M:%f', 'now'))";
}

/// `now` in the SQL of `conn`'s backend (for use inside [`per_backend!`]).
pub fn database_now<C: DatabaseNow>(
    _conn: &mut C,
) -> diesel::expression::SqlLiteral<diesel::sql_types::Timestamp> {
    diesel::dsl::sql(C::NOW)
}

/// The pool, plus (on SQLite) the one path writers take.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    /// Shared, so that cloning a `Db` for each write stays cheap.
    url: Arc<DatabaseUrl>,
    sqlite: Option<Arc<SqliteWriter>>,
    /// On PostgreSQL, where sends are written in groups.
    sends: Option<sends::SendQueue>,
}

struct SqliteWriter {
    /// Writers take their turn here.
    turn: Mutex<()>,
    /// Held while this process runs: a second node on the same file is refused.
    _lock: File,
}

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The advisory lock held while migrating ("natmig").
const MIGRATION_LOCK: i64 = 0x6e61_746d_6967;

/// How long a SQLite statement waits for a lock held by another connection (a
/// checkpoint, the event pruner, an operator's sqlite3 shell) before failing.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// Opens connections by the URL's scheme (the derived `establish` would try every
/// backend in turn and hide the real error), and tunes each SQLite connection.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
}

/// How long a connection that just answered is taken as alive without a ping at
/// checkout (the bypass window of HikariCP's validation, and its default length). A
/// `SELECT 1` on every checkout was a round trip on top of each request's own.
const TRUSTED_FOR: Duration = Duration::from_millis(500);

/// A pooled connection, and until when it is trusted without a ping.
pub struct Pooled {
    conn: DbConnection,
    trusted_until: Option<Instant>,
}

impl Pooled {
    /// Records how a use ended: after an error the connection may be dead, so the
    /// next checkout pings it (and the pool replaces it if the ping fails).
    fn used(&mut self, ok: bool) {
        self.trusted_until = ok.then(|| Instant::now() + TRUSTED_FOR);
    }
}

impl Deref for Pooled {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
        Ok(Pooled {
            conn,
            trusted_until: Some(Instant::now() + TRUSTED_FOR),
        })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), r2d2::Error> {
        if pooled
            .trusted_until
            .is_some_and(|until| Instant::now() < until)
        {
            return Ok(());
        }
        let answered = pooled.conn.ping().map_err(r2d2::Error::QueryError);
        pooled.used(answered.is_ok());
        answered
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        std::thread::panicking() || pooled.conn.is_broken()
    }
}

/// One connection by the URL's scheme; SQLite's tuned as described above.
pub fn establish(url: &DatabaseUrl) -> ConnectionResult<DbConnection> {
    match url {
        DatabaseUrl::Postgres(url) => PgConnection::establish(url).map(DbConnection::Pg),
        DatabaseUrl::Sqlite(path) => {
            let path = path.to_str().ok_or_else(|| {
                ConnectionError::BadConnection("the SQLite path is not UTF-8".into())
            })?;
            let mut conn = SqliteConnection::establish(path)?;
            // WAL: readers never wait for the writer. synchronous=FULL: a commit is on
            // disk before it is acknowledged, as with PostgreSQL's default.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
                 PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = FULL; \
                 PRAGMA foreign_keys = ON;"
            ))
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// Connects once (so that an unreachable database is reported with its real cause),
/// applies pending migrations, and builds the pool.
pub fn connect_and_migrate(
    url: &DatabaseUrl,
    pool_size: u32,
    timeout: Duration,
) -> anyhow::Result<Db> {
    let sqlite = match url {
        DatabaseUrl::Postgres(_) => {
            migrate_postgres(url)?;
            None
        }
        DatabaseUrl::Sqlite(path) => {
            let lock = lock_sqlite_file(path)?;
            migrate_sqlite(url)?;
            Some(Arc::new(SqliteWriter {
                turn: Mutex::new(()),
                _lock: lock,
            }))
        }
    };
    let pool = Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        // Connections are made on demand, so a database outage after start-up makes
        // requests answer 503 instead of stopping the server.
        .build_unchecked(Manager { url: url.clone() });
    let sends = match url {
        DatabaseUrl::Postgres(_) => {
            Some(sends::SendQueue::start(&pool).context("cannot start the send writer")?)
        }
        DatabaseUrl::Sqlite(_) => None,
    };
    Ok(Db {
        pool,
        url: Arc::new(url.clone()),
        sqlite,
        sends,
    })
}

pub(crate) fn migrate_postgres(url: &DatabaseUrl) -> anyhow::Result<()> {
    let conn = establish(url).with_context(|| {
        format!("cannot connect to PostgreSQL at DATABASE_URL={url}; set DATABASE_URL to a reachable database")
    })?;
    let DbConnection::Pg(mut conn) = conn else {
        anyhow::bail!("{url} did not open a PostgreSQL connection");
    };
    // Nodes started together on a fresh database would race to create the same
    // tables: one migrates while the others wait, then find nothing left to do.
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let applied = apply(&mut conn, PG_MIGRATIONS);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
    applied
}

pub(crate) fn migrate_sqlite(url: &DatabaseUrl) -> anyhow::Result<()> {
    let conn = establish(url).with_context(|| format!("cannot open the SQLite database {url}"))?;
    let DbConnection::Sqlite(mut conn) = conn else {
        anyhow::bail!("{url} did not open a SQLite connection");
    };
    apply(&mut conn, SQLITE_MIGRATIONS)
}

/// Applies pending `migrations` and logs each one applied.
fn apply<B: diesel::backend::Backend>(
    conn: &mut impl MigrationHarness<B>,
    migrations: EmbeddedMigrations,
) -> anyhow::Result<()> {
    let applied = conn
        .run_pending_migrations(migrations)
        .map_err(|error| anyhow::anyhow!("running database migrations failed: {error}"))?;
    for migration in applied {
        tracing::info!(%migration, "applied migration");
    }
    Ok(())
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

impl Db {
    /// A pooled connection, for start-up work.
    pub fn get(&self) -> Result<r2d2::PooledConnection<Manager>, r2d2::PoolError> {
        self.pool.get()
    }

    /// Where sends go on PostgreSQL (see [`sends`]); `None` on SQLite.
    pub fn send_queue(&self) -> Option<&sends::SendQueue> {
        self.sends.as_ref()
    }

    /// A connection of its own, outside the pool (the event listener keeps one).
    pub fn establish(&self) -> ConnectionResult<DbConnection> {
        establish(&self.url)
    }

    /// Runs `f` as this node's only SQLite writer, in a `BEGIN IMMEDIATE`
    /// transaction; on PostgreSQL just runs it. Blocking: call on a blocking thread.
    pub fn write_blocking<T, E>(
        &self,
        conn: &mut DbConnection,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        let result = match &self.sqlite {
            None => f(conn),
            Some(writer) => {
                let _turn = writer.turn.lock().unwrap_or_else(PoisonError::into_inner);
                immediate_transaction(conn, f)
            }
        };
        if result.is_ok() {
            events::wrote_events();
        }
        result
    }
}

/// `BEGIN IMMEDIATE` takes SQLite's write lock up front, so a transaction that reads
/// before it writes can never find its snapshot stale when it comes to write.
fn immediate_transaction<T, E>(
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

/// Whether a use that answered `result` leaves its connection trusted: refusals (404,
/// 422, ...) say nothing about the connection; other errors may.
fn leaves_connection_sound<T>(result: &Result<T, ApiError>) -> bool {
    !matches!(
        result,
        Err(ApiError::Unavailable(_) | ApiError::Internal(_))
    )
}

/// Runs `f`, which only reads, with a pooled connection on the blocking thread pool.
pub async fn read<T, F>(db: &Db, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = db.pool.clone();
    web::block(move || {
        let mut conn = pool
            .get()
            .map_err(|error| ApiError::Unavailable(error.to_string()))?;
        let result = f(&mut conn);
        conn.used(leaves_connection_sound(&result));
        result
    })
    .await
    .map_err(|error| ApiError::Internal(error.into()))?
}

/// Runs `f`, which writes, like [`read`] but as a writer (see [`Db::write_blocking`]).
pub async fn write<T, F>(db: &Db, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let writer = db.clone();
    read(db, move |conn| writer.write_blocking(conn, f)).await
}
