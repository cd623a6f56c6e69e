//! Mentions, recorded with the message that makes them: people who are members when
//! it is sent (or when an edit adds them), and everyone for `@all` where the sender
//! may use it. Removing a mention by an edit retracts nothing.

use diesel::prelude::*;
use natter_domain::UserId;
use natter_domain::mentions;

use crate::db::{DbConnection, per_backend};
use crate::schema::{chat_conversation_members, chat_mentions};

/// Records whom `text`, of `message` by `sender` in `conversation`, mentions; those
/// recorded before stay as they are. Answers who is newly mentioned.
pub fn record(
    conn: &mut DbConnection,
    conversation: i64,
    sender: i64,
    message: i64,
    text: &str,
) -> QueryResult<Vec<UserId>> {
    let found = mentions::parse(text);
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let members: Vec<(i64, bool)> = chat_conversation_members::table
        .filter(chat_conversation_members::conversation_id.eq(conversation))
        .select((
            chat_conversation_members::user_id,
            chat_conversation_members::owner,
        ))
        .load(conn)?;
    let owner = members.iter().any(|&(id, owner)| id == sender && owner);
    let all = found.all && mentions::all_allowed(owner, members.len());
    let mut added = Vec::new();
    for (id, _) in members {
        if id == sender || !(all || found.people.contains(&UserId(id))) {
            continue;
        }
        let row = (
            chat_mentions::user_id.eq(id),
            chat_mentions::conversation_id.eq(conversation),
            chat_mentions::message_id.eq(message),
        );
        let inserted = per_backend!(conn, c => diesel::insert_into(chat_mentions::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted > 0 {
            added.push(UserId(id));
        }
    }
    Ok(added)
}

/// Whether `text` may mention anyone, so that its send takes the steps that record
/// mentions.
pub fn any(text: &str) -> bool {
    !mentions::parse(text).is_empty()
}
