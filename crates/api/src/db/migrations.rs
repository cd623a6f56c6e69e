//! The embedded migrations of each backend, applied at start-up.

use anyhow::Context;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::DatabaseUrl;
use crate::db::{DbConnection, establish};

pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// The advisory lock held while migrating ("natmig").
const MIGRATION_LOCK: i64 = 0x6e61_746d_6967;

/// Applies pending PostgreSQL migrations. Nodes started together on a fresh database
/// would race to create the same tables: one migrates under an advisory lock while
/// the others wait, then find nothing left to do.
pub(crate) fn migrate_postgres(url: &DatabaseUrl) -> anyhow::Result<()> {
    let conn = establish(url).with_context(|| {
        format!("cannot connect to PostgreSQL at DATABASE_URL={url}; set DATABASE_URL to a reachable database")
    })?;
    let DbConnection::Pg(mut conn) = conn else {
        anyhow::bail!("{url} did not open a PostgreSQL connection");
    };
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let applied = apply(&mut conn, PG_MIGRATIONS);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
    applied
}

/// Applies pending SQLite migrations (the caller holds the file's lock: one node).
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
