//! The PostgreSQL NOTIFY channels nodes speak on. Each is only a wake-up: the tables
//! are the truth, and a node that misses one finds the same at its next tick.

/// The stamper gave events their stream positions: read them (no payload).
pub const EVENTS: &str = "natter_events";
/// A node wrote events: the stamping node should pass now (no payload).
pub const STAMP: &str = "natter_stamp";
/// A session was revoked: end its streams (payload: the session id).
pub const REVOKED: &str = "natter_revoked";

/// Someone is typing (payload: the `typing` event's JSON): every node hands it to
/// its streams. Never stored.
pub const TYPING: &str = "natter_typing";

/// Presence changed (payload: `[[person, "online"|"away"|"offline"], …]`, from the
/// leading node): every node hands them to its streams. Never stored.
pub const PRESENCE: &str = "natter_presence";

/// Every channel a node listens on.
pub const ALL: [&str; 5] = [EVENTS, STAMP, REVOKED, TYPING, PRESENCE];

/// Sends `payload` on `channel` to every node (PostgreSQL; on SQLite there is no
/// other node, and this does nothing).
pub fn notify(
    conn: &mut crate::db::DbConnection,
    channel: &str,
    payload: &str,
) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    if let crate::db::DbConnection::Pg(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(channel)
            .bind::<diesel::sql_types::Text, _>(payload)
            .execute(pg)?;
    }
    Ok(())
}
