//! The pool of connections, and the helpers that move blocking Diesel work off the
//! async workers: [`read`], and [`write`], which on SQLite takes the one writer's
//! turn (see [`crate::db::sqlite`]).

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, Pool, R2D2Connection};

use crate::config::DatabaseUrl;
use crate::db::error::{DbError, DbResult};
use crate::db::messages::send::SendQueue;
use crate::db::migrations::{migrate_postgres, migrate_sqlite};
use crate::db::sqlite::{self, SqliteWriter};
use crate::db::{DbConnection, events};

/// The pool, plus (on SQLite) the one path writers take.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    /// Shared, so that cloning a `Db` for each write stays cheap.
    url: Arc<DatabaseUrl>,
    sqlite: Option<Arc<SqliteWriter>>,
    /// Where sends go, to be written in groups (`None` only in the writer's own copy).
    sends: Option<SendQueue>,
}

/// Opens connections by the URL's scheme (the derived `establish` would try every
/// backend in turn and hide the real error), and tunes each SQLite connection.
#[derive(Debug)]
pub struct Manager {
    url: DatabaseUrl,
    /// Run on each new PostgreSQL connection (session settings).
    session: Option<&'static str>,
}

impl Manager {
    pub(crate) fn new(url: DatabaseUrl, session: Option<&'static str>) -> Self {
        Self { url, session }
    }
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
    /// Records how a use ended: after an error that may mean the connection is dead
    /// (not `sound`), the next checkout pings it (and the pool replaces it if the ping
    /// fails).
    pub(crate) fn used(&mut self, sound: bool) {
        self.trusted_until = sound.then(|| Instant::now() + TRUSTED_FOR);
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
        let mut conn = establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
        if let (Some(session), DbConnection::Pg(pg)) = (self.session, &mut conn) {
            pg.batch_execute(session).map_err(r2d2::Error::QueryError)?;
        }
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
        let answered = pooled.conn.ping();
        pooled.used(answered.is_ok());
        answered.map_err(r2d2::Error::QueryError)
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
                "PRAGMA busy_timeout = {}; \
                 PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = FULL; \
                 PRAGMA foreign_keys = ON;",
                sqlite::BUSY_TIMEOUT_MS
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
            let writer = SqliteWriter::for_file(path)?;
            migrate_sqlite(url)?;
            Some(Arc::new(writer))
        }
    };
    let pool = Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        // Connections are made on demand, so a database outage after start-up makes
        // requests answer 503 instead of stopping the server.
        .build_unchecked(Manager::new(url.clone(), None));
    let mut db = Db {
        pool,
        url: Arc::new(url.clone()),
        sqlite,
        sends: None,
    };
    db.sends = Some(SendQueue::start(db.clone(), url, timeout)?);
    Ok(db)
}

impl Db {
    /// A pooled connection, for start-up work.
    pub fn get(&self) -> Result<r2d2::PooledConnection<Manager>, r2d2::PoolError> {
        self.pool.get()
    }

    /// The pool's connections and how many of them are idle.
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// Whether this is PostgreSQL (else SQLite).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(*self.url, DatabaseUrl::Postgres(_))
    }

    /// Where sends go (see [`crate::db::messages::send`]).
    pub(crate) fn send_queue(&self) -> Option<&SendQueue> {
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
            Some(writer) => writer.write(conn, f),
        };
        if result.is_ok() {
            events::wrote_events();
        }
        result
    }
}

/// Runs `f`, which only reads, with a pooled connection on the blocking thread pool.
pub async fn read<T, F>(db: &Db, f: F) -> DbResult<T>
where
    F: FnOnce(&mut DbConnection) -> DbResult<T> + Send + 'static,
    T: Send + 'static,
{
    let pool = db.pool.clone();
    web::block(move || {
        let waited = Instant::now();
        let conn = pool.get();
        metrics::histogram!(crate::metrics::POOL_WAIT).record(waited.elapsed().as_secs_f64());
        let mut conn = conn.inspect_err(|_| {
            metrics::counter!(crate::metrics::POOL_TIMEOUTS).increment(1);
        })?;
        let result = f(&mut conn);
        conn.used(
            result
                .as_ref()
                .err()
                .is_none_or(DbError::leaves_connection_sound),
        );
        result
    })
    .await?
}

/// Runs `f`, which writes, like [`read`] but as a writer (see [`Db::write_blocking`]).
pub async fn write<T, F>(db: &Db, f: F) -> DbResult<T>
where
    F: FnOnce(&mut DbConnection) -> DbResult<T> + Send + 'static,
    T: Send + 'static,
{
    let writer = db.clone();
    read(db, move |conn| writer.write_blocking(conn, f)).await
}
