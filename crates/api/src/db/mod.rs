//! Database access: the connection pool, the embedded migrations, and the one helper
//! that moves blocking Diesel work off the async workers.

use std::time::Duration;

use actix_web::web;
use anyhow::Context;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;
use crate::error::ApiError;

pub mod conversations;
pub mod emojis;
pub mod events;
pub mod health;
pub mod messages;
pub mod models;
pub mod settings;
pub mod users;

pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// The advisory lock held while migrating ("natmig").
const MIGRATION_LOCK: i64 = 0x6e61_746d_6967;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Connects once (so that an unreachable database is reported with its real cause),
/// applies pending migrations, and builds the pool.
pub fn connect_and_migrate(
    url: &DatabaseUrl,
    pool_size: u32,
    timeout: Duration,
) -> anyhow::Result<PgPool> {
    let mut conn = PgConnection::establish(url.expose()).with_context(|| {
        format!("cannot connect to PostgreSQL at DATABASE_URL={url}; set DATABASE_URL to a reachable database")
    })?;
    // Nodes started together on a fresh database would race to create the same
    // tables: one migrates while the others wait, then find nothing left to do.
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect::<Vec<_>>())
        .map_err(|error| anyhow::anyhow!("running database migrations failed: {error}"));
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let applied = applied?;
    for migration in &applied {
        tracing::info!(%migration, "applied migration");
    }
    Ok(Pool::builder()
        .max_size(pool_size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        // Connections are made on demand, so a database outage after start-up makes
        // requests answer 503 instead of stopping the server.
        .build_unchecked(ConnectionManager::new(url.expose())))
}

/// Runs `f` with a pooled connection on the blocking thread pool.
pub async fn run<T, F>(pool: &PgPool, f: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    web::block(move || {
        let mut conn = pool
            .get()
            .map_err(|error| ApiError::Unavailable(error.to_string()))?;
        f(&mut conn)
    })
    .await
    .map_err(|error| ApiError::Internal(error.into()))?
}
