//! Seen receipts: a member's read watermark, moved forward only, one row per move.

use diesel::prelude::*;
use natter_domain::api::{SeenEntry, Watermark};
use natter_domain::event::Event;
use natter_domain::{ConversationId, MessageId, UserId};

use super::history::with_details;
use super::visible_message;
use crate::db::clock::{self, utc};
use crate::db::models::MemberRow;
use crate::db::{DbConnection, DbResult, Refusal, events, users};
use crate::schema::{chat_conversation_members, chat_messages, chat_seen_messages};

/// Who has seen a message and when each first did (members other than its sender).
pub fn seen_by(conn: &mut DbConnection, id: MessageId, caller: UserId) -> DbResult<Vec<SeenEntry>> {
    let (message, _) = visible_message(conn, id, caller)?;
    let sender = users::sender_of(conn, &message)?;
    let detailed = with_details(conn, &message, sender, caller)?;
    Ok(detailed.seen_by)
}

/// Moves my watermark up to `up_to` (never backwards) and records when.
pub fn mark_seen(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
    up_to: MessageId,
) -> DbResult<Watermark> {
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
        .ok_or(Refusal::NotFound)?;
        let belongs = diesel::select(diesel::dsl::exists(
            chat_messages::table
                .filter(chat_messages::conversation_id.eq(conversation.get()))
                .filter(chat_messages::id.eq(up_to.get())),
        ))
        .get_result::<bool>(conn)?;
        if !belongs {
            return Err(Refusal::NotFound.into());
        }
        let moved = member
            .last_seen_message_id
            .is_none_or(|current| current < up_to.get());
        if moved {
            let seen_at = clock::now();
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
            let user = users::by_id(conn, caller)?.ok_or(Refusal::NotFound)?;
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
            .filter(
                chat_messages::sender_id
                    .is_null()
                    .or(chat_messages::sender_id.ne(caller.get())),
            )
            .count()
            .get_result(conn)?;
        Ok(Watermark {
            last_seen_message_id: Some(MessageId(watermark)),
            unread_count: unread,
        })
    })
}
