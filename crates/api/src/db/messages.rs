//! Messages, their reactions and seen receipts. Every function checks membership of
//! the message's conversation first, so other people's messages do not exist here.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use natter_domain::api::{Message, MessagePage, ReactionSummary, SeenEntry, User, Watermark};
use natter_domain::event::Event;
use natter_domain::{
    ClientId, ConversationId, EmojiKey, ErrorCode, MessageBody, MessageId, UserId,
};

use crate::auth::TokenClaims;
use crate::db::conversations::{require_member, utc};
use crate::db::models::{EmojiRow, MemberRow, MessageRow, NewMessage, UserRow};
use crate::db::sends::PgSend;
use crate::db::{self, Db, DbConnection, database_now, events, per_backend, users};
use crate::error::ApiError;
use crate::schema::{
    auth_users, chat_conversation_members, chat_conversations, chat_emojis, chat_message_reactions,
    chat_messages, chat_seen_messages,
};

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 100;

fn closed() -> ApiError {
    ApiError::coded(
        ErrorCode::ConversationClosed,
        "this conversation is closed: it takes no new messages or reactions",
    )
}

fn ensure_open(conn: &mut DbConnection, conversation_id: i64) -> Result<(), ApiError> {
    let query = chat_conversations::table
        .find(conversation_id)
        .select(chat_conversations::closed_at);
    // A send or reaction and a concurrent close are ordered by a row lock on
    // PostgreSQL; SQLite runs one writer at a time anyway.
    let closed_at: Option<NaiveDateTime> = match conn {
        DbConnection::Pg(pg) => query.for_update().first(pg)?,
        DbConnection::Sqlite(sqlite) => query.first(sqlite)?,
    };
    if closed_at.is_some() {
        Err(closed())
    } else {
        Ok(())
    }
}

/// A message the caller may see (a member of its conversation), or 404.
fn visible_message(
    conn: &mut DbConnection,
    id: MessageId,
    caller: UserId,
) -> Result<(MessageRow, MemberRow), ApiError> {
    let message = chat_messages::table
        .find(id.get())
        .select(MessageRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound)?;
    let member = require_member(conn, ConversationId(message.conversation_id), caller)?;
    Ok((message, member))
}

fn bare_message(row: &MessageRow, sender: User) -> Message {
    Message {
        id: MessageId(row.id),
        conversation_id: ConversationId(row.conversation_id),
        sender,
        content: row.content.clone(),
        client_id: row
            .client_id
            .as_deref()
            .and_then(|id| ClientId::parse(id).ok()),
        created_at: utc(row.created_at),
        reactions: Vec::new(),
        seen_by: Vec::new(),
    }
}

/// Sends a message from the session's person, checking the session as
/// [`users::session_user`] does. With a `client_id` already used by this sender in
/// this conversation, returns that message instead (`false`: nothing new was written).
pub async fn send(
    db: &Db,
    conversation: ConversationId,
    session: TokenClaims,
    body: MessageBody,
    client_id: Option<ClientId>,
) -> Result<(Message, bool), ApiError> {
    let sent = match db.send_queue() {
        Some(queue) => {
            let send = PgSend::new(conversation, session, &body, client_id)?;
            queue.send(send).await?
        }
        None => {
            let client_id = client_id.map(|id| id.to_string());
            db::write(db, move |conn| {
                send_in_transaction(conn, conversation, session, &body, client_id.as_deref())
            })
            .await?
        }
    };
    match sent {
        Sent::New(message) => Ok((message, true)),
        // A retried send answers the message it already made, even once closed.
        Sent::Existing(sender) => {
            let client_id = client_id.map(|id| id.to_string());
            db::read(db, move |conn| {
                let row = existing_message(conn, conversation, sender.id, client_id.as_deref())?
                    .ok_or(ApiError::NotFound)?;
                let caller = sender.id;
                Ok((with_details(conn, &row, sender, caller)?, false))
            })
            .await
        }
        Sent::Closed => Err(closed()),
        Sent::NotFound => Err(ApiError::NotFound),
        Sent::SignedOut => Err(ApiError::unauthenticated()),
    }
}

/// What a send came to.
pub enum Sent {
    New(Message),
    /// This sender (here) already sent a message with this `client_id`.
    Existing(User),
    Closed,
    /// No such conversation, or the sender is not a member.
    NotFound,
    /// The session is revoked or expired.
    SignedOut,
}

fn existing_message(
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

/// The new message and its `message_created` event, as the portable transaction
/// writes them.
fn send_in_transaction(
    conn: &mut DbConnection,
    conversation: ConversationId,
    session: TokenClaims,
    body: &MessageBody,
    client_id: Option<&str>,
) -> Result<Sent, ApiError> {
    conn.transaction(|conn| {
        let Some(sender) = users::session_user(conn, session)? else {
            return Ok(Sent::SignedOut);
        };
        let sender = users::to_user(&sender);
        require_member(conn, conversation, sender.id)?;
        if client_id.is_some()
            && existing_message(conn, conversation, sender.id, client_id)?.is_some()
        {
            return Ok(Sent::Existing(sender));
        }
        // One UPDATE takes the conversation row's lock before the insert, so that
        // message ids and event numbers grow in commit order within a conversation
        // (and a concurrent close is ordered against this send); it also takes the
        // next event number and the time, which the message shares.
        let (closed_at, seq, now): (Option<NaiveDateTime>, i64, NaiveDateTime) =
            per_backend!(conn, c => diesel::update(chat_conversations::table.find(conversation.get()))
                .set((
                    chat_conversations::last_activity_at.eq(database_now(c)),
                    chat_conversations::last_event_seq.eq(chat_conversations::last_event_seq + 1),
                ))
                .returning((
                    chat_conversations::closed_at,
                    chat_conversations::last_event_seq,
                    chat_conversations::last_activity_at,
                ))
                .get_result(c))?;
        if closed_at.is_some() {
            return Ok(Sent::Closed);
        }
        let new = NewMessage {
            conversation_id: conversation.get(),
            sender_id: sender.id.get(),
            content: body.as_str(),
            client_id,
            created_at: now,
        };
        let row = per_backend!(conn, c => diesel::insert_into(chat_messages::table)
            .values(&new)
            .returning(MessageRow::as_returning())
            .get_result(c))?;
        let message = bare_message(&row, sender);
        events::append_numbered(
            conn,
            conversation.get(),
            seq,
            None,
            &Event::MessageCreated {
                message: message.clone(),
            },
        )?;
        Ok(Sent::New(message))
    })
}

fn with_details(
    conn: &mut DbConnection,
    row: &MessageRow,
    sender: User,
    caller: UserId,
) -> Result<Message, ApiError> {
    let mut messages = vec![bare_message(row, sender)];
    attach_details(
        conn,
        ConversationId(row.conversation_id),
        caller,
        &mut messages,
    )?;
    Ok(messages.remove(0))
}

/// A page of history, oldest first within the page. Keyset pagination on the
/// (conversation_id, id) index: every page costs the same at any depth.
pub fn history(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
    before: Option<MessageId>,
    after: Option<MessageId>,
    limit: i64,
) -> Result<MessagePage, ApiError> {
    require_member(conn, conversation, caller)?;
    let base = || {
        chat_messages::table
            .inner_join(auth_users::table)
            .filter(chat_messages::conversation_id.eq(conversation.get()))
            .select((MessageRow::as_select(), UserRow::as_select()))
            .into_boxed()
    };
    let mut rows: Vec<(MessageRow, UserRow)> = if let Some(after) = after {
        base()
            .filter(chat_messages::id.gt(after.get()))
            .order(chat_messages::id.asc())
            .limit(limit)
            .load(conn)?
    } else {
        let mut query = base();
        if let Some(before) = before {
            query = query.filter(chat_messages::id.lt(before.get()));
        }
        let mut rows: Vec<(MessageRow, UserRow)> = query
            .order(chat_messages::id.desc())
            .limit(limit)
            .load(conn)?;
        rows.reverse();
        rows
    };
    let exists = |conn: &mut DbConnection, older_than: Option<i64>, newer_than: Option<i64>| {
        // Ids are positive: the absent bound is no bound.
        let query = chat_messages::table
            .filter(chat_messages::conversation_id.eq(conversation.get()))
            .filter(chat_messages::id.lt(older_than.unwrap_or(i64::MAX)))
            .filter(chat_messages::id.gt(newer_than.unwrap_or(0)))
            .select(chat_messages::id);
        diesel::select(diesel::dsl::exists(query)).get_result::<bool>(conn)
    };
    let (has_older, has_newer) = match (rows.first(), rows.last()) {
        (Some((first, _)), Some((last, _))) => (
            exists(conn, Some(first.id), None)?,
            exists(conn, None, Some(last.id))?,
        ),
        _ => match (before, after) {
            (Some(before), _) => (
                exists(conn, Some(before.get()), None)?,
                exists(conn, None, Some(before.get() - 1))?,
            ),
            (None, Some(after)) => (exists(conn, Some(after.get() + 1), None)?, false),
            (None, None) => (false, false),
        },
    };
    let mut messages: Vec<Message> = rows
        .drain(..)
        .map(|(row, sender)| bare_message(&row, users::to_user(&sender)))
        .collect();
    attach_details(conn, conversation, caller, &mut messages)?;
    Ok(MessagePage {
        messages,
        has_older,
        has_newer,
    })
}

#[derive(QueryableByName)]
struct ReactionLine {
    #[diesel(sql_type = BigInt)]
    message_id: i64,
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Text)]
    unicode: String,
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    nickname: String,
}

#[derive(QueryableByName)]
struct SeenLine {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    nickname: String,
    #[diesel(sql_type = BigInt)]
    up_to_message_id: i64,
    #[diesel(sql_type = Timestamp)]
    seen_at: NaiveDateTime,
}

/// Fills in reactions and seen-by for messages of one conversation.
fn attach_details(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
    messages: &mut [Message],
) -> Result<(), ApiError> {
    let (Some(min), Some(max)) = (
        messages.iter().map(|m| m.id.get()).min(),
        messages.iter().map(|m| m.id.get()).max(),
    ) else {
        return Ok(());
    };
    // A page is a contiguous run of its conversation's messages, so its reactions
    // are those between its first and last message.
    let reactions = diesel::sql_query(
        "SELECT r.message_id, e.key, e.unicode, u.id AS user_id, u.nickname \
           FROM chat_message_reactions r \
           JOIN chat_emojis e ON e.id = r.emoji_id \
           JOIN auth_users u ON u.id = r.user_id \
          WHERE r.conversation_id = $1 AND r.message_id BETWEEN $2 AND $3 \
          ORDER BY r.message_id, e.id, r.created_at, r.id",
    )
    .bind::<BigInt, _>(conversation.get())
    .bind::<BigInt, _>(min)
    .bind::<BigInt, _>(max)
    .load::<ReactionLine>(conn)?;
    let mut by_message: HashMap<i64, Vec<ReactionSummary>> = HashMap::new();
    for line in reactions {
        let summaries = by_message.entry(line.message_id).or_default();
        let user = User {
            id: UserId(line.user_id),
            nickname: line.nickname,
        };
        let mine = user.id == caller;
        match summaries.iter_mut().find(|s| s.emoji == line.key) {
            Some(summary) => {
                summary.count += 1;
                summary.reacted_by_me |= mine;
                summary.users.push(user);
            }
            None => summaries.push(ReactionSummary {
                emoji: line.key,
                unicode: line.unicode,
                count: 1,
                reacted_by_me: mine,
                users: vec![user],
            }),
        }
    }

    // Each current member's watermark moves within the page, plus their first move
    // past it: enough to know when they first saw each message of the page.
    let seen = diesel::sql_query(
        "SELECT s.user_id, u.nickname, s.up_to_message_id, s.seen_at \
           FROM chat_seen_messages s \
           JOIN chat_conversation_members m ON m.conversation_id = s.conversation_id AND m.user_id = s.user_id \
           JOIN auth_users u ON u.id = s.user_id \
          WHERE s.conversation_id = $1 AND s.up_to_message_id BETWEEN $2 AND $3 \
         UNION ALL \
         SELECT s.user_id, u.nickname, s.up_to_message_id, s.seen_at \
           FROM chat_conversation_members m \
           JOIN auth_users u ON u.id = m.user_id \
           JOIN chat_seen_messages s ON s.id = ( \
                SELECT n.id FROM chat_seen_messages n \
                 WHERE n.conversation_id = m.conversation_id AND n.user_id = m.user_id \
                   AND n.up_to_message_id > $3 \
                 ORDER BY n.up_to_message_id LIMIT 1) \
          WHERE m.conversation_id = $1",
    )
    .bind::<BigInt, _>(conversation.get())
    .bind::<BigInt, _>(min)
    .bind::<BigInt, _>(max)
    .load::<SeenLine>(conn)?;
    let mut moves: BTreeMap<i64, (User, Vec<(i64, NaiveDateTime)>)> = BTreeMap::new();
    for line in seen {
        moves
            .entry(line.user_id)
            .or_insert_with(|| {
                (
                    User {
                        id: UserId(line.user_id),
                        nickname: line.nickname.clone(),
                    },
                    Vec::new(),
                )
            })
            .1
            .push((line.up_to_message_id, line.seen_at));
    }
    for (_, user_moves) in moves.values_mut() {
        user_moves.sort_unstable();
    }

    for message in messages.iter_mut() {
        message.reactions = by_message.remove(&message.id.get()).unwrap_or_default();
        let mut seen_by: Vec<SeenEntry> = moves
            .values()
            .filter(|(user, _)| user.id != message.sender.id)
            .filter_map(|(user, user_moves)| {
                // Watermarks only move forward in time, so the first move that covers
                // the message is when it was first seen.
                user_moves
                    .iter()
                    .find(|(up_to, _)| *up_to >= message.id.get())
                    .map(|(_, at)| SeenEntry {
                        user: user.clone(),
                        first_seen_at: utc(*at),
                    })
            })
            .collect();
        seen_by.sort_by_key(|entry| (entry.first_seen_at, entry.user.id));
        message.seen_by = seen_by;
    }
    Ok(())
}

/// Who has seen a message and when each first did (members other than its sender).
pub fn seen_by(
    conn: &mut DbConnection,
    id: MessageId,
    caller: UserId,
) -> Result<Vec<SeenEntry>, ApiError> {
    let (message, _) = visible_message(conn, id, caller)?;
    let sender = users::by_id(conn, UserId(message.sender_id))?.ok_or(ApiError::NotFound)?;
    let detailed = with_details(conn, &message, users::to_user(&sender), caller)?;
    Ok(detailed.seen_by)
}

/// Moves my watermark up to `up_to` (never backwards) and records when.
pub fn mark_seen(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
    up_to: MessageId,
) -> Result<Watermark, ApiError> {
    conn.transaction(|conn| {
        // Lock my membership row so that concurrent marks from several tabs queue up
        // (SQLite's single writer queues them already).
        let query = chat_conversation_members::table.find((conversation.get(), caller.get()));
        let member: MemberRow = match conn {
            DbConnection::Pg(pg) => query
                .select(MemberRow::as_select())
                .for_update()
                .first(pg)
                .optional()?,
            DbConnection::Sqlite(sqlite) => query
                .select(MemberRow::as_select())
                .first(sqlite)
                .optional()?,
        }
        .ok_or(ApiError::NotFound)?;
        let belongs = diesel::select(diesel::dsl::exists(
            chat_messages::table
                .filter(chat_messages::conversation_id.eq(conversation.get()))
                .filter(chat_messages::id.eq(up_to.get())),
        ))
        .get_result::<bool>(conn)?;
        if !belongs {
            return Err(ApiError::NotFound);
        }
        let moved = member
            .last_seen_message_id
            .is_none_or(|current| current < up_to.get());
        if moved {
            let seen_at = users::now();
            diesel::update(
                chat_conversation_members::table.find((conversation.get(), caller.get())),
            )
            .set(chat_conversation_members::last_seen_message_id.eq(up_to.get()))
            .execute(conn)?;
            diesel::insert_into(chat_seen_messages::table)
                .values((
                    chat_seen_messages::conversation_id.eq(conversation.get()),
                    chat_seen_messages::user_id.eq(caller.get()),
                    chat_seen_messages::up_to_message_id.eq(up_to.get()),
                    chat_seen_messages::seen_at.eq(seen_at),
                ))
                .execute(conn)?;
            let user = users::by_id(conn, caller)?.ok_or(ApiError::NotFound)?;
            events::append(
                conn,
                conversation.get(),
                None,
                &Event::SeenMoved {
                    conversation_id: conversation,
                    user: users::to_user(&user),
                    up_to_message_id: up_to,
                    seen_at: utc(seen_at),
                },
            )?;
        }
        let watermark = if moved {
            up_to.get()
        } else {
            member.last_seen_message_id.unwrap_or(up_to.get())
        };
        let unread: i64 = chat_messages::table
            .filter(chat_messages::conversation_id.eq(conversation.get()))
            .filter(chat_messages::id.gt(watermark))
            .filter(chat_messages::sender_id.ne(caller.get()))
            .count()
            .get_result(conn)?;
        Ok(Watermark {
            last_seen_message_id: Some(MessageId(watermark)),
            unread_count: unread,
        })
    })
}

fn emoji(conn: &mut DbConnection, key: &EmojiKey) -> Result<EmojiRow, ApiError> {
    chat_emojis::table
        .filter(chat_emojis::key.eq(key.as_str()))
        .select(EmojiRow::as_select())
        .first(conn)
        .optional()?
        .ok_or(ApiError::NotFound)
}

/// Adds (`true`) or removes (`false`) my reaction; doing it twice changes nothing.
/// Answers the message's reactions afterwards.
pub fn react(
    conn: &mut DbConnection,
    id: MessageId,
    caller: UserId,
    key: &EmojiKey,
    add: bool,
) -> Result<Vec<ReactionSummary>, ApiError> {
    conn.transaction(|conn| {
        let (message, _) = visible_message(conn, id, caller)?;
        let emoji = emoji(conn, key)?;
        ensure_open(conn, message.conversation_id)?;
        let changed = if add {
            let reaction = (
                chat_message_reactions::conversation_id.eq(message.conversation_id),
                chat_message_reactions::message_id.eq(message.id),
                chat_message_reactions::user_id.eq(caller.get()),
                chat_message_reactions::emoji_id.eq(emoji.id),
            );
            per_backend!(conn, c => diesel::insert_into(chat_message_reactions::table)
                .values(reaction)
                .on_conflict_do_nothing()
                .execute(c))?
        } else {
            diesel::delete(
                chat_message_reactions::table
                    .filter(chat_message_reactions::message_id.eq(message.id))
                    .filter(chat_message_reactions::user_id.eq(caller.get()))
                    .filter(chat_message_reactions::emoji_id.eq(emoji.id)),
            )
            .execute(conn)?
        };
        if changed > 0 {
            let user = users::to_user(&users::by_id(conn, caller)?.ok_or(ApiError::NotFound)?);
            let conversation_id = ConversationId(message.conversation_id);
            let event = if add {
                Event::ReactionAdded {
                    conversation_id,
                    message_id: id,
                    emoji: emoji.key.clone(),
                    unicode: emoji.unicode.clone(),
                    user,
                }
            } else {
                Event::ReactionRemoved {
                    conversation_id,
                    message_id: id,
                    emoji: emoji.key.clone(),
                    user,
                }
            };
            events::append(conn, message.conversation_id, None, &event)?;
        }
        let sender = users::by_id(conn, UserId(message.sender_id))?.ok_or(ApiError::NotFound)?;
        Ok(with_details(conn, &message, users::to_user(&sender), caller)?.reactions)
    })
}
