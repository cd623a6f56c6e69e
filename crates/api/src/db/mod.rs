//! Database access: PostgreSQL or SQLite behind one Diesel `MultiConnection`. Plain
//! functions per resource take a connection and answer a [`DbResult`]; [`pool`] runs
//! them off the async workers, [`migrations`] applies the schema, [`sqlite`] keeps
//! SQLite to one writer and one node, [`clock`] is the one way time is written.
//!
//! Every rule of a send is in [`messages::send`], where a node's concurrent sends are
//! committed together by one writer.

use diesel::prelude::*;

pub mod accounts;
pub mod attachments;
pub mod channels;
pub mod clock;
pub mod conversations;
pub mod copy;
pub mod emojis;
pub mod error;
pub mod events;
pub mod health;
pub mod messages;
pub mod migrations;
pub mod models;
pub mod pool;
pub mod prepared;
pub mod presence;
pub mod push;
pub mod settings;
pub mod sqlite;
pub mod throttle;
pub mod users;

pub use error::{DbError, DbResult, Refusal};
pub use migrations::{PG_MIGRATIONS, SQLITE_MIGRATIONS};
pub use pool::{Db, Manager, establish, read, write};

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
