//! The event log, written in the same transaction as the change it describes.

use std::sync::atomic::AtomicBool;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use natter_domain::event::Event;

use crate::db::DbConnection;
use crate::db::models::NewEvent;
use crate::schema::{chat_conversations, chat_events};

/// Appends `event` to its conversation's log at the next position. The `UPDATE ...
/// RETURNING` takes the conversation row's lock until commit, so a conversation's
/// events commit in position order and a reader never sees a gap being filled later.
/// `subject` names a person the event concerns who may not be a member (any more).
///
/// On SQLite the event also gets its stream position here: writers run one at a
/// time, so positions are taken in commit order and no stamper is needed.
pub fn append(
    conn: &mut DbConnection,
    conversation_id: i64,
    subject: Option<i64>,
    event: &Event,
) -> anyhow::Result<()> {
    let seq: i64 = diesel::update(chat_conversations::table.find(conversation_id))
        .set(chat_conversations::last_event_seq.eq(chat_conversations::last_event_seq + 1))
        .returning(chat_conversations::last_event_seq)
        .get_result(conn)?;
    append_numbered(conn, conversation_id, seq, subject, event)
}

/// Like [`append`], for a caller that already took `seq`, the conversation's next
/// event number, in this transaction.
pub fn append_numbered(
    conn: &mut DbConnection,
    conversation_id: i64,
    seq: i64,
    subject: Option<i64>,
    event: &Event,
) -> anyhow::Result<()> {
    let payload = serde_json::to_string(event)?;
    let kind = serde_json::to_value(event)?
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    let position = match conn {
        DbConnection::Pg(_) => None,
        DbConnection::Sqlite(_) => Some(head(conn)? + 1),
    };
    diesel::insert_into(chat_events::table)
        .values(NewEvent {
            conversation_id,
            seq,
            kind: &kind,
            subject_user_id: subject,
            payload: &payload,
            position,
        })
        .execute(conn)?;
    Ok(())
}

/// A process-wide hint that this node committed a write (set by [`crate::db::write`]),
/// so its stamper and reader run at once instead of at their next tick. Only a
/// wake-up: the table is the truth.
pub static WROTE_EVENTS: AtomicBool = AtomicBool::new(false);

/// The advisory lock that makes one stamper run at a time across all nodes.
const STAMPER_LOCK: i64 = 0x6e61_7474_6572; // "natter"

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// What one stamping pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamped {
    /// Events given their positions.
    pub stamped: i64,
    /// Events still waiting for an older transaction to end.
    pub waiting: i64,
    /// Every event with a txid below this is stamped: pass it to the next call.
    pub complete_below: i64,
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = Bool)]
    locked: bool,
    #[diesel(sql_type = BigInt)]
    xmin: i64,
}

/// Gives committed, unstamped events their stream positions (see the migration
/// `event_positions` for why this is gapless) and wakes every node with one NOTIFY.
/// `since` is the previous pass's [`Stamped::complete_below`] (0 at first): the
/// queries only look at txids from there, so the index entries that stamped rows
/// leave behind until VACUUM are not read again and again. Answers `None` when
/// another node holds the stamper lock. SQLite's events are stamped as they are
/// written (see [`append`]).
pub fn stamp(conn: &mut DbConnection, since: i64) -> QueryResult<Option<Stamped>> {
    let DbConnection::Pg(conn) = conn else {
        return Ok(Some(Stamped {
            stamped: 0,
            waiting: 0,
            complete_below: since,
        }));
    };
    conn.transaction(|conn| {
        // Every transaction with an id below the snapshot's xmin has ended, so
        // all committed events under it are visible to the UPDATE below.
        let horizon = diesel::sql_query(
            "SELECT pg_try_advisory_xact_lock($1) AS locked, \
                    pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin",
        )
        .bind::<BigInt, _>(STAMPER_LOCK)
        .get_result::<Horizon>(conn)?;
        if !horizon.locked {
            return Ok(None);
        }
        let stamped = diesel::sql_query(
            "WITH base AS (SELECT coalesce(max(position), 0) AS top FROM chat_events), \
                  batch AS ( \
                    SELECT id, row_number() OVER (ORDER BY conversation_id, seq) AS n \
                      FROM chat_events \
                     WHERE position IS NULL AND txid >= $1 AND txid < $2) \
             UPDATE chat_events e SET position = base.top + batch.n \
               FROM batch, base WHERE e.id = batch.id",
        )
        .bind::<BigInt, _>(since)
        .bind::<BigInt, _>(horizon.xmin)
        .execute(conn)?;
        if stamped > 0 {
            diesel::sql_query("NOTIFY natter_events").execute(conn)?;
        }
        let waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM chat_events WHERE position IS NULL AND txid >= $1",
        )
        .bind::<BigInt, _>(horizon.xmin)
        .get_result::<Count>(conn)?
        .n;
        Ok(Some(Stamped {
            stamped: i64::try_from(stamped).unwrap_or(i64::MAX),
            waiting,
            complete_below: horizon.xmin.max(since),
        }))
    })
}

/// A stamped event as the stream reads it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_events, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct StampedEvent {
    #[diesel(select_expression = chat_events::position.assume_not_null())]
    pub position: i64,
    pub conversation_id: i64,
    pub subject_user_id: Option<i64>,
    pub kind: String,
    pub payload: String,
}

/// Stamped events after `position`, in position order.
pub fn after(conn: &mut DbConnection, position: i64, limit: i64) -> QueryResult<Vec<StampedEvent>> {
    chat_events::table
        .filter(chat_events::position.gt(position))
        .order(chat_events::position.asc())
        .limit(limit)
        .select(StampedEvent::as_select())
        .load(conn)
}

/// The newest stamped position (0 when there is none).
pub fn head(conn: &mut DbConnection) -> QueryResult<i64> {
    chat_events::table
        .select(diesel::dsl::max(chat_events::position))
        .get_result::<Option<i64>>(conn)
        .map(Option::unwrap_or_default)
}

/// Deletes stamped events older than `retention`, always keeping the newest one so
/// that positions keep counting from it; returns how many.
pub fn prune(conn: &mut DbConnection, retention: std::time::Duration) -> QueryResult<usize> {
    let newest = head(conn)?;
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let cutoff = crate::db::users::now()
        .checked_sub_signed(retention)
        .unwrap_or(chrono::NaiveDateTime::MIN);
    diesel::delete(
        chat_events::table
            .filter(chat_events::position.lt(newest))
            .filter(chat_events::created_at.lt(cutoff)),
    )
    .execute(conn)
}

/// The oldest position still in the log, if any.
pub fn oldest(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
    chat_events::table
        .select(diesel::dsl::min(chat_events::position))
        .get_result(conn)
}
