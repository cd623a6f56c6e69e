//! The event log, written in the same transaction as the change it describes.

use diesel::prelude::*;
use natter_domain::event::Event;

use crate::db::models::NewEvent;
use crate::schema::{chat_conversations, chat_events};

/// Appends `event` to its conversation's log at the next position. The `UPDATE ...
/// RETURNING` takes the conversation row's lock until commit, so a conversation's
/// events commit in position order and a reader never sees a gap being filled later.
/// `subject` names a person the event concerns who may not be a member (any more).
pub fn append(
    conn: &mut PgConnection,
    conversation_id: i64,
    subject: Option<i64>,
    event: &Event,
) -> anyhow::Result<()> {
    let seq: i64 = diesel::update(chat_conversations::table.find(conversation_id))
        .set(chat_conversations::last_event_seq.eq(chat_conversations::last_event_seq + 1))
        .returning(chat_conversations::last_event_seq)
        .get_result(conn)?;
    let payload = serde_json::to_string(event)?;
    let kind = serde_json::to_value(event)?
        .get("type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    diesel::insert_into(chat_events::table)
        .values(NewEvent {
            conversation_id,
            seq,
            kind: &kind,
            subject_user_id: subject,
            payload: &payload,
        })
        .execute(conn)?;
    Ok(())
}
