//! Sending a message. Every rule of a send is in this file, for both backends.
//!
//! The rules, in the order they are checked (the numbers are referred to below):
//!
//! 1. **Session.** The sender's session is neither revoked nor expired by the
//!    database's clock (`expires_at` and the clock are both naive UTC); otherwise 401.
//!    The token was checked before: the session row is checked here, in the send's
//!    own statement, to save a round trip.
//! 2. **Membership.** The sender is a member of the conversation; otherwise 404: to a
//!    non-member it does not exist.
//! 3. **Retry.** A `client_id` this sender already used in this conversation answers
//!    that message (200), even once the conversation is closed. Two sends with one
//!    `client_id` at once make one message: the unique `(conversation_id, sender_id,
//!    client_id)` lets only the first insert through.
//! 4. **Order.** The conversation's row is locked before the message is written, so
//!    within a conversation message ids, times and event numbers grow in commit order,
//!    and a concurrent close is ordered against the send. Several conversations are
//!    locked in id order, so that batches on several nodes cannot deadlock.
//! 5. **Closed.** A closed conversation takes no message: 409.
//!
//!    Rule 5a, **the reply**: a `reply_to_id` names a message of this conversation
//!    that is not deleted, read after the lock (a deletion takes the same lock first,
//!    so it is either before the send, and refuses it, or after, and finds the reply);
//!    otherwise 422 naming `reply_to_id`. The reply's event shows an excerpt of it.
//!
//!    Rule 5b, **the files**: each of `attachment_ids` is the sender's own stored
//!    upload, attached to nothing, locked until the send commits (so that two sends
//!    cannot both attach it); otherwise 422 naming `attachment_ids`.
//!
//!    Rule 5c, **mentions**: `<@id>` of members (not the sender), and `@all` where
//!    [`natter_domain::mentions::all_allowed`], are recorded with the message. A send
//!    with files or mentions takes the steps one by one ([`send_step_by_step`]).
//! 6. **The message.** Its time is the database's clock after the lock; it becomes the
//!    conversation's `last_activity_at`.
//! 7. **Its event.** `message_created`, numbered from the conversation's
//!    `last_event_seq`, in the same transaction as the message.
//! 8. **Read by its sender.** The sender's read pointer moves past it (never back):
//!    what came before it is read, as their unread counts say.
//!
//! How: a node's sends queue for one writer thread ([`SendQueue`]), which takes every
//! send waiting when it comes free (up to [`MAX_BATCH`]) and writes them together:
//! group commit, so that they share the round trip, the statement's start-up and the
//! commit with its flush. The writer never waits for more sends to come, so a lone
//! send goes out at once. On PostgreSQL a batch is one autocommit statement
//! ([`SEND_MANY`], or [`SEND_ONE`] for a lone send), put together from one piece of
//! SQL per rule; on SQLite one `BEGIN IMMEDIATE` transaction takes the same steps
//! send by send ([`send_step_by_step`]). A send with files takes those steps in a
//! transaction of its own on either backend, outside the queue: files are rare
//! beside text, and the batch statement stays as it is measured. Either way each send's facts come back as a
//! [`Checked`], and [`Checked::outcome`] alone decides what the send came to.
//!
//! One writer, not several: with two or four, the waiting sends split into smaller
//! batches and throughput fell (natter-bench send on 2 cores, 8 and 32 senders: one
//! writer 1,553–1,635 and 2,886 msg/s, two 1,301–1,513 and 2,727–2,760, four 1,398
//! and 2,374).

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use diesel::r2d2::Pool;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use natter_domain::api::{Message, ReplyTo, User};
use natter_domain::event::{Event, EventKind};
use natter_domain::{
    AttachmentId, ClientId, ConversationId, FieldError, MessageBody, MessageId, SessionId, UserId,
    ValidationError,
};
use tokio::sync::oneshot;

use super::history::with_details;
use super::{bare_message, lock_conversation};
use crate::config::DatabaseUrl;
use crate::db::attachments::{self, AttachmentRow};
use crate::db::clock::{database_now, utc};
use crate::db::models::{MessageRow, NewMessage, UserRow};
use crate::db::pool::Manager;
use crate::db::prepared::{Param, PreparedSql};
use crate::db::{Db, DbConnection, DbError, DbResult, Refusal, events, per_backend, read, users};
use crate::schema::{
    auth_sessions, auth_users, chat_conversation_members, chat_conversations, chat_messages,
};

/// Sends written together at most.
const MAX_BATCH: usize = 64;

/// What a sender asks to send, validated.
#[derive(Debug, Clone)]
pub struct Draft {
    pub body: MessageBody,
    pub client_id: Option<ClientId>,
    pub reply_to: Option<MessageId>,
    pub files: Vec<AttachmentId>,
}

/// Sends a message from `sender`'s `session`. With a `client_id` this sender already
/// used in this conversation, answers that message instead (`false`: nothing new
/// was written).
pub async fn send(
    db: &Db,
    conversation: ConversationId,
    session: SessionId,
    sender: UserId,
    draft: Draft,
) -> DbResult<(Message, bool)> {
    let queue = db
        .send_queue()
        .ok_or_else(|| DbError::Batch("no send writer".into()))?;
    // Files and mentions are recorded step by step, outside the batch statement.
    let by_steps = !draft.files.is_empty() || super::mentions::any(draft.body.as_str());
    let client_id = draft.client_id;
    let mut outgoing = Send::new(
        conversation,
        session,
        sender,
        draft,
        db.is_postgres() && !by_steps,
    )?;
    let sent = if by_steps {
        crate::db::write(db, move |conn| {
            let checked = conn.transaction(|conn| send_step_by_step(conn, &mut outgoing))?;
            Ok(checked.outcome(outgoing))
        })
        .await?
    } else {
        queue.send(outgoing).await?
    };
    match sent {
        Sent::New(message) => Ok((*message, true)),
        Sent::Existing(sender) => {
            let client_id = client_id.map(|id| id.to_string());
            read(db, move |conn| {
                let row = existing(conn, conversation, sender.id, client_id.as_deref())?
                    .ok_or(Refusal::NotFound)?;
                let caller = sender.id;
                Ok((with_details(conn, &row, Some(sender), caller)?, false))
            })
            .await
        }
        Sent::Closed => Err(Refusal::Closed.into()),
        Sent::NoSuchReplyTarget => Err(Refusal::Invalid(FieldError::new(
            "reply_to_id",
            ValidationError::NotInConversation,
        ))
        .into()),
        Sent::FilesRefused => Err(Refusal::Invalid(FieldError::new(
            "attachment_ids",
            ValidationError::NotMyUpload,
        ))
        .into()),
        Sent::NotFound => Err(Refusal::NotFound.into()),
        Sent::SignedOut => Err(Refusal::SignedOut.into()),
    }
}

/// The message this sender sent here with `client_id` (rule 3).
fn existing(
    conn: &mut DbConnection,
    conversation: ConversationId,
    sender: UserId,
    client_id: Option<&str>,
) -> QueryResult<Option<MessageRow>> {
    chat_messages::table
        .filter(chat_messages::conversation_id.eq(conversation.get()))
        .filter(chat_messages::sender_id.eq(sender.get()))
        .filter(chat_messages::client_id.eq(client_id))
        .select(MessageRow::as_select())
        .first(conn)
        .optional()
}

/// What a send came to.
#[derive(Debug)]
pub enum Sent {
    New(Box<Message>),
    /// This sender already sent a message here with this `client_id` (rule 3).
    Existing(User),
    /// Rule 5.
    Closed,
    /// Rule 5a.
    NoSuchReplyTarget,
    /// Rule 5b.
    FilesRefused,
    /// No such conversation, or the sender is not a member (rule 2).
    NotFound,
    /// The session is revoked or expired (rule 1).
    SignedOut,
}

/// One send as the writer takes it: the message as it will be but for what only the
/// database knows (its id, its sender's nickname and its time).
pub struct Send {
    session: SessionId,
    sender: UserId,
    client_id: Option<String>,
    reply_to: Option<MessageId>,
    /// Files to attach (rule 5b), and whether they were refused.
    files: Vec<AttachmentId>,
    files_refused: bool,
    message: Message,
    /// On PostgreSQL, its event's payload cut around those (SQLite writes the event
    /// whole, once it knows them).
    event: Option<PayloadPieces>,
}

impl Send {
    fn new(
        conversation: ConversationId,
        session: SessionId,
        sender: UserId,
        draft: Draft,
        on_postgres: bool,
    ) -> DbResult<Self> {
        let Draft {
            body,
            client_id,
            reply_to,
            files,
        } = draft;
        let message = Message {
            id: MessageId(0),
            conversation_id: conversation,
            sender: Some(User {
                id: sender,
                nickname: String::new(),
            }),
            content: body.into_inner(),
            client_id,
            created_at: DateTime::UNIX_EPOCH,
            version: 1,
            edited_at: None,
            deleted: false,
            reply_to: None,
            attachments: Vec::new(),
            reactions: Vec::new(),
            seen_by: Vec::new(),
        };
        let event = on_postgres
            .then(|| PayloadPieces::of(&message))
            .transpose()
            .map_err(|error| DbError::Batch(format!("{error:#}")))?;
        Ok(Self {
            session,
            sender,
            client_id: client_id.as_ref().map(ToString::to_string),
            reply_to,
            files,
            files_refused: false,
            message,
            event,
        })
    }

    fn conversation(&self) -> i64 {
        self.message.conversation_id.get()
    }

    fn sender(&self) -> i64 {
        self.sender.get()
    }
}

/// What the database found and did for one send: rules 1 to 3 as facts, then, for a
/// send that passed them, whether the conversation was closed (rules 4 and 5) and
/// the new message's id and time (rule 6).
#[derive(Debug, QueryableByName)]
struct Checked {
    /// The sender's, when the session is live (rule 1).
    #[diesel(sql_type = Nullable<Text>)]
    nickname: Option<String>,
    #[diesel(sql_type = Bool)]
    member: bool,
    #[diesel(sql_type = Bool)]
    existing: bool,
    #[diesel(sql_type = Nullable<Bool>)]
    closed: Option<bool>,
    /// What the send answers, as a reply shows it (rule 5a); `None` when it answers
    /// nothing, or the message is not there to answer.
    #[diesel(sql_type = Nullable<Text>)]
    reply_to: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    id: Option<i64>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    created_at: Option<NaiveDateTime>,
}

impl Checked {
    /// What `send` came to, given these facts: the one place that decides.
    fn outcome(self, mut send: Send) -> Sent {
        let Some(nickname) = self.nickname else {
            return Sent::SignedOut;
        };
        let sender = User {
            id: send.sender,
            nickname,
        };
        send.message.sender = Some(sender.clone());
        if !self.member {
            return Sent::NotFound;
        }
        match (self.existing, self.closed, self.id, self.created_at) {
            (true, ..) => Sent::Existing(sender),
            (_, _, Some(id), Some(created_at)) => {
                send.message.id = MessageId(id);
                send.message.created_at = utc(created_at);
                send.message.reply_to = self
                    .reply_to
                    .and_then(|json| serde_json::from_str(&json).ok());
                Sent::New(Box::new(send.message))
            }
            (_, Some(true), ..) => Sent::Closed,
            (_, Some(false), ..) if send.files_refused => Sent::FilesRefused,
            (_, Some(false), ..) if send.reply_to.is_some() && self.reply_to.is_none() => {
                Sent::NoSuchReplyTarget
            }
            // A concurrent send with the same client_id committed first (rule 3).
            (_, Some(false), ..) => Sent::Existing(sender),
            (_, None, ..) => Sent::NotFound,
        }
    }
}

/// The node's queue of sends waiting for the writer.
#[derive(Clone)]
pub struct SendQueue {
    queue: mpsc::SyncSender<Pending>,
}

/// Sends that may wait for the writer: 4 full batches, a few tens of milliseconds of
/// its work. Beyond it a send is answered 503 at once, so an overload is refused
/// rather than turned into ever longer waits (and ever more memory).
const MAX_QUEUED: usize = 4 * MAX_BATCH;

struct Pending {
    send: Send,
    reply: oneshot::Sender<DbResult<Sent>>,
}

/// PostgreSQL kept planning [`SEND_MANY`] anew for each batch (a custom plan, since it
/// knows each batch's size), which cost more than running it: the writer's own
/// connection uses one generic plan, made once, for every batch.
const WRITER_SESSION: &str = "SET plan_cache_mode = force_generic_plan";

impl SendQueue {
    /// Starts the writer, with a connection of its own (opened in the background
    /// now, and again whenever it is lost; waited for at most `timeout`), writing
    /// through `db`. It stops once every clone of the
    /// queue is gone.
    pub(crate) fn start(db: Db, url: &DatabaseUrl, timeout: Duration) -> anyhow::Result<Self> {
        let session = matches!(url, DatabaseUrl::Postgres(_)).then_some(WRITER_SESSION);
        let pool = Pool::builder()
            .max_size(1)
            .min_idle(Some(1))
            .connection_timeout(timeout)
            .build_unchecked(Manager::new(url.clone(), session));
        let (queue, waiting) = mpsc::sync_channel(MAX_QUEUED);
        std::thread::Builder::new()
            .name("natter-sends".into())
            .spawn(move || work(&db, &pool, &waiting))
            .context("cannot start the send writer")?;
        Ok(Self { queue })
    }

    /// Queues `send` and waits for the writer's answer.
    async fn send(&self, send: Send) -> DbResult<Sent> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Pending { send, reply })
            .map_err(|error| match error {
                mpsc::TrySendError::Full(_) => DbError::Busy("the send queue is full"),
                mpsc::TrySendError::Disconnected(_) => {
                    DbError::Batch("the send writer has stopped".into())
                }
            })?;
        answer
            .await
            .map_err(|_| DbError::Batch("the send writer dropped a send".into()))?
    }
}

fn work(db: &Db, pool: &Pool<Manager>, waiting: &mpsc::Receiver<Pending>) {
    while let Some(batch) = next_batch(waiting) {
        let (sends, replies): (Vec<Send>, Vec<_>) =
            batch.into_iter().map(|p| (p.send, p.reply)).unzip();
        // A panic is a bug; it fails this batch's requests (500), not the writer.
        match std::panic::catch_unwind(AssertUnwindSafe(|| write(db, pool, sends))) {
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
fn write(db: &Db, pool: &Pool<Manager>, sends: Vec<Send>) -> Vec<DbResult<Sent>> {
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => return all_failed(&sends, &DbError::from(error)),
    };
    let results = write_on(db, &mut conn, sends);
    conn.used(
        results
            .iter()
            .filter_map(|result| result.as_ref().err())
            .all(DbError::leaves_connection_sound),
    );
    if results.iter().any(Result::is_ok) {
        events::wrote_events();
    }
    results
}

fn write_on(db: &Db, conn: &mut DbConnection, mut sends: Vec<Send>) -> Vec<DbResult<Sent>> {
    let written = write_batch(db, conn, &mut sends);
    if sends.len() > 1 {
        tracing::debug!(sends = sends.len(), "sends written together");
    }
    if written.is_ok() {
        #[allow(clippy::cast_precision_loss)] // a batch is at most a few hundred sends
        metrics::histogram!(crate::metrics::SEND_BATCH).record(sends.len() as f64);
    }
    match written {
        Ok(rows) if rows.len() == sends.len() => sends
            .into_iter()
            .zip(rows)
            .map(|(send, row)| Ok(row.outcome(send)))
            .collect(),
        Ok(rows) => {
            // Committed, but not answered as asked: a bug, and not one to retry.
            let error = DbError::Batch(format!(
                "{} sends written, {} answers",
                sends.len(),
                rows.len()
            ));
            all_failed(&sends, &error)
        }
        // The database refused the batch, so nothing of it was written: one send that
        // fails must not fail the others, so each goes on its own.
        Err(error @ diesel::result::Error::DatabaseError(..))
            if sends.len() > 1 && !crate::db::error::is_connection_lost(&error) =>
        {
            tracing::warn!(%error, sends = sends.len(), "a batch of sends failed: sending them one by one");
            sends
                .into_iter()
                .map(|mut send| {
                    let mut row = write_batch(db, conn, std::slice::from_mut(&mut send))?;
                    let row = row
                        .pop()
                        .ok_or_else(|| DbError::Batch("a send went unanswered".into()))?;
                    Ok(row.outcome(send))
                })
                .collect()
        }
        // Anything else may have come after the commit: the client's retry with its
        // client_id finds what was written.
        Err(error) => all_failed(&sends, &DbError::from(error)),
    }
}

/// The same failure for every send of a batch.
fn all_failed(sends: &[Send], error: &DbError) -> Vec<DbResult<Sent>> {
    sends.iter().map(|_| Err(error.echo())).collect()
}

impl DbError {
    /// This error again, for each send of a batch that it failed. The connection's
    /// loss stays a loss (503); any other cause is logged here once and answered
    /// as a failed batch.
    fn echo(&self) -> Self {
        if self.is_connection_lost() {
            Self::NoConnection(self.to_string())
        } else {
            Self::Batch(self.to_string())
        }
    }
}

/// Writes `sends` by the rules above, answering one [`Checked`] per send in order.
fn write_batch(db: &Db, conn: &mut DbConnection, sends: &mut [Send]) -> QueryResult<Vec<Checked>> {
    match conn {
        DbConnection::Pg(pg) => send_on_postgres(pg, sends),
        DbConnection::Sqlite(_) => db.write_blocking(conn, |conn| {
            sends
                .iter_mut()
                .map(|send| send_step_by_step(conn, send))
                .collect()
        }),
    }
}

/// The rules step by step, one send at a time, inside a transaction: SQLite's
/// writer's `BEGIN IMMEDIATE` (SQLite has one writer at a time, so the transaction
/// holds the only lock there is from before the first check), or a send with files
/// on either backend (PostgreSQL locks the conversation's row for rule 4).
fn send_step_by_step(conn: &mut DbConnection, send: &mut Send) -> QueryResult<Checked> {
    let conversation = send.conversation();
    let mut checked = check_sender(conn, send)?;
    let Some(nickname) = checked.nickname.clone() else {
        return Ok(checked);
    };
    if !checked.member || checked.existing {
        return Ok(checked);
    }
    // Rules 4 and 5.
    let closed = lock_conversation(conn, conversation)?;
    checked.closed = Some(closed);
    if closed {
        return Ok(checked);
    }
    // Rule 5a.
    let reply_to = match send.reply_to {
        Some(target) => {
            let Some(shown) = reply_target_on_sqlite(conn, conversation, target)? else {
                return Ok(checked);
            };
            checked.reply_to = Some(
                serde_json::to_string(&shown)
                    .map_err(|error| diesel::result::Error::SerializationError(error.into()))?,
            );
            Some(shown)
        }
        None => None,
    };
    // Rule 5b.
    let files = if send.files.is_empty() {
        Vec::new()
    } else {
        let found = attachments::attachable(conn, send.sender, &send.files)?;
        if found.len() != send.files.len() {
            send.files_refused = true;
            return Ok(checked);
        }
        found
    };
    // Rules 6 and 7: the time and the event number in one step.
    let (seq, now): (i64, NaiveDateTime) = per_backend!(conn, c => diesel::update(chat_conversations::table.find(conversation))
        .set((
            chat_conversations::last_activity_at.eq(database_now(c)),
            chat_conversations::last_event_seq.eq(chat_conversations::last_event_seq + 1),
        ))
        .returning((chat_conversations::last_event_seq, chat_conversations::last_activity_at))
        .get_result(c))?;
    let id: i64 = per_backend!(conn, c => diesel::insert_into(chat_messages::table)
        .values(&NewMessage {
            conversation_id: conversation,
            sender_id: send.sender(),
            content: &send.message.content,
            client_id: send.client_id.as_deref(),
            created_at: now,
            reply_to_id: send.reply_to.map(MessageId::get),
        })
        .returning(chat_messages::id)
        .get_result(c))?;
    attachments::attach(conn, id, &files)?;
    super::mentions::record(conn, conversation, send.sender(), id, &send.message.content)?;
    // Rule 8.
    diesel::update(
        chat_conversation_members::table
            .find((conversation, send.sender()))
            .filter(
                chat_conversation_members::last_seen_message_id
                    .is_null()
                    .or(chat_conversation_members::last_seen_message_id.lt(id)),
            ),
    )
    .set(chat_conversation_members::last_seen_message_id.eq(id))
    .execute(conn)?;
    send.message.attachments = files.iter().map(AttachmentRow::to_attachment).collect();
    let mut message = send.message.clone();
    message.id = MessageId(id);
    message.created_at = utc(now);
    message.sender = Some(User {
        id: send.sender,
        nickname: nickname.clone(),
    });
    message.reply_to = reply_to;
    events::append_numbered(
        conn,
        conversation,
        seq,
        None,
        &Event::MessageCreated { message },
    )?;
    checked.id = Some(id);
    checked.created_at = Some(now);
    Ok(checked)
}

/// Rules 1 to 3 step by step: the session, membership, and a retried `client_id`.
fn check_sender(conn: &mut DbConnection, send: &Send) -> QueryResult<Checked> {
    let (conversation, sender) = (send.conversation(), send.sender());
    let mut checked = Checked {
        nickname: None,
        member: false,
        existing: false,
        closed: None,
        reply_to: None,
        id: None,
        created_at: None,
    };
    // Rule 1, on the database's clock.
    checked.nickname = per_backend!(conn, c => auth_sessions::table
        .inner_join(auth_users::table)
        .filter(auth_sessions::id.eq(send.session.get()))
        .filter(auth_sessions::user_id.eq(sender))
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::expires_at.gt(database_now(c)))
        .select(auth_users::nickname)
        .first::<String>(c)
        .optional())?;
    // Rule 2.
    checked.member = diesel::select(diesel::dsl::exists(
        chat_conversation_members::table.find((conversation, sender)),
    ))
    .get_result(conn)?;
    // Rule 3.
    checked.existing = send.client_id.is_some()
        && existing(
            conn,
            send.message.conversation_id,
            send.sender,
            send.client_id.as_deref(),
        )?
        .is_some();
    Ok(checked)
}

/// Rule 5a on SQLite: what a reply to `target` shows of it, if it is a message of
/// `conversation` that is not deleted.
fn reply_target_on_sqlite(
    conn: &mut DbConnection,
    conversation: i64,
    target: MessageId,
) -> QueryResult<Option<ReplyTo>> {
    let target = chat_messages::table
        .left_join(auth_users::table)
        .filter(chat_messages::id.eq(target.get()))
        .filter(chat_messages::conversation_id.eq(conversation))
        .filter(chat_messages::deleted_at.is_null())
        .select((MessageRow::as_select(), Option::<UserRow>::as_select()))
        .first::<(MessageRow, Option<UserRow>)>(conn)
        .optional()?;
    Ok(target.map(|(row, sender)| {
        bare_message(&row, sender.as_ref().map(users::to_user)).as_reply_target()
    }))
}

// The rules as PostgreSQL takes them: each rule's SQL is written once, in the macros
// below, and both statements are put together from them. One send is [`SEND_ONE`]; a
// batch is [`SEND_MANY`], which also maps each message to its send and numbers several
// events per conversation. (A batch of one through SEND_MANY cost 15–20% more
// PostgreSQL time per send than SEND_ONE: its windows, sorts and joins do nothing for
// one send.)

/// Each send's values, one row each, and its number `n` in the batch (from 1).
macro_rules! send_columns {
    () => {
        "session_id, conversation_id, sender_id, content, client_id, reply_to_id, head, \
         after_id, after_nickname, after_created_at, tail, n"
    };
}

/// Rules 1 to 3 for each send `p`, as index lookups (`LATERAL … LIMIT 1`): the session
/// is live on the database's clock, the sender is a member, and whether this sender
/// already used this `client_id` here.
macro_rules! checked {
    () => {
        "SELECT p.*, s.nickname, m.member IS NOT NULL AS member, \
                e.existing IS NOT NULL AS existing \
           FROM p \
           LEFT JOIN LATERAL ( \
             SELECT u.nickname FROM auth_sessions s JOIN auth_users u ON u.id = s.user_id \
              WHERE s.id = p.session_id AND s.user_id = p.sender_id \
                AND s.revoked_at IS NULL AND s.expires_at > (now() AT TIME ZONE 'UTC') \
              LIMIT 1) AS s ON true \
           LEFT JOIN LATERAL ( \
             SELECT true AS member FROM chat_conversation_members m \
              WHERE m.conversation_id = p.conversation_id AND m.user_id = p.sender_id \
              LIMIT 1) AS m ON true \
           LEFT JOIN LATERAL ( \
             SELECT true AS existing FROM chat_messages e \
              WHERE e.conversation_id = p.conversation_id AND e.sender_id = p.sender_id \
                AND e.client_id = p.client_id LIMIT 1) AS e ON true"
    };
}

/// Whether the send `k` passed rules 1 to 3: a live session, a member, no retry.
macro_rules! passed {
    () => {
        "(k.nickname IS NOT NULL AND k.member AND NOT k.existing)"
    };
}

/// Rule 4: the conversations of the sends `k` that passed rules 1 to 3, locked in id
/// order.
macro_rules! locked {
    () => {
        concat!(
            "SELECT c.id, c.closed_at FROM chat_conversations c \
              WHERE c.id IN (SELECT k.conversation_id FROM checked k WHERE ",
            passed!(),
            ") ORDER BY c.id FOR UPDATE OF c"
        )
    };
}

/// Rule 5a: what each send `k` that passed rules 1 to 4 answers, as its event shows it
/// (`reply_to`, JSON), read after the conversation's lock: `FOR SHARE` reads the row
/// as a deletion that held the lock left it, not as the statement's snapshot did.
/// The excerpt is `natter_domain::api::excerpt` in SQL.
macro_rules! replied {
    () => {
        "SELECT k.n, json_build_object( \
                  'id', r.id, \
                  'sender', CASE WHEN u.id IS NULL THEN NULL \
                                 ELSE json_build_object('id', u.id, 'nickname', u.nickname) END, \
                  'excerpt', CASE WHEN char_length(r.content) <= 140 THEN r.content \
                                  ELSE left(r.content, 139) || '…' END, \
                  'deleted', false)::text AS reply_to \
           FROM checked k \
           JOIN locked l ON l.id = k.conversation_id \
           JOIN chat_messages r ON r.id = k.reply_to_id AND r.conversation_id = k.conversation_id \
           LEFT JOIN auth_users u ON u.id = r.sender_id \
          WHERE r.deleted_at IS NULL \
            FOR SHARE OF r"
    };
}

/// Rule 5a for a batch in which no send answers a message: nothing to read. (Most
/// sends answer nothing; reading and locking for them cost 4% of send throughput.)
macro_rules! no_reply {
    () => {
        "SELECT k.n, NULL::text AS reply_to FROM checked k WHERE false"
    };
}

/// Whether send `k` may be written after rule 5a: it answers nothing, or a message
/// found by [`replied!`] as `rp`.
macro_rules! reply_found {
    () => {
        "(k.reply_to_id IS NULL OR rp.n IS NOT NULL)"
    };
}

/// Rule 6: a message's time, on the database's clock, taken after the locks.
macro_rules! message_time {
    () => {
        "clock_timestamp() AT TIME ZONE 'UTC'"
    };
}

/// Rule 3 again: of two sends with one `client_id` at once, the first is written.
macro_rules! on_retry {
    () => {
        "ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING"
    };
}

/// Rule 7: the event of message `i` (with `i.id` and `i.created_at`) of send `k`,
/// numbered `$seq`; its payload is spliced around what only the statement knows (see
/// [`PayloadPieces`]).
macro_rules! event_values {
    ($seq:literal) => {
        concat!(
            "SELECT i.conversation_id, ",
            $seq,
            ", ?, k.head || to_json(i.id)::text || k.after_id || to_json(k.nickname)::text \
               || k.after_nickname \
               || to_json(to_char(i.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text \
               || k.after_created_at || coalesce(rp.reply_to, 'null') || k.tail, i.id"
        )
    };
}

/// What each send came to, as [`BatchRow`] reads it: `k` its checks, `l` its locked
/// conversation, `i` its message.
macro_rules! answer {
    () => {
        "k.n, k.nickname, k.member, k.existing, l.closed_at IS NOT NULL AS closed, \
         rp.reply_to, i.id, i.created_at"
    };
}

/// Rule 8: my own message is read by me: my read pointer moves past the newest I
/// sent (`$sent`: rows of conversation_id, sender_id, id), never back.
macro_rules! read_own {
    ($sent:literal) => {
        concat!(
            "UPDATE chat_conversation_members m SET last_seen_message_id = s.id \
               FROM ",
            $sent,
            " AS s \
              WHERE m.conversation_id = s.conversation_id AND m.user_id = s.sender_id \
                AND (m.last_seen_message_id IS NULL OR m.last_seen_message_id < s.id)"
        )
    };
}

/// One send in one autocommit statement.
macro_rules! send_one {
    ($replied:expr) => {
        concat!(
            "WITH p (",
            send_columns!(),
            ") AS (SELECT ?::bigint, ?::bigint, ?::bigint, ?::text, ?::text, ?::bigint, ?::text, \
                          ?::text, ?::text, ?::text, ?::text, 1::bigint), \
             checked AS (",
            checked!(),
            "), locked AS (",
            locked!(),
            "), replied AS (",
            $replied,
            "), inserted AS ( \
               INSERT INTO chat_messages (conversation_id, sender_id, content, client_id, created_at, \
                                          reply_to_id) \
               SELECT k.conversation_id, k.sender_id, k.content, k.client_id, ",
            message_time!(),
            ", k.reply_to_id \
                 FROM checked k JOIN locked l ON l.id = k.conversation_id \
                 LEFT JOIN replied rp ON rp.n = k.n \
                WHERE l.closed_at IS NULL AND ",
            reply_found!(),
            " ",
            on_retry!(),
            "  RETURNING id, conversation_id, created_at, sender_id), \
             bumped AS ( \
               UPDATE chat_conversations c \
                  SET last_event_seq = c.last_event_seq + 1, last_activity_at = i.created_at \
                 FROM inserted i WHERE c.id = i.conversation_id \
               RETURNING c.last_event_seq AS seq), \
             read_own AS (",
            read_own!("inserted"),
            "), \
             event AS ( \
               INSERT INTO chat_events (conversation_id, seq, kind, payload, message_id) ",
            event_values!("b.seq"),
            "  FROM checked k CROSS JOIN inserted i CROSS JOIN bumped b \
                 LEFT JOIN replied rp ON rp.n = k.n) \
             SELECT ",
            answer!(),
            "  FROM checked k LEFT JOIN locked l ON true LEFT JOIN inserted i ON true \
               LEFT JOIN replied rp ON rp.n = k.n"
        )
    };
}

/// Many sends in one autocommit statement, answering one row per send in their order.
/// Beyond [`SEND_ONE`]: message ids (`nextval`) and times are taken after the locks in
/// the batch's order (`taken`), so within a conversation ids, times and event numbers
/// agree and each message is known by its send; a conversation's event numbers
/// continue from its count of new messages (`numbered`, `bumped`).
macro_rules! send_many {
    ($replied:expr) => {
        concat!(
            "WITH p AS MATERIALIZED ( \
               SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], \
                                    ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], \
                                    ?::text[]) \
                 WITH ORDINALITY AS p(",
            send_columns!(),
            ")), checked AS MATERIALIZED (",
            checked!(),
            "), locked AS MATERIALIZED (",
            locked!(),
            "), replied AS MATERIALIZED (",
            $replied,
            "), taken AS MATERIALIZED ( \
               SELECT o.n, nextval('chat_messages_id_seq'::regclass) AS id, ",
            message_time!(),
            " AS created_at \
                 FROM (SELECT k.n FROM checked k JOIN locked l ON l.id = k.conversation_id \
                         LEFT JOIN replied rp ON rp.n = k.n \
                        WHERE l.closed_at IS NULL AND ",
            passed!(),
            " AND ",
            reply_found!(),
            "     ORDER BY k.n) AS o), \
             inserted AS ( \
               INSERT INTO chat_messages (id, conversation_id, sender_id, content, client_id, created_at, \
                                          reply_to_id) \
               SELECT t.id, k.conversation_id, k.sender_id, k.content, k.client_id, t.created_at, \
                      k.reply_to_id \
                 FROM taken t JOIN checked k ON k.n = t.n ",
            on_retry!(),
            "  RETURNING id, conversation_id, created_at, sender_id), \
             read_own AS (",
            read_own!("(SELECT conversation_id, sender_id, max(id) AS id FROM inserted \
                          GROUP BY conversation_id, sender_id)"),
            "), \
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
               INSERT INTO chat_events (conversation_id, seq, kind, payload, message_id) ",
            event_values!("b.top - i.new + i.nth"),
            "  FROM numbered i JOIN bumped b ON b.id = i.conversation_id \
                 JOIN taken t ON t.id = i.id JOIN checked k ON k.n = t.n \
                 LEFT JOIN replied rp ON rp.n = k.n) \
             SELECT ",
            answer!(),
            "  FROM checked k \
               LEFT JOIN locked l ON l.id = k.conversation_id AND ",
            passed!(),
            "  LEFT JOIN replied rp ON rp.n = k.n \
               LEFT JOIN (inserted i JOIN taken t ON t.id = i.id) ON t.n = k.n \
              ORDER BY k.n"
        )
    };
}

/// One send that answers nothing, in one autocommit statement.
const SEND_ONE: &str = send_one!(no_reply!());
/// One send that answers a message.
const SEND_ONE_REPLYING: &str = send_one!(replied!());
/// Many sends, none answering a message, in one autocommit statement.
const SEND_MANY: &str = send_many!(no_reply!());
/// Many sends, some answering a message.
const SEND_MANY_REPLYING: &str = send_many!(replied!());

/// A row of [`SEND_ONE`] or [`SEND_MANY`]: which send (from 1), and its facts.
#[derive(QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(embed)]
    checked: Checked,
}

fn send_on_postgres(conn: &mut PgConnection, sends: &[Send]) -> QueryResult<Vec<Checked>> {
    let kind = EventKind::MessageCreated.name();
    let pieces: Vec<&[String; 5]> = sends
        .iter()
        .map(|send| send.event.as_ref().map(|event| &event.pieces))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            diesel::result::Error::QueryBuilderError("a send came without its payload".into())
        })?;
    let rows: Vec<BatchRow> = if let ([send], [pieces]) = (sends, pieces.as_slice()) {
        let [head, after_id, after_nickname, after_created_at, tail] =
            pieces.each_ref().map(String::as_str);
        PreparedSql {
            sql: if send.reply_to.is_some() {
                SEND_ONE_REPLYING
            } else {
                SEND_ONE
            },
            params: [
                Param::BigInt(send.session.get()),
                Param::BigInt(send.conversation()),
                Param::BigInt(send.sender()),
                Param::Text(&send.message.content),
                Param::NullableText(send.client_id.as_deref()),
                Param::NullableBigInt(send.reply_to.map(MessageId::get)),
                Param::Text(head),
                Param::Text(after_id),
                Param::Text(after_nickname),
                Param::Text(after_created_at),
                Param::Text(tail),
                Param::Text(kind),
            ],
        }
        .load(conn)?
    } else {
        let column = |f: fn(&Send) -> i64| sends.iter().map(f).collect::<Vec<i64>>();
        let session_ids = column(|s| s.session.get());
        let conversation_ids = column(Send::conversation);
        let sender_ids = column(Send::sender);
        let contents: Vec<&str> = sends.iter().map(|s| s.message.content.as_str()).collect();
        let client_ids: Vec<Option<&str>> = sends.iter().map(|s| s.client_id.as_deref()).collect();
        let reply_to_ids: Vec<Option<i64>> = sends
            .iter()
            .map(|s| s.reply_to.map(MessageId::get))
            .collect();
        let [head, after_id, after_nickname, after_created_at, tail] =
            std::array::from_fn::<_, 5, _>(|i| {
                pieces.iter().map(|p| p[i].as_str()).collect::<Vec<&str>>()
            });
        PreparedSql {
            sql: if sends.iter().any(|send| send.reply_to.is_some()) {
                SEND_MANY_REPLYING
            } else {
                SEND_MANY
            },
            params: [
                Param::BigInts(&session_ids),
                Param::BigInts(&conversation_ids),
                Param::BigInts(&sender_ids),
                Param::Texts(&contents),
                Param::NullableTexts(&client_ids),
                Param::NullableBigInts(&reply_to_ids),
                Param::Texts(&head),
                Param::Texts(&after_id),
                Param::Texts(&after_nickname),
                Param::Texts(&after_created_at),
                Param::Texts(&tail),
                Param::Text(kind),
            ],
        }
        .load(conn)?
    };
    let in_order = rows
        .iter()
        .map(|row| row.n)
        .eq(1..=i64::try_from(sends.len()).unwrap_or(i64::MAX));
    if !in_order {
        return Err(diesel::result::Error::DeserializationError(
            "the send statement answered its rows out of order".into(),
        ));
    }
    Ok(rows.into_iter().map(|row| row.checked).collect())
}

/// A `message_created` event's payload cut at the values only the statement knows:
/// the message's id, its sender's nickname, its time and what it answers. The
/// statement joins `pieces[0] || id || pieces[1] || nickname || pieces[2] || time ||
/// pieces[3] || reply_to || pieces[4]`, each value as JSON. The cuts are found by serializing the event with marker values
/// behind their keys; a quoted key can only be the structure's own (quotes inside
/// strings are escaped), and the marker values are nobody's.
#[derive(Debug)]
struct PayloadPieces {
    pieces: [String; 5],
}

impl PayloadPieces {
    /// Each hole: its key, and the marker value that stands in it.
    const HOLES: [(&str, &str); 4] = [
        ("\"id\":", "-9223372036854775808"),
        ("\"nickname\":", "\"natter:hole\""),
        ("\"created_at\":", "\"1970-01-01T00:00:00Z\""),
        ("\"reply_to\":", "null"),
    ];

    fn of(message: &Message) -> anyhow::Result<Self> {
        let mut marked = message.clone();
        marked.id = MessageId(i64::MIN);
        if let Some(sender) = &mut marked.sender {
            "natter:hole".clone_into(&mut sender.nickname);
        }
        marked.created_at = DateTime::UNIX_EPOCH;
        marked.reply_to = None;
        let (_, payload) = events::encode(&Event::MessageCreated { message: marked })?;
        let mut pieces: [String; 5] = Default::default();
        let mut rest = payload.as_str();
        for (piece, (key, marker)) in pieces.iter_mut().zip(Self::HOLES) {
            let at = rest
                .find(&format!("{key}{marker}"))
                .with_context(|| format!("no {key} marker in the message_created payload"))?;
            rest[..at + key.len()].clone_into(piece);
            rest = &rest[at + key.len() + marker.len()..];
        }
        rest.clone_into(&mut pieces[4]);
        Ok(Self { pieces })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_pieces_join_into_the_event_serde_writes() {
        let mut message = Message {
            id: MessageId(0),
            conversation_id: ConversationId(7),
            sender: Some(User {
                id: UserId(3),
                nickname: "ana \"id\":-9223372036854775808".into(),
            }),
            content: "\"created_at\":\"1970-01-01T00:00:00Z\" and {\"id\":1} \"reply_to\":null"
                .into(),
            client_id: None,
            created_at: DateTime::UNIX_EPOCH,
            version: 1,
            edited_at: None,
            deleted: false,
            reply_to: None,
            attachments: Vec::new(),
            reactions: Vec::new(),
            seen_by: Vec::new(),
        };
        let pieces = PayloadPieces::of(&message).expect("pieces");
        // What the statement does: each value as to_json writes it, the time with six
        // fractional digits as to_char writes it, the reply as json_build_object does.
        let [head, after_id, after_nickname, after_created_at, tail] = &pieces.pieces;
        let nickname_json = r#""béa \"""#;
        let reply_json =
            r#"{"id" : 12, "sender" : null, "excerpt" : "a \"b\"", "deleted" : false}"#;
        let joined = format!(
            r#"{head}4200000123{after_id}{nickname_json}{after_nickname}"2026-11-26T10:20:39.123456Z"{after_created_at}{reply_json}{tail}"#
        );
        message.sender = Some(User {
            id: UserId(3),
            nickname: "béa \"".into(),
        });
        message.id = MessageId(4_200_000_123);
        message.created_at = "2026-11-26T10:20:39.123456Z".parse().expect("time");
        message.reply_to = Some(ReplyTo {
            id: MessageId(12),
            sender: None,
            excerpt: "a \"b\"".into(),
            deleted: false,
        });
        let event = Event::MessageCreated { message };
        assert_eq!(
            serde_json::from_str::<Event>(&joined).expect("parse"),
            event
        );
    }

    #[test]
    fn the_facts_decide_the_outcome() {
        let facts = |nickname: Option<&str>, member, existing, closed, id: Option<i64>| Checked {
            nickname: nickname.map(Into::into),
            member,
            existing,
            closed,
            reply_to: None,
            id,
            created_at: id.map(|_| DateTime::UNIX_EPOCH.naive_utc()),
        };
        let send = || {
            let draft = Draft {
                body: MessageBody::parse("hi").expect("a body"),
                client_id: None,
                reply_to: None,
                files: Vec::new(),
            };
            Send::new(ConversationId(1), SessionId(2), UserId(3), draft, true).expect("a send")
        };
        let outcome = |checked: Checked| checked.outcome(send());
        assert!(matches!(
            outcome(facts(None, true, false, None, None)),
            Sent::SignedOut
        ));
        assert!(matches!(
            outcome(facts(Some("ada"), false, false, None, None)),
            Sent::NotFound
        ));
        assert!(matches!(
            outcome(facts(Some("ada"), true, true, None, None)),
            Sent::Existing(_)
        ));
        assert!(matches!(
            outcome(facts(Some("ada"), true, false, Some(true), None)),
            Sent::Closed
        ));
        assert!(matches!(
            outcome(facts(Some("ada"), true, false, Some(false), None)),
            Sent::Existing(_)
        ));
        match outcome(facts(Some("ada"), true, false, Some(false), Some(42))) {
            Sent::New(message) => {
                assert_eq!(message.id, MessageId(42));
                assert_eq!(message.sender.map(|s| s.nickname).as_deref(), Some("ada"));
            }
            other => panic!("a new message, not {other:?}"),
        }
    }
}
