//! The event log, written in the same transaction as the change it describes.

use std::sync::atomic::{AtomicBool, Ordering};

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};
use natter_domain::UserId;
use natter_domain::event::{Event, EventKind};

use crate::db::models::NewEvent;
use crate::db::prepared::{Param, PreparedSql};
use crate::db::{DbConnection, channels, clock};
use crate::schema::{chat_conversations, chat_events};

/// Appends `event` to its conversation's log at the next position. The `UPDATE ...
/// RETURNING` takes the conversation row's lock until commit, so a conversation's
/// events commit in position order and a reader never sees a gap being filled later.
/// `subject` names a person the event concerns who may not be a member (any more).
/// Answers the event's number in its conversation.
///
/// On SQLite the event also gets its stream position here: writers run one at a
/// time, so positions are taken in commit order and no stamper is needed.
pub fn append(
    conn: &mut DbConnection,
    conversation_id: i64,
    subject: Option<i64>,
    event: &Event,
) -> QueryResult<i64> {
    let seq: i64 = diesel::update(chat_conversations::table.find(conversation_id))
        .set(chat_conversations::last_event_seq.eq(chat_conversations::last_event_seq + 1))
        .returning(chat_conversations::last_event_seq)
        .get_result(conn)?;
    append_numbered(conn, conversation_id, seq, subject, event)?;
    Ok(seq)
}

/// Like [`append`], for a caller that already took `seq`, the conversation's next
/// event number, in this transaction.
pub fn append_numbered(
    conn: &mut DbConnection,
    conversation_id: i64,
    seq: i64,
    subject: Option<i64>,
    event: &Event,
) -> QueryResult<()> {
    let (kind, payload) =
        encode(event).map_err(|error| diesel::result::Error::SerializationError(error.into()))?;
    let position = match conn {
        DbConnection::Pg(_) => None,
        DbConnection::Sqlite(_) => Some(head(conn)? + 1),
    };
    diesel::insert_into(chat_events::table)
        .values(NewEvent {
            conversation_id,
            seq,
            kind,
            subject_user_id: subject,
            payload: &payload,
            position,
            message_id: text_of(event),
        })
        .execute(conn)?;
    Ok(())
}

/// The message whose text `event` carries, kept beside it in the log
/// (`chat_events.message_id`) so that deleting the message finds every copy.
pub fn text_of(event: &Event) -> Option<i64> {
    match event {
        Event::MessageCreated { message } | Event::MessageEdited { message } => {
            Some(message.id.get())
        }
        Event::AddedToConversation { conversation } => {
            conversation.last_message.as_ref().map(|last| last.id.get())
        }
        Event::MessageDeleted { message_id, .. } => Some(message_id.get()),
        _ => None,
    }
}

/// An event's kind (its `type`) and its payload as stored.
pub fn encode(event: &Event) -> serde_json::Result<(&'static str, String)> {
    Ok((event.kind().name(), serde_json::to_string(event)?))
}

/// A process-wide hint that this node committed a write (set by [`crate::db::write`]),
/// so its stamper and reader run at once instead of at their next tick. Only a
/// wake-up: the table is the truth.
pub static WROTE_EVENTS: AtomicBool = AtomicBool::new(false);

/// Sets [`WROTE_EVENTS`]: a write that may have added events has committed, so they
/// can be stamped and read now.
pub fn wrote_events() {
    WROTE_EVENTS.store(true, Ordering::Release);
}

/// The advisory lock whose holder is the one stamper among all nodes.
const STAMPER_LOCK: i64 = 0x6e61_7474_6572; // "natter"

/// Events stamped in one pass at most, so that a backlog is taken in bounded bites.
const STAMP_BATCH: i64 = 5000;

/// Tries to become the stamper of every node: a session-level advisory lock, held for
/// as long as `conn` lives (it is released when the connection ends, after whatever
/// pass was running on it has committed or rolled back). On SQLite, where this
/// process is the only node, always `true`.
pub fn lead(conn: &mut DbConnection) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Lead {
        #[diesel(sql_type = Bool)]
        locked: bool,
    }
    let DbConnection::Pg(conn) = conn else {
        return Ok(true);
    };
    Ok(
        diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<BigInt, _>(STAMPER_LOCK)
            .get_result::<Lead>(conn)?
            .locked,
    )
}

/// What one stamping pass did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// The events given their positions, in position order.
    pub stamped: Vec<StampedEvent>,
    /// Whether committed events are still unstamped (held back by an older
    /// transaction, or past [`STAMP_BATCH`]): pass again soon.
    pub more: bool,
    /// Every event with a txid below this is stamped: pass it to the next call.
    pub complete_below: i64,
}

/// One row of a pass: the pass's horizon and backlog, and a stamped event (`NULL`s
/// on the one row of a pass that stamped nothing).
#[derive(QueryableByName)]
struct PassRow {
    #[diesel(sql_type = BigInt)]
    xmin: i64,
    #[diesel(sql_type = BigInt)]
    waiting: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    position: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    conversation_id: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    subject_user_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    payload: Option<String>,
    /// Seconds from the event's write to its stamping.
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    lag: Option<f64>,
}

/// Gives committed, unstamped events their stream positions (see the migration
/// `event_positions` for why this is gapless), wakes every node with one NOTIFY and
/// answers what it stamped, so the stamper's own node need not read it back. Only the
/// node that [`lead`]s calls this, so one statement is the whole pass: its snapshot's
/// xmin is the horizon (every transaction below it has ended, and the committed ones
/// are visible to the same snapshot), and positions continue from the previous pass,
/// which committed before it on this same connection.
///
/// `since` is the previous pass's [`Pass::complete_below`] (0 at first): the scan only
/// looks at txids from there, so the index entries that stamped rows leave behind
/// until VACUUM are not read again and again. SQLite's events are stamped as they are
/// written (see [`append`]).
///
/// `floor` is the highest position this node has delivered: positions continue from
/// it even when the newest events were deleted since (an account's deletion removes
/// the events about it), so that no position is ever given twice.
pub fn stamp(conn: &mut DbConnection, since: i64, floor: i64) -> QueryResult<Pass> {
    let DbConnection::Pg(conn) = conn else {
        return Ok(Pass {
            stamped: Vec::new(),
            more: false,
            complete_below: since,
        });
    };
    let rows = PreparedSql {
        sql: "WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin), \
                   base AS (SELECT greatest(coalesce(max(position), 0), ?) AS top FROM chat_events), \
                   batch AS ( \
                     SELECT id, row_number() OVER (ORDER BY conversation_id, seq) AS n \
                       FROM chat_events \
                      WHERE position IS NULL AND txid >= ? AND txid < (SELECT xmin FROM horizon) \
                      ORDER BY conversation_id, seq \
                      LIMIT ?), \
                   stamped AS ( \
                     UPDATE chat_events e SET position = base.top + batch.n \
                       FROM batch, base WHERE e.id = batch.id \
                     RETURNING e.position, e.conversation_id, e.subject_user_id, e.kind, e.payload, \
                               extract(epoch FROM (clock_timestamp() AT TIME ZONE 'UTC') - e.created_at)::float8 AS lag), \
                   waiting AS ( \
                     SELECT count(*) AS n FROM chat_events \
                      WHERE position IS NULL AND txid >= (SELECT xmin FROM horizon)) \
              SELECT h.xmin, w.n AS waiting, s.position, s.conversation_id, s.subject_user_id, \
                     s.kind, s.payload, s.lag, \
                     (SELECT count(*) FROM (SELECT pg_notify(?, '') FROM stamped LIMIT 1) AS n) \
                       AS notified \
                FROM horizon h CROSS JOIN waiting w LEFT JOIN stamped s ON true \
               ORDER BY s.position",
        params: [
            Param::BigInt(floor),
            Param::BigInt(since),
            Param::BigInt(STAMP_BATCH),
            Param::Text(channels::EVENTS),
        ],
    }
    .load::<PassRow>(conn)?;
    let (xmin, waiting) = rows
        .first()
        .map_or((since, 0), |row| (row.xmin, row.waiting));
    let stamped: Vec<StampedEvent> = rows
        .into_iter()
        .filter_map(|row| {
            if let Some(lag) = row.lag {
                metrics::histogram!(crate::metrics::STAMPER_LAG).record(lag);
            }
            Some(StampedEvent {
                position: row.position?,
                conversation_id: row.conversation_id?,
                subject_user_id: row.subject_user_id,
                kind: row.kind?,
                payload: row.payload?,
            })
        })
        .collect();
    let full = stamped.len() == usize::try_from(STAMP_BATCH).unwrap_or(usize::MAX);
    Ok(Pass {
        more: waiting > 0 || full,
        // A full batch may have left older txids behind: look from `since` again.
        complete_below: if full { since } else { xmin.max(since) },
        stamped,
    })
}

/// Asks the stamping node for a pass now (this node wrote events, another stamps).
pub fn request_stamp(conn: &mut DbConnection) -> QueryResult<()> {
    if let DbConnection::Pg(conn) = conn {
        diesel::sql_query("SELECT pg_notify($1, '')")
            .bind::<Text, _>(channels::STAMP)
            .execute(conn)?;
    }
    Ok(())
}

/// A stamped event as the stream reads it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = chat_events, check_for_backend(Pg, diesel::sqlite::Sqlite))]
pub struct StampedEvent {
    #[diesel(select_expression = chat_events::position.assume_not_null())]
    pub position: i64,
    pub conversation_id: i64,
    pub subject_user_id: Option<i64>,
    pub kind: String,
    pub payload: String,
}

impl StampedEvent {
    /// What the event is; `None` for a kind this build does not know (written by a
    /// newer node during a rolling upgrade), which is delivered but changes nothing.
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::from_name(&self.kind)
    }
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

/// What a new stream starts from: the conversations its person is in and the log's
/// head and oldest position, all from one snapshot, so that every membership change
/// at or below `head` is in `conversations` and none above it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub conversations: Vec<i64>,
    pub head: i64,
    pub oldest: Option<i64>,
}

pub fn snapshot(conn: &mut DbConnection, user: UserId) -> QueryResult<Snapshot> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Nullable<BigInt>)]
        conversation_id: Option<i64>,
        #[diesel(sql_type = BigInt)]
        head: i64,
        #[diesel(sql_type = Nullable<BigInt>)]
        oldest: Option<i64>,
    }
    // One statement is one snapshot, on either backend: no transaction to open.
    const SQL: &str = "SELECT m.conversation_id, h.head, h.oldest \
          FROM (SELECT coalesce(max(position), 0) AS head, min(position) AS oldest \
                  FROM chat_events) h \
          LEFT JOIN chat_conversation_members m ON m.user_id = ?";
    let rows: Vec<Row> = match conn {
        DbConnection::Pg(pg) => PreparedSql {
            sql: SQL,
            params: [Param::BigInt(user.get())],
        }
        .load(pg)?,
        DbConnection::Sqlite(lite) => diesel::sql_query(SQL)
            .bind::<BigInt, _>(user.get())
            .load(lite)?,
    };
    let (head, oldest) = rows.first().map_or((0, None), |row| (row.head, row.oldest));
    Ok(Snapshot {
        conversations: rows.iter().filter_map(|row| row.conversation_id).collect(),
        head,
        oldest,
    })
}

/// The events after `position` that `user` may see, in position order, at most
/// `limit`: those of their conversations from when they joined (a newcomer sees
/// nothing from before), and those about them in conversations they have left (their
/// removal). Each conversation is read through its (conversation, position) index, so
/// the cost follows what the person may see, not the size of the log.
pub fn visible_after(
    conn: &mut DbConnection,
    user: UserId,
    position: i64,
    limit: i64,
) -> QueryResult<Vec<StampedEvent>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        position: i64,
        #[diesel(sql_type = BigInt)]
        conversation_id: i64,
        #[diesel(sql_type = Nullable<BigInt>)]
        subject_user_id: Option<i64>,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = Text)]
        payload: String,
    }
    // Per conversation, from the later of the cursor and the event that added them
    // (`joined_seq`, 0 for a founding member), without others' read states. PostgreSQL reads at most `limit` per
    // conversation (LATERAL), with a plan made once per connection; SQLite, one node,
    // sorts what the person may see.
    const PG: &str = "\
        SELECT position, conversation_id, subject_user_id, kind, payload FROM ( \
          SELECT e.position, e.conversation_id, e.subject_user_id, e.kind, e.payload \
            FROM chat_conversation_members m \
            CROSS JOIN LATERAL ( \
              SELECT * FROM chat_events e \
               WHERE e.conversation_id = m.conversation_id AND e.seq >= m.joined_seq \
                 AND (e.kind <> 'read_state_changed' OR e.subject_user_id = m.user_id) \
                 AND e.position > GREATEST(?, (SELECT j.position FROM chat_events j \
                       WHERE j.conversation_id = m.conversation_id AND j.seq = m.joined_seq)) \
               ORDER BY e.position LIMIT ?) e \
           WHERE m.user_id = ? \
          UNION ALL \
          SELECT * FROM ( \
            SELECT e.position, e.conversation_id, e.subject_user_id, e.kind, e.payload \
              FROM chat_events e \
             WHERE e.subject_user_id = ? AND e.position > ? \
               AND NOT EXISTS (SELECT 1 FROM chat_conversation_members m \
                                WHERE m.conversation_id = e.conversation_id AND m.user_id = ?) \
             ORDER BY e.position LIMIT ?) AS left_behind \
        ) AS visible ORDER BY position LIMIT ?";
    const SQLITE: &str = "\
        SELECT position, conversation_id, subject_user_id, kind, payload FROM ( \
          SELECT e.position, e.conversation_id, e.subject_user_id, e.kind, e.payload \
            FROM chat_conversation_members m \
            JOIN chat_events e ON e.conversation_id = m.conversation_id \
             AND e.seq >= m.joined_seq \
             AND (e.kind <> 'read_state_changed' OR e.subject_user_id = m.user_id) \
             AND e.position > max(?2, coalesce((SELECT j.position FROM chat_events j \
                   WHERE j.conversation_id = m.conversation_id AND j.seq = m.joined_seq), 0)) \
           WHERE m.user_id = ?1 \
          UNION ALL \
          SELECT e.position, e.conversation_id, e.subject_user_id, e.kind, e.payload \
            FROM chat_events e \
           WHERE e.subject_user_id = ?1 AND e.position > ?2 \
             AND NOT EXISTS (SELECT 1 FROM chat_conversation_members m \
                              WHERE m.conversation_id = e.conversation_id AND m.user_id = ?1) \
        ) ORDER BY position LIMIT ?3";
    let (me, after) = (Param::BigInt(user.get()), Param::BigInt(position));
    let rows: Vec<Row> = match conn {
        DbConnection::Pg(pg) => PreparedSql {
            sql: PG,
            params: [
                after,
                Param::BigInt(limit),
                me,
                me,
                after,
                me,
                Param::BigInt(limit),
                Param::BigInt(limit),
            ],
        }
        .load(pg)?,
        DbConnection::Sqlite(lite) => diesel::sql_query(SQLITE)
            .bind::<BigInt, _>(user.get())
            .bind::<BigInt, _>(position)
            .bind::<BigInt, _>(limit)
            .load(lite)?,
    };
    Ok(rows
        .into_iter()
        .map(|row| StampedEvent {
            position: row.position,
            conversation_id: row.conversation_id,
            subject_user_id: row.subject_user_id,
            kind: row.kind,
            payload: row.payload,
        })
        .collect())
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
    let cutoff = clock::now()
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
