//! A conversation's export: its members, then its messages page by page (each with
//! its reactions and receipts, and their times), for a streamed JSON document.

use diesel::prelude::*;
use natter_domain::api::{ExportedMember, ExportedMessage, ExportedReaction, User};
use natter_domain::{ConversationId, MessageId, UserId};

use super::history::{bare_page_after, reaction_lines};
use crate::db::clock::utc;
use crate::db::conversations::require_member;
use crate::db::models::ConversationRow;
use crate::db::{DbConnection, DbResult, attachments};
use crate::schema::{auth_users, chat_conversation_members, chat_conversations};

/// What comes before the messages: the conversation and its members.
pub struct Head {
    pub conversation: ConversationRow,
    pub members: Vec<ExportedMember>,
}

/// The conversation and its members, if `caller` is one.
pub fn head(conn: &mut DbConnection, id: ConversationId, caller: UserId) -> DbResult<Head> {
    require_member(conn, id, caller)?;
    let conversation = chat_conversations::table
        .find(id.get())
        .select(ConversationRow::as_select())
        .first(conn)?;
    let rows: Vec<(i64, String, bool, chrono::NaiveDateTime, Option<i64>)> =
        chat_conversation_members::table
            .inner_join(auth_users::table)
            .filter(chat_conversation_members::conversation_id.eq(id.get()))
            .order((
                chat_conversation_members::joined_at,
                chat_conversation_members::user_id,
            ))
            .select((
                auth_users::id,
                auth_users::nickname,
                chat_conversation_members::owner,
                chat_conversation_members::joined_at,
                chat_conversation_members::last_seen_message_id,
            ))
            .load(conn)?;
    let members = rows
        .into_iter()
        .map(
            |(user_id, nickname, owner, joined_at, last_seen)| ExportedMember {
                user: User {
                    id: UserId(user_id),
                    nickname,
                },
                owner,
                joined_at: utc(joined_at),
                last_seen_message_id: last_seen.map(MessageId),
            },
        )
        .collect();
    Ok(Head {
        conversation,
        members,
    })
}

/// Up to `limit` messages after `after`, oldest first, each with its reactions and
/// who has seen it.
pub fn page(
    conn: &mut DbConnection,
    id: ConversationId,
    after: i64,
    limit: i64,
) -> DbResult<Vec<ExportedMessage>> {
    let messages = bare_page_after(conn, id, after, limit)?;
    let (Some(first), Some(last)) = (messages.first(), messages.last()) else {
        return Ok(Vec::new());
    };
    let mut reactions = reaction_lines(conn, id, first.id.get(), last.id.get())?
        .into_iter()
        .peekable();
    let ids: Vec<i64> = messages.iter().map(|m| m.id.get()).collect();
    let mut files = attachments::of_messages(conn, &ids)?;
    Ok(messages
        .into_iter()
        .map(|message| {
            let mut exported = Vec::new();
            // Both are in message order.
            while let Some(line) = reactions.next_if(|line| line.message_id == message.id.get()) {
                exported.push(ExportedReaction {
                    emoji: line.key,
                    unicode: line.unicode,
                    user: User {
                        id: UserId(line.user_id),
                        nickname: line.nickname,
                    },
                    created_at: utc(line.created_at),
                });
            }
            ExportedMessage {
                id: message.id,
                sender: message.sender,
                content: message.content,
                created_at: message.created_at,
                version: message.version,
                edited_at: message.edited_at,
                deleted: message.deleted,
                reply_to_id: message.reply_to.map(|to| to.id),
                attachments: files.remove(&message.id.get()).unwrap_or_default(),
                reactions: exported,
                seen_by: message.seen_by,
            }
        })
        .collect())
}
