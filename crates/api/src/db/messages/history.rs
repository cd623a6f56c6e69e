//! Reading messages: keyset-paginated pages of a conversation's history, each
//! message with its reactions and who has seen it.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use natter_domain::api::{Message, MessagePage, ReactionSummary, ReplyTo, SeenEntry, User};
use natter_domain::{ConversationId, MessageId, UserId};

use super::bare_message;
use crate::db::clock::utc;
use crate::db::conversations::require_member;
use crate::db::models::{MessageRow, UserRow};
use crate::db::{DbConnection, DbResult, Refusal, attachments, users};
use crate::schema::{auth_users, chat_messages};

/// One message with its reactions and seen-by, as the caller sees them.
pub(super) fn with_details(
    conn: &mut DbConnection,
    row: &MessageRow,
    sender: Option<User>,
    caller: UserId,
) -> DbResult<Message> {
    let mut messages = vec![bare_message(row, sender)];
    attach_details(
        conn,
        ConversationId(row.conversation_id),
        caller,
        &mut messages,
    )?;
    attach_reply_targets(conn, &mut messages)?;
    Ok(messages.remove(0))
}

/// Fills in what each reply shows of the message it answers, as that message is now.
pub(super) fn attach_reply_targets(
    conn: &mut DbConnection,
    messages: &mut [Message],
) -> DbResult<()> {
    let ids: Vec<i64> = messages
        .iter()
        .filter_map(|message| message.reply_to.as_ref().map(|to| to.id.get()))
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    let targets: HashMap<MessageId, ReplyTo> = chat_messages::table
        .left_join(auth_users::table)
        .filter(chat_messages::id.eq_any(&ids))
        .select((MessageRow::as_select(), Option::<UserRow>::as_select()))
        .load::<(MessageRow, Option<UserRow>)>(conn)?
        .iter()
        .map(|(row, sender)| {
            let target = bare_message(row, sender.as_ref().map(users::to_user));
            (target.id, target.as_reply_target())
        })
        .collect();
    for message in messages {
        if let Some(reply_to) = &mut message.reply_to
            && let Some(target) = targets.get(&reply_to.id)
        {
            reply_to.clone_from(target);
        }
    }
    Ok(())
}

/// Up to `limit` messages after `after`, oldest first, with who has seen each (but
/// no reactions): a whole history read in order, page by page (the export).
pub(super) fn bare_page_after(
    conn: &mut DbConnection,
    conversation: ConversationId,
    after: i64,
    limit: i64,
) -> DbResult<Vec<Message>> {
    let rows: Vec<(MessageRow, Option<UserRow>)> = chat_messages::table
        .left_join(auth_users::table)
        .filter(chat_messages::conversation_id.eq(conversation.get()))
        .filter(chat_messages::id.gt(after))
        .order(chat_messages::id.asc())
        .limit(limit)
        .select((MessageRow::as_select(), Option::<UserRow>::as_select()))
        .load(conn)?;
    let mut messages: Vec<Message> = rows
        .iter()
        .map(|(row, sender)| bare_message(row, sender.as_ref().map(users::to_user)))
        .collect();
    attach_seen_by(conn, conversation, &mut messages)?;
    Ok(messages)
}

/// Where a page of history is: the newest messages, or those just before or after a
/// message, or those around one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Newest,
    Before(MessageId),
    After(MessageId),
    /// Centred on this message, which must be of the conversation.
    Around(MessageId),
}

/// A page of history, oldest first within the page. Keyset pagination on the
/// (conversation_id, id) index: every page costs the same at any depth.
pub fn history(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
    cursor: Cursor,
    limit: i64,
) -> DbResult<MessagePage> {
    require_member(conn, conversation, caller)?;
    let base = || {
        chat_messages::table
            .left_join(auth_users::table)
            .filter(chat_messages::conversation_id.eq(conversation.get()))
            .select((MessageRow::as_select(), Option::<UserRow>::as_select()))
            .into_boxed()
    };
    let (before, after) = match cursor {
        Cursor::Newest | Cursor::Around(_) => (None, None),
        Cursor::Before(id) => (Some(id), None),
        Cursor::After(id) => (None, Some(id)),
    };
    let mut rows: Vec<(MessageRow, Option<UserRow>)> = if let Cursor::Around(centre) = cursor {
        // The message and up to half the page before it, the rest after it.
        let mut rows: Vec<(MessageRow, Option<UserRow>)> = base()
            .filter(chat_messages::id.le(centre.get()))
            .order(chat_messages::id.desc())
            .limit(limit - limit / 2)
            .load(conn)?;
        if rows.first().is_none_or(|(row, _)| row.id != centre.get()) {
            return Err(Refusal::NotFound.into());
        }
        rows.reverse();
        let newer: Vec<(MessageRow, Option<UserRow>)> = base()
            .filter(chat_messages::id.gt(centre.get()))
            .order(chat_messages::id.asc())
            .limit(limit / 2)
            .load(conn)?;
        rows.extend(newer);
        rows
    } else if let Some(after) = after {
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
        let mut rows: Vec<(MessageRow, Option<UserRow>)> = query
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
                exists(conn, None, Some(before.get().saturating_sub(1)))?,
            ),
            (None, Some(after)) => (
                exists(conn, Some(after.get().saturating_add(1)), None)?,
                false,
            ),
            (None, None) => (false, false),
        },
    };
    let mut messages: Vec<Message> = rows
        .drain(..)
        .map(|(row, sender)| bare_message(&row, sender.as_ref().map(users::to_user)))
        .collect();
    attach_details(conn, conversation, caller, &mut messages)?;
    attach_reply_targets(conn, &mut messages)?;
    Ok(MessagePage {
        messages,
        has_older,
        has_newer,
    })
}

#[derive(QueryableByName)]
pub(super) struct ReactionLine {
    #[diesel(sql_type = BigInt)]
    pub message_id: i64,
    #[diesel(sql_type = Text)]
    pub key: String,
    #[diesel(sql_type = Text)]
    pub unicode: String,
    #[diesel(sql_type = BigInt)]
    pub user_id: i64,
    #[diesel(sql_type = Text)]
    pub nickname: String,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
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
) -> DbResult<()> {
    let Some((min, max)) = id_range(messages) else {
        return Ok(());
    };
    let reactions = reaction_lines(conn, conversation, min, max)?;
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
    let ids: Vec<i64> = messages.iter().map(|m| m.id.get()).collect();
    let mut files = attachments::of_messages(conn, &ids)?;
    for message in messages.iter_mut() {
        message.reactions = by_message.remove(&message.id.get()).unwrap_or_default();
        message.attachments = files.remove(&message.id.get()).unwrap_or_default();
    }
    attach_seen_by(conn, conversation, messages)
}

/// The lowest and highest id of a page.
fn id_range(messages: &[Message]) -> Option<(i64, i64)> {
    Some((
        messages.iter().map(|m| m.id.get()).min()?,
        messages.iter().map(|m| m.id.get()).max()?,
    ))
}

/// Every reaction to messages `min..=max` of `conversation`, by message, emoji and
/// time. A page is a contiguous run of its conversation's messages, so its reactions
/// are those between its first and last message.
pub(super) fn reaction_lines(
    conn: &mut DbConnection,
    conversation: ConversationId,
    min: i64,
    max: i64,
) -> DbResult<Vec<ReactionLine>> {
    Ok(diesel::sql_query(
        "SELECT r.message_id, e.key, e.unicode, u.id AS user_id, u.nickname, r.created_at \
           FROM chat_message_reactions r \
           JOIN chat_emojis e ON e.id = r.emoji_id \
           JOIN auth_users u ON u.id = r.user_id \
          WHERE r.conversation_id = $1 AND r.message_id BETWEEN $2 AND $3 \
          ORDER BY r.message_id, e.id, r.created_at, r.id",
    )
    .bind::<BigInt, _>(conversation.get())
    .bind::<BigInt, _>(min)
    .bind::<BigInt, _>(max)
    .load::<ReactionLine>(conn)?)
}

/// Fills in who has seen each message of the page and when they first did.
pub(super) fn attach_seen_by(
    conn: &mut DbConnection,
    conversation: ConversationId,
    messages: &mut [Message],
) -> DbResult<()> {
    let Some((min, max)) = id_range(messages) else {
        return Ok(());
    };

    // Each current member's receipts within the page, plus their first one past it:
    // enough to know when they first saw each message of the page. Someone who does
    // not share read receipts shows in none.
    let seen = diesel::sql_query(
        "SELECT s.user_id, u.nickname, s.up_to_message_id, s.seen_at \
           FROM chat_seen_messages s \
           JOIN chat_conversation_members m ON m.conversation_id = s.conversation_id AND m.user_id = s.user_id \
           JOIN auth_users u ON u.id = s.user_id AND u.share_read_receipts \
          WHERE s.conversation_id = $1 AND s.up_to_message_id BETWEEN $2 AND $3 \
         UNION ALL \
         SELECT s.user_id, u.nickname, s.up_to_message_id, s.seen_at \
           FROM chat_conversation_members m \
           JOIN auth_users u ON u.id = m.user_id AND u.share_read_receipts \
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
        let mut seen_by: Vec<SeenEntry> = moves
            .values()
            .filter(|(user, _)| !message.sent_by(user.id))
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
