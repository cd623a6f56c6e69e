//! Sends on PostgreSQL, committed in groups.
//!
//! A send is one autocommit statement ([`SEND`]), and under load most of its cost is
//! the statement's, not the message's: executor start-up, the commit with its WAL
//! flush, a round trip, a blocking-thread hop. So a node's sends queue here, and one
//! writer thread takes every send waiting when it comes free (up to [`MAX_BATCH`])
//! and writes them with one statement ([`SEND_MANY`]): group commit. The writer never
//! waits for more sends to come, so a lone send still goes out at once, as the one
//! statement it always was.
//!
//! One writer, not several: with two or four, the waiting sends split into smaller
//! batches and throughput fell (natter-bench send on 2 cores, 8 and 32 senders: one
//! writer 1,553–1,635 and 2,886 msg/s, two 1,301–1,513 and 2,727–2,760, four 1,398
//! and 2,374). Nodes each have theirs; their batches lock conversations in one order.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use diesel::r2d2::Pool;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use natter_domain::api::{Message, User};
use natter_domain::event::Event;
use natter_domain::{ClientId, ConversationId, MessageBody, MessageId};
use tokio::sync::oneshot;

use crate::auth::TokenClaims;
use crate::db::conversations::utc;
use crate::db::messages::Sent;
use crate::db::prepared::{Param, PreparedSql};
use crate::db::{DbConnection, Manager, events, leaves_connection_sound};
use crate::error::ApiError;

/// Sends written by one statement at most.
const MAX_BATCH: usize = 64;

/// The node's queue of sends waiting for the writer.
#[derive(Clone)]
pub struct SendQueue {
    queue: mpsc::Sender<Pending>,
}

struct Pending {
    send: PgSend,
    reply: oneshot::Sender<Result<Sent, ApiError>>,
}

impl SendQueue {
    /// Starts the writer, which takes connections from `pool` and stops once every
    /// clone of the queue is gone.
    pub(super) fn start(pool: &Pool<Manager>) -> std::io::Result<Self> {
        let (queue, waiting) = mpsc::channel();
        let pool = pool.clone();
        std::thread::Builder::new()
            .name("natter-sends".into())
            .spawn(move || work(&pool, &waiting))?;
        Ok(Self { queue })
    }

    /// Queues `send` and waits for the writer's answer.
    pub async fn send(&self, send: PgSend) -> Result<Sent, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { send, reply })
            .map_err(|_| ApiError::Unavailable("the send writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("the send writer dropped a send")))?
    }
}

fn work(pool: &Pool<Manager>, waiting: &mpsc::Receiver<Pending>) {
    while let Some(batch) = next_batch(waiting) {
        let (sends, replies): (Vec<PgSend>, Vec<_>) =
            batch.into_iter().map(|p| (p.send, p.reply)).unzip();
        // A panic is a bug; it fails this batch's requests (500), not the writer.
        match std::panic::catch_unwind(AssertUnwindSafe(|| write(pool, sends))) {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // The request may have gone: its send stands all the same.
                    let _ = reply.send(result);
                }
            }
            Err(_) => tracing::error!(sends = replies.len(), "a batch of sends panicked"),
        }
    }
}

/// Every send waiting now, up to [`MAX_BATCH`]; blocks for the first. `None` once the
/// queue is closed.
fn next_batch(waiting: &mpsc::Receiver<Pending>) -> Option<Vec<Pending>> {
    let first = waiting.recv().ok()?;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    batch.push(first);
    batch.extend(std::iter::from_fn(|| waiting.try_recv().ok()).take(MAX_BATCH - 1));
    Some(batch)
}

/// Writes a batch, one answer per send in order.
fn write(pool: &Pool<Manager>, sends: Vec<PgSend>) -> Vec<Result<Sent, ApiError>> {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => return all_failed(&sends, || ApiError::Unavailable(error.to_string())),
    };
    let DbConnection::Pg(pg) = &mut conn.conn else {
        return all_failed(&sends, || {
            ApiError::Internal(anyhow::anyhow!("the send queue runs on PostgreSQL only"))
        });
    };
    let results = write_on(pg, sends);
    conn.used(results.iter().all(leaves_connection_sound));
    if results.iter().any(Result::is_ok) {
        events::wrote_events();
    }
    results
}

fn ordinal(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn write_on(conn: &mut PgConnection, sends: Vec<PgSend>) -> Vec<Result<Sent, ApiError>> {
    if sends.len() == 1 {
        return sends.into_iter().map(|send| send_one(conn, send)).collect();
    }
    let result = send_many(conn, &sends);
    tracing::debug!(sends = sends.len(), "sends written by one statement");
    match result {
        Ok(rows) if rows.iter().map(|row| row.n).eq(1..=ordinal(sends.len())) => sends
            .into_iter()
            .zip(rows)
            .map(|(send, row)| Ok(send.outcome(row.row)))
            .collect(),
        Ok(rows) => {
            // Committed, but not answered as asked: a bug, and not one to retry.
            let (written, answers) = (sends.len(), rows.len());
            all_failed(&sends, || {
                ApiError::Internal(anyhow::anyhow!(
                    "{written} sends written, {answers} answers"
                ))
            })
        }
        // The server refused the statement, so nothing of it was written: one send
        // that fails must not fail the others, so each goes on its own.
        Err(diesel::result::Error::DatabaseError(kind, info)) => {
            tracing::warn!(
                ?kind,
                error = info.message(),
                sends = sends.len(),
                "a batch of sends failed: sending them one by one"
            );
            sends.into_iter().map(|send| send_one(conn, send)).collect()
        }
        // Anything else may have come after the commit.
        Err(error) => all_failed(&sends, || ApiError::Internal(anyhow::anyhow!("{error}"))),
    }
}

/// The same failure for every send of a batch.
fn all_failed(sends: &[PgSend], error: impl Fn() -> ApiError) -> Vec<Result<Sent, ApiError>> {
    sends.iter().map(|_| Err(error())).collect()
}

/// One send, as the statements need it: the message as it will be but for what only
/// the statement knows (its id, its sender's nickname and its time), and its event's
/// payload cut around those.
pub struct PgSend {
    session: TokenClaims,
    client_id: Option<String>,
    message: Message,
    event: PayloadPieces,
}

impl PgSend {
    pub fn new(
        conversation: ConversationId,
        session: TokenClaims,
        body: &MessageBody,
        client_id: Option<ClientId>,
    ) -> anyhow::Result<Self> {
        let message = Message {
            id: MessageId(0),
            conversation_id: conversation,
            sender: User {
                id: session.user_id,
                nickname: String::new(),
            },
            content: body.as_str().to_owned(),
            client_id,
            created_at: DateTime::UNIX_EPOCH,
            reactions: Vec::new(),
            seen_by: Vec::new(),
        };
        let event = PayloadPieces::of(&message)?;
        Ok(Self {
            session,
            client_id: client_id.as_ref().map(ToString::to_string),
            message,
            event,
        })
    }

    /// What the statement's row for this send means.
    fn outcome(mut self, row: SendRow) -> Sent {
        let Some(nickname) = row.nickname else {
            return Sent::SignedOut;
        };
        self.message.sender.nickname = nickname;
        if !row.member {
            return Sent::NotFound;
        }
        match (row.existing, row.closed, row.id, row.created_at) {
            (true, ..) => Sent::Existing(self.message.sender),
            (_, _, Some(id), Some(created_at)) => {
                self.message.id = MessageId(id);
                self.message.created_at = utc(created_at);
                Sent::New(self.message)
            }
            (_, Some(true), ..) => Sent::Closed,
            // A concurrent send with the same client_id committed first.
            (_, Some(false), ..) => Sent::Existing(self.message.sender),
            (_, None, ..) => Sent::NotFound,
        }
    }
}

/// The outcome of [`SEND`].
#[derive(QueryableByName)]
struct SendRow {
    /// The sender's, when the session is live.
    #[diesel(sql_type = Nullable<Text>)]
    nickname: Option<String>,
    #[diesel(sql_type = Bool)]
    member: bool,
    #[diesel(sql_type = Bool)]
    existing: bool,
    #[diesel(sql_type = Nullable<Bool>)]
    closed: Option<bool>,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    created_at: Option<NaiveDateTime>,
}

/// A send on PostgreSQL in one autocommit statement: one round trip and one commit
/// where the portable path takes seven or eight. In order: the session (live, as
/// [`users::session_user`] checks it), membership, an earlier message with this
/// `client_id`, the conversation's row lock (taken before the insert, so that message
/// ids and event numbers grow in commit order within a conversation, and a concurrent
/// close is ordered against the send), the insert, the next event number and the
/// event, whose payload is spliced around what only the statement knows (see
/// [`PayloadPieces`]). When a concurrent send with the same `client_id` commits
/// first, the insert does nothing, and neither does anything that depends on it.
const SEND: &str = "\
WITH p AS (SELECT ?::bigint AS session_id, ?::bigint AS conversation_id, \
                  ?::bigint AS sender_id, ?::text AS content, ?::text AS client_id), \
     session AS (SELECT u.nickname FROM p \
                   JOIN auth_sessions s ON s.id = p.session_id AND s.user_id = p.sender_id \
                   JOIN auth_users u ON u.id = s.user_id \
                  WHERE s.revoked_at IS NULL AND s.expires_at > CURRENT_TIMESTAMP), \
     member AS (SELECT FROM p JOIN chat_conversation_members m \
                 ON m.conversation_id = p.conversation_id AND m.user_id = p.sender_id), \
     existing AS (SELECT FROM p JOIN chat_messages e \
                   ON e.conversation_id = p.conversation_id AND e.sender_id = p.sender_id \
                  AND e.client_id = p.client_id), \
     locked AS (SELECT c.closed_at FROM p JOIN chat_conversations c ON c.id = p.conversation_id \
                 WHERE EXISTS (SELECT FROM session) AND EXISTS (SELECT FROM member) \
                   AND NOT EXISTS (SELECT FROM existing) \
                   FOR UPDATE OF c), \
     inserted AS (INSERT INTO chat_messages (conversation_id, sender_id, content, client_id, created_at) \
                  SELECT p.conversation_id, p.sender_id, p.content, p.client_id, \
                         clock_timestamp() AT TIME ZONE 'UTC' \
                    FROM p, locked WHERE locked.closed_at IS NULL \
                  ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING \
                  RETURNING id, created_at), \
     bumped AS (UPDATE chat_conversations c \
                   SET last_event_seq = c.last_event_seq + 1, last_activity_at = i.created_at \
                  FROM p, inserted i WHERE c.id = p.conversation_id \
                RETURNING c.last_event_seq AS seq), \
     event AS (INSERT INTO chat_events (conversation_id, seq, kind, payload) \
               SELECT p.conversation_id, b.seq, ?, \
                      ? || to_json(i.id)::text || ? || to_json(s.nickname)::text || ? \
                        || to_json(to_char(i.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text || ? \
                 FROM p, session s, inserted i, bumped b) \
SELECT (SELECT nickname FROM session) AS nickname, EXISTS (SELECT FROM member) AS member, \
       EXISTS (SELECT FROM existing) AS existing, \
       (SELECT closed_at IS NOT NULL FROM locked) AS closed, i.id, i.created_at \
  FROM p LEFT JOIN inserted i ON true";

fn send_one(conn: &mut PgConnection, send: PgSend) -> Result<Sent, ApiError> {
    let [head, after_id, after_nickname, tail] = send.event.pieces.each_ref().map(String::as_str);
    let row = PreparedSql {
        sql: SEND,
        params: [
            Param::BigInt(send.session.session_id.get()),
            Param::BigInt(send.message.conversation_id.get()),
            Param::BigInt(send.session.user_id.get()),
            Param::Text(&send.message.content),
            Param::NullableText(send.client_id.as_deref()),
            Param::Text(&send.event.kind),
            Param::Text(head),
            Param::Text(after_id),
            Param::Text(after_nickname),
            Param::Text(tail),
        ],
    }
    .get_result::<SendRow>(conn)?;
    Ok(send.outcome(row))
}

/// [`SEND`] for many sends at once, each checked as it checks one, answering one row
/// per send in their order (`n`, from 1). The conversations are locked in id order, so
/// batches on several nodes cannot deadlock on them; message ids are taken after the
/// locks, in the batch's order, with the time (so within a conversation ids, times and
/// event numbers agree, as with one send); a conversation's event numbers continue
/// from its count of new messages. Two sends in one batch with the same `client_id`:
/// the first is written, the second answered as a retry of it.
const SEND_MANY: &str = "\
WITH p AS MATERIALIZED ( \
       SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], \
                            ?::text[], ?::text[], ?::text[], ?::text[]) \
         WITH ORDINALITY AS p(session_id, conversation_id, sender_id, content, client_id, \
                              head, after_id, after_nickname, tail, n)), \
     checked AS MATERIALIZED ( \
       SELECT p.*, s.nickname, m.member IS NOT NULL AS member, e.existing IS NOT NULL AS existing \
         FROM p \
         LEFT JOIN LATERAL ( \
           SELECT u.nickname FROM auth_sessions s JOIN auth_users u ON u.id = s.user_id \
            WHERE s.id = p.session_id AND s.user_id = p.sender_id \
              AND s.revoked_at IS NULL AND s.expires_at > CURRENT_TIMESTAMP LIMIT 1) AS s ON true \
         LEFT JOIN LATERAL ( \
           SELECT true AS member FROM chat_conversation_members m \
            WHERE m.conversation_id = p.conversation_id AND m.user_id = p.sender_id LIMIT 1) \
           AS m ON true \
         LEFT JOIN LATERAL ( \
           SELECT true AS existing FROM chat_messages e \
            WHERE e.conversation_id = p.conversation_id AND e.sender_id = p.sender_id \
              AND e.client_id = p.client_id LIMIT 1) AS e ON true), \
     wanted AS (SELECT * FROM checked WHERE nickname IS NOT NULL AND member AND NOT existing), \
     locked AS MATERIALIZED ( \
       SELECT c.id, c.closed_at FROM chat_conversations c \
        WHERE c.id IN (SELECT conversation_id FROM wanted) \
        ORDER BY c.id FOR UPDATE OF c), \
     taken AS MATERIALIZED ( \
       SELECT o.n, nextval(pg_get_serial_sequence('chat_messages', 'id')) AS id, \
              clock_timestamp() AT TIME ZONE 'UTC' AS created_at \
         FROM (SELECT w.n FROM wanted w JOIN locked l ON l.id = w.conversation_id \
                WHERE l.closed_at IS NULL ORDER BY w.n) AS o), \
     inserted AS ( \
       INSERT INTO chat_messages (id, conversation_id, sender_id, content, client_id, created_at) \
       SELECT t.id, k.conversation_id, k.sender_id, k.content, k.client_id, t.created_at \
         FROM taken t JOIN checked k ON k.n = t.n ORDER BY t.id \
       ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING \
       RETURNING id, conversation_id, created_at), \
     numbered AS ( \
       SELECT i.id, i.conversation_id, i.created_at, \
              row_number() OVER (PARTITION BY i.conversation_id ORDER BY i.id) AS nth, \
              count(*) OVER (PARTITION BY i.conversation_id) AS new \
         FROM inserted i), \
     bumped AS ( \
       UPDATE chat_conversations c \
          SET last_event_seq = c.last_event_seq + x.new, last_activity_at = x.latest \
         FROM (SELECT conversation_id, count(*) AS new, max(created_at) AS latest \
                 FROM inserted GROUP BY conversation_id) AS x \
        WHERE c.id = x.conversation_id \
       RETURNING c.id, c.last_event_seq AS top), \
     event AS ( \
       INSERT INTO chat_events (conversation_id, seq, kind, payload) \
       SELECT u.conversation_id, b.top - u.new + u.nth, ?, \
              k.head || to_json(u.id)::text || k.after_id || to_json(k.nickname)::text \
                || k.after_nickname \
                || to_json(to_char(u.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text || k.tail \
         FROM numbered u JOIN bumped b ON b.id = u.conversation_id \
         JOIN taken t ON t.id = u.id JOIN checked k ON k.n = t.n \
        ORDER BY u.conversation_id, u.nth) \
SELECT k.n, k.nickname, k.member, k.existing, l.closed_at IS NOT NULL AS closed, i.id, i.created_at \
  FROM checked k \
  LEFT JOIN locked l ON l.id = k.conversation_id AND k.nickname IS NOT NULL AND k.member \
                    AND NOT k.existing \
  LEFT JOIN (inserted i JOIN taken t ON t.id = i.id) ON t.n = k.n \
 ORDER BY k.n";

/// A row of [`SEND_MANY`]: which send (from 1), and its outcome.
#[derive(QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(embed)]
    row: SendRow,
}

fn send_many(conn: &mut PgConnection, sends: &[PgSend]) -> QueryResult<Vec<BatchRow>> {
    let column = |f: fn(&PgSend) -> i64| sends.iter().map(f).collect::<Vec<i64>>();
    let session_ids = column(|s| s.session.session_id.get());
    let conversation_ids = column(|s| s.message.conversation_id.get());
    let sender_ids = column(|s| s.session.user_id.get());
    let contents: Vec<&str> = sends.iter().map(|s| s.message.content.as_str()).collect();
    let client_ids: Vec<Option<&str>> = sends.iter().map(|s| s.client_id.as_deref()).collect();
    let [head, after_id, after_nickname, tail] = std::array::from_fn::<_, 4, _>(|i| {
        sends
            .iter()
            .map(|s| s.event.pieces[i].as_str())
            .collect::<Vec<&str>>()
    });
    let kind = sends.first().map_or("", |s| s.event.kind.as_str());
    // Planning this statement for each batch (a custom plan, which PostgreSQL keeps
    // choosing, as it knows each batch's size) cost more than running it: one generic
    // plan, made once per connection, serves every batch. Hence a transaction of its
    // own, whose setting ends with it.
    conn.transaction(|conn| {
        diesel::sql_query("SET LOCAL plan_cache_mode = force_generic_plan").execute(conn)?;
        PreparedSql {
            sql: SEND_MANY,
            params: [
                Param::BigInts(&session_ids),
                Param::BigInts(&conversation_ids),
                Param::BigInts(&sender_ids),
                Param::Texts(&contents),
                Param::NullableTexts(&client_ids),
                Param::Texts(&head),
                Param::Texts(&after_id),
                Param::Texts(&after_nickname),
                Param::Texts(&tail),
                Param::Text(kind),
            ],
        }
        .load(conn)
    })
}

/// A `message_created` event's kind and its payload cut at the values only the
/// statement knows: the message's id, its sender's nickname and its time. The
/// statement joins `pieces[0] || id || pieces[1] || nickname || pieces[2] || time ||
/// pieces[3]`, each value as JSON. The cuts are found by serializing the event with
/// marker values behind their keys; a quoted key can only be the structure's own
/// (quotes inside strings are escaped), and the marker values are nobody's.
#[derive(Debug)]
struct PayloadPieces {
    kind: String,
    pieces: [String; 4],
}

impl PayloadPieces {
    /// Each hole: its key, and the marker value that stands in it.
    const HOLES: [(&str, &str); 3] = [
        ("\"id\":", "-9223372036854775808"),
        ("\"nickname\":", "\"natter:hole\""),
        ("\"created_at\":", "\"1970-01-01T00:00:00Z\""),
    ];

    fn of(message: &Message) -> anyhow::Result<Self> {
        let mut marked = message.clone();
        marked.id = MessageId(i64::MIN);
        "natter:hole".clone_into(&mut marked.sender.nickname);
        marked.created_at = DateTime::UNIX_EPOCH;
        let (kind, payload) = events::encode(&Event::MessageCreated { message: marked })?;
        let mut pieces: [String; 4] = Default::default();
        let mut rest = payload.as_str();
        for (piece, (key, marker)) in pieces.iter_mut().zip(Self::HOLES) {
            let at = rest
                .find(&format!("{key}{marker}"))
                .with_context(|| format!("no {key} marker in the message_created payload"))?;
            rest[..at + key.len()].clone_into(piece);
            rest = &rest[at + key.len() + marker.len()..];
        }
        rest.clone_into(&mut pieces[3]);
        Ok(Self { kind, pieces })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natter_domain::UserId;

    #[test]
    fn payload_pieces_join_into_the_event_serde_writes() {
        let mut message = Message {
            id: MessageId(0),
            conversation_id: ConversationId(7),
            sender: User {
                id: UserId(3),
                nickname: "ana \"id\":-9223372036854775808".into(),
            },
            content: "\"created_at\":\"1970-01-01T00:00:00Z\" and {\"id\":1}".into(),
            client_id: None,
            created_at: DateTime::UNIX_EPOCH,
            reactions: Vec::new(),
            seen_by: Vec::new(),
        };
        let pieces = PayloadPieces::of(&message).expect("pieces");
        // What the statement does: each value as to_json writes it, the time with six
        // fractional digits as to_char writes it.
        let [head, after_id, after_nickname, tail] = &pieces.pieces;
        let nickname_json = r#""béa \"""#;
        let joined = format!(
            r#"{head}4200000123{after_id}{nickname_json}{after_nickname}"2026-11-26T10:20:39.123456Z"{tail}"#
        );
        message.sender.nickname = "béa \"".into();
        message.id = MessageId(4_200_000_123);
        message.created_at = "2026-11-26T10:20:39.123456Z".parse().expect("time");
        let event = Event::MessageCreated { message };
        assert_eq!(pieces.kind, "message_created");
        assert_eq!(joined, serde_json::to_string(&event).expect("serialize"));
        assert_eq!(
            serde_json::from_str::<Event>(&joined).expect("parse"),
            event
        );
    }
}
