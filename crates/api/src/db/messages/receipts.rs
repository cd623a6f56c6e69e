//! Read state: my read pointer (forward as I read, back when I mark unread), the
//! receipts others see (forward only, one row per move, when I share them), and what
//! notifies me.

use diesel::prelude::*;
use natter_domain::api::{NotificationLevel, SeenEntry, Watermark};
use natter_domain::event::Event;
use natter_domain::{ConversationId, FieldError, MessageId, UserId, ValidationError};

use super::history::with_details;
use super::visible_message;
use crate::db::clock::{self, utc};
use crate::db::conversations::{ReadState, read_states};
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

/// Moves my read pointer up to `up_to` (never backwards). A receipt others can see
/// (seen-by, `seen_moved`) is recorded only past the ones already recorded, and only
/// when I share read receipts; my other tabs hear `read_state_changed` either way.
pub fn mark_seen(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
    up_to: MessageId,
) -> DbResult<Watermark> {
    conn.transaction(|conn| {
        let member = lock_membership(conn, conversation, caller)?;
        if !is_message_of(conn, conversation, up_to)? {
            return Err(Refusal::NotFound.into());
        }
        // My pointer may be past it already (my own later message moved it): the
        // receipt others see is recorded all the same, past the last one.
        let moved = member
            .last_seen_message_id
            .is_none_or(|current| current < up_to.get());
        if moved {
            diesel::update(
                chat_conversation_members::table.find((conversation.get(), caller.get())),
            )
            .set(chat_conversation_members::last_seen_message_id.eq(up_to.get()))
            .execute(conn)?;
        }
        let user = users::by_id(conn, caller)?.ok_or(Refusal::NotFound)?;
        let receipted: Option<i64> = chat_seen_messages::table
            .filter(chat_seen_messages::conversation_id.eq(conversation.get()))
            .filter(chat_seen_messages::user_id.eq(caller.get()))
            .select(diesel::dsl::max(chat_seen_messages::up_to_message_id))
            .first(conn)?;
        if user.share_read_receipts && receipted.is_none_or(|r| r < up_to.get()) {
            let seen_at = clock::now();
            diesel::insert_into(chat_seen_messages::table)
                .values((
                    chat_seen_messages::conversation_id.eq(conversation.get()),
                    chat_seen_messages::user_id.eq(caller.get()),
                    chat_seen_messages::up_to_message_id.eq(up_to.get()),
                    chat_seen_messages::seen_at.eq(seen_at),
                ))
                .execute(conn)?;
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
        if !moved {
            return Ok(watermark(&read_state(conn, conversation, caller)?));
        }
        changed(conn, conversation, caller)
    })
}

/// Moves my read pointer back to just before `from` ("mark unread from here"). Receipts
/// others have seen stay as they were.
pub fn mark_unread(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
    from: MessageId,
) -> DbResult<Watermark> {
    conn.transaction(|conn| {
        lock_membership(conn, conversation, caller)?;
        if !is_message_of(conn, conversation, from)? {
            return Err(Refusal::Invalid(FieldError::new(
                "from_message_id",
                ValidationError::NotInConversation,
            ))
            .into());
        }
        let before: Option<i64> = chat_messages::table
            .filter(chat_messages::conversation_id.eq(conversation.get()))
            .filter(chat_messages::id.lt(from.get()))
            .select(diesel::dsl::max(chat_messages::id))
            .first(conn)?;
        diesel::update(chat_conversation_members::table.find((conversation.get(), caller.get())))
            .set(chat_conversation_members::last_seen_message_id.eq(before))
            .execute(conn)?;
        changed(conn, conversation, caller)
    })
}

/// Chooses what of `conversation` notifies me.
pub fn set_notification_level(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
    level: NotificationLevel,
) -> DbResult<NotificationLevel> {
    let updated =
        diesel::update(chat_conversation_members::table.find((conversation.get(), caller.get())))
            .set(chat_conversation_members::notification_level.eq(level.as_str()))
            .execute(conn)?;
    if updated == 0 {
        return Err(Refusal::NotFound.into());
    }
    Ok(level)
}

/// My membership row, locked until commit (PostgreSQL), so that marks from several
/// tabs queue up (SQLite's single writer queues them already); 404 if not a member.
fn lock_membership(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
) -> DbResult<MemberRow> {
    let query = chat_conversation_members::table.find((conversation.get(), caller.get()));
    Ok(match conn {
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
    .ok_or(Refusal::NotFound)?)
}

/// Whether `message` is a message of `conversation`.
fn is_message_of(
    conn: &mut DbConnection,
    conversation: ConversationId,
    message: MessageId,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        chat_messages::table
            .filter(chat_messages::conversation_id.eq(conversation.get()))
            .filter(chat_messages::id.eq(message.get())),
    ))
    .get_result(conn)
}

fn read_state(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
) -> DbResult<ReadState> {
    Ok(read_states(conn, caller, Some(conversation))?
        .pop()
        .ok_or(Refusal::NotFound)?)
}

fn watermark(state: &ReadState) -> Watermark {
    Watermark {
        last_seen_message_id: state.last_seen_message_id.map(MessageId),
        unread_count: state.unread,
        mention_count: state.mentions,
    }
}

/// My read state after a change to it, told to my other tabs and devices.
fn changed(
    conn: &mut DbConnection,
    conversation: ConversationId,
    caller: UserId,
) -> DbResult<Watermark> {
    let mark = watermark(&read_state(conn, conversation, caller)?);
    events::append(
        conn,
        conversation.get(),
        Some(caller.get()),
        &Event::ReadStateChanged {
            conversation_id: conversation,
            last_seen_message_id: mark.last_seen_message_id,
            unread_count: mark.unread_count,
            mention_count: mark.mention_count,
        },
    )?;
    Ok(mark)
}
