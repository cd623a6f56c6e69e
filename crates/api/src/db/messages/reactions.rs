//! Reactions: each emoji once per person per message, only while the conversation is
//! open and the message is not deleted.

use diesel::prelude::*;
use natter_domain::api::ReactionSummary;
use natter_domain::event::Event;
use natter_domain::{ConversationId, EmojiKey, ErrorCode, MessageId, UserId};

use super::history::with_details;
use super::{current_row, lock_conversation, visible_message};
use crate::db::models::EmojiRow;
use crate::db::{DbConnection, DbResult, Refusal, events, per_backend, users};
use crate::schema::{chat_emojis, chat_message_reactions};

fn emoji(conn: &mut DbConnection, key: &EmojiKey) -> DbResult<EmojiRow> {
    chat_emojis::table
        .filter(chat_emojis::key.eq(key.as_str()))
        .select(EmojiRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Refusal::NotFound.into())
}

/// Adds (`true`) or removes (`false`) my reaction; doing it twice changes nothing.
/// Answers the message's reactions afterwards.
pub fn react(
    conn: &mut DbConnection,
    id: MessageId,
    caller: UserId,
    key: &EmojiKey,
    add: bool,
) -> DbResult<Vec<ReactionSummary>> {
    conn.transaction(|conn| {
        let (message, _) = visible_message(conn, id, caller)?;
        let emoji = emoji(conn, key)?;
        if lock_conversation(conn, message.conversation_id)? {
            return Err(Refusal::Closed.into());
        }
        let message = current_row(conn, message.id)?;
        if message.deleted_at.is_some() {
            return Err(Refusal::coded(ErrorCode::MessageDeleted, "the message is deleted").into());
        }
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
            let user = users::to_user(&users::by_id(conn, caller)?.ok_or(Refusal::NotFound)?);
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
        let sender = users::sender_of(conn, &message)?;
        Ok(with_details(conn, &message, sender, caller)?.reactions)
    })
}
