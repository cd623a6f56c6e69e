//! Changing a sent message: editing it (its earlier versions kept for its author and
//! the conversation's owner) and deleting it, which erases rather than hides: the
//! text, the earlier versions, the reactions, and every copy of the text in the event
//! log, the excerpts in its replies' events included. The row stays as a tombstone.
//!
//! Both take the conversation's lock first ([`lock_conversation`]), as sends and
//! reactions do, and read the message again under it.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_domain::api::{Message, MessageEdit};
use natter_domain::event::Event;
use natter_domain::{
    ConversationId, ErrorCode, FieldError, MessageBody, MessageId, UserId, ValidationError,
};

use super::history::with_details;
use super::{current_row, lock_conversation, visible_message};
use crate::db::clock::{self, utc};
use crate::db::models::{MemberRow, MessageRow};
use crate::db::{DbConnection, DbResult, Refusal, attachments, events, per_backend, users};
use crate::schema::{chat_events, chat_message_edits, chat_message_reactions, chat_messages};

/// What an edit came to.
#[derive(Debug)]
pub enum Edited {
    /// The new version; `false` when the text was already this (no new version, no
    /// event).
    Done(Message, bool),
    /// `expected_version` is not the message's version: here it is as it is now.
    Conflict(Message),
}

/// Whether `caller` wrote the message or owns its conversation: who may delete it and
/// read its earlier versions.
fn author_or_owner(row: &MessageRow, member: &MemberRow, caller: UserId) -> bool {
    row.sender_id == Some(caller.get()) || member.owner
}

const DELETED: Refusal = Refusal::coded(ErrorCode::MessageDeleted, "the message is deleted");

/// Replaces the text of my message `id`, if it is still at `expected_version` and
/// within `window` of its sending (`None`: no limit).
pub fn edit(
    conn: &mut DbConnection,
    id: MessageId,
    caller: UserId,
    body: &MessageBody,
    expected_version: i64,
    window: Option<chrono::Duration>,
) -> DbResult<Edited> {
    conn.transaction(|conn| {
        let (row, _) = visible_message(conn, id, caller)?;
        let closed = lock_conversation(conn, row.conversation_id)?;
        let row = current_row(conn, row.id)?;
        if row.deleted_at.is_some() {
            return Err(DELETED.into());
        }
        if row.sender_id != Some(caller.get()) {
            return Err(
                Refusal::coded(ErrorCode::Forbidden, "only its author may edit a message").into(),
            );
        }
        if closed {
            return Err(Refusal::Closed.into());
        }
        let now = clock::now();
        if window.is_some_and(|window| now - row.created_at > window) {
            return Err(Refusal::coded(
                ErrorCode::EditWindowPassed,
                "the time to edit this message has passed",
            )
            .into());
        }
        if body.as_str().is_empty() && !attachments::has_files(conn, row.id)? {
            return Err(Refusal::Invalid(FieldError::new("content", ValidationError::Empty)).into());
        }
        let sender = users::sender_of(conn, &row)?;
        if row.version != expected_version {
            return Ok(Edited::Conflict(with_details(conn, &row, sender, caller)?));
        }
        if row.content == body.as_str() {
            return Ok(Edited::Done(
                with_details(conn, &row, sender, caller)?,
                false,
            ));
        }
        diesel::insert_into(chat_message_edits::table)
            .values((
                chat_message_edits::message_id.eq(row.id),
                chat_message_edits::version.eq(row.version),
                chat_message_edits::content.eq(&row.content),
                chat_message_edits::written_at.eq(row.edited_at.unwrap_or(row.created_at)),
                chat_message_edits::replaced_at.eq(now),
            ))
            .execute(conn)?;
        let row: MessageRow = per_backend!(conn, c => diesel::update(chat_messages::table.find(row.id))
            .set((
                chat_messages::content.eq(body.as_str()),
                chat_messages::version.eq(row.version + 1),
                chat_messages::edited_at.eq(now),
            ))
            .returning(MessageRow::as_select())
            .get_result(c))?;
        // A mention the edit adds is recorded (and counts) for the newly mentioned only.
        let newly = super::mentions::record(conn, row.conversation_id, caller.get(), row.id, &row.content)?;
        let message = with_details(conn, &row, sender, caller)?;
        if !newly.is_empty() {
            // Pushed to them now (the outbox takes new messages only from the log).
            crate::db::push::queue_message(conn, &message, Some(&newly), crate::live::presence::alive_since())?;
        }
        // The event is for everyone: nobody's own reactions are marked in it.
        let mut shared = message.clone();
        for reaction in &mut shared.reactions {
            reaction.reacted_by_me = false;
        }
        events::append(
            conn,
            row.conversation_id,
            None,
            &Event::MessageEdited { message: shared },
        )?;
        Ok(Edited::Done(message, true))
    })
}

/// Deletes message `id`: its author may, and so may the conversation's owner. Deleting
/// a deleted message again changes nothing. Its files are left to the purge; answers
/// whether it had any.
pub fn delete(conn: &mut DbConnection, id: MessageId, caller: UserId) -> DbResult<bool> {
    conn.transaction(|conn| {
        let (row, member) = visible_message(conn, id, caller)?;
        if !author_or_owner(&row, &member, caller) {
            return Err(Refusal::coded(
                ErrorCode::Forbidden,
                "only its author or the conversation's owner may delete a message",
            )
            .into());
        }
        lock_conversation(conn, row.conversation_id)?;
        let row = current_row(conn, row.id)?;
        if row.deleted_at.is_some() {
            return Ok(false);
        }
        let version = row.version + 1;
        diesel::update(chat_messages::table.find(row.id))
            .set((
                chat_messages::content.eq(""),
                chat_messages::version.eq(version),
                chat_messages::edited_at.eq(None::<NaiveDateTime>),
                chat_messages::deleted_at.eq(clock::now()),
            ))
            .execute(conn)?;
        diesel::delete(chat_message_edits::table.filter(chat_message_edits::message_id.eq(row.id)))
            .execute(conn)?;
        diesel::delete(
            chat_message_reactions::table.filter(chat_message_reactions::message_id.eq(row.id)),
        )
        .execute(conn)?;
        let had_files = attachments::discard_of_message(conn, row.id)?;
        events::append(
            conn,
            row.conversation_id,
            None,
            &Event::MessageDeleted {
                conversation_id: ConversationId(row.conversation_id),
                message_id: id,
                version,
            },
        )?;
        scrub_log(conn, &row, version)?;
        Ok(had_files)
    })
}

/// Rewrites every event that carries the text of `deleted` (now at `version`): its
/// own `message_created` and `message_edited` become its tombstone, replies to it show
/// it deleted, and a conversation's last message in `added_to_conversation` is
/// erased. A replay then delivers tombstones only. Replies committed before the
/// deletion are all found: their sends took the conversation's lock first.
fn scrub_log(conn: &mut DbConnection, deleted: &MessageRow, version: i64) -> DbResult<()> {
    let replies: Vec<i64> = chat_messages::table
        .filter(chat_messages::reply_to_id.eq(deleted.id))
        .select(chat_messages::id)
        .load(conn)?;
    let carrying: Vec<(i64, String)> = chat_events::table
        .filter(
            chat_events::message_id
                .eq(deleted.id)
                .or(chat_events::message_id.eq_any(&replies)),
        )
        .select((chat_events::id, chat_events::payload))
        .load(conn)?;
    let target = MessageId(deleted.id);
    for (event_id, payload) in carrying {
        let Ok(mut event) = serde_json::from_str::<Event>(&payload) else {
            // Written by a newer node during an upgrade: it reads its own kinds.
            tracing::warn!(event_id, "an event of an unknown kind was left as it is");
            continue;
        };
        if !erase_from(&mut event, target, version) {
            continue;
        }
        let (_, payload) = events::encode(&event)
            .map_err(|error| diesel::result::Error::SerializationError(error.into()))?;
        diesel::update(chat_events::table.find(event_id))
            .set(chat_events::payload.eq(payload))
            .execute(conn)?;
    }
    Ok(())
}

/// Erases the text of message `target` (deleted at `version`) from `event`; answers
/// whether anything changed.
fn erase_from(event: &mut Event, target: MessageId, version: i64) -> bool {
    match event {
        Event::MessageCreated { message } | Event::MessageEdited { message } => {
            if message.id == target {
                message.erase(version);
                return true;
            }
            match &mut message.reply_to {
                Some(reply_to) if reply_to.id == target && !reply_to.deleted => {
                    reply_to.excerpt.clear();
                    reply_to.deleted = true;
                    true
                }
                _ => false,
            }
        }
        Event::AddedToConversation { conversation } => match &mut conversation.last_message {
            Some(last) if last.id == target && !last.deleted => {
                last.content.clear();
                last.deleted = true;
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// The earlier versions of message `id`, oldest first: for its author and the
/// conversation's owner (404 for anyone else, as if it did not exist).
pub fn edits(conn: &mut DbConnection, id: MessageId, caller: UserId) -> DbResult<Vec<MessageEdit>> {
    let (row, member) = visible_message(conn, id, caller)?;
    if !author_or_owner(&row, &member, caller) {
        return Err(Refusal::NotFound.into());
    }
    if row.deleted_at.is_some() {
        return Err(DELETED.into());
    }
    let rows: Vec<(i64, String, NaiveDateTime, NaiveDateTime)> = chat_message_edits::table
        .filter(chat_message_edits::message_id.eq(row.id))
        .order(chat_message_edits::version.asc())
        .select((
            chat_message_edits::version,
            chat_message_edits::content,
            chat_message_edits::written_at,
            chat_message_edits::replaced_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(version, content, written_at, replaced_at)| MessageEdit {
            version,
            content,
            written_at: utc(written_at),
            replaced_at: utc(replaced_at),
        })
        .collect())
}
