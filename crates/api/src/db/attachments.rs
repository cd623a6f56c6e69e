//! Files' rows: an upload is a row before its bytes are stored, a stored file its
//! uploader may attach to one message, and a row the purge removes (with its bytes)
//! once it was never attached in time or its message was deleted.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_domain::api::Attachment;
use natter_domain::{AttachmentId, ConversationId, FileName, UserId};

use crate::db::clock;
use crate::db::conversations::require_member;
use crate::db::{DbConnection, DbResult, Refusal, per_backend};
use crate::schema::{chat_attachments, chat_messages};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = chat_attachments, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AttachmentRow {
    pub id: i64,
    pub uploader_id: Option<i64>,
    pub message_id: Option<i64>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbnail_type: Option<String>,
    pub storage_key: String,
}

impl AttachmentRow {
    pub fn to_attachment(&self) -> Attachment {
        Attachment {
            id: AttachmentId(self.id),
            filename: self.filename.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            width: self.width,
            height: self.height,
            thumbnail: self.thumbnail_type.is_some(),
        }
    }
}

/// What is known of a file once its bytes are stored.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = chat_attachments)]
pub struct Stored {
    pub content_type: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbnail_type: Option<String>,
    pub stored_at: NaiveDateTime,
}

/// Writes the row of an upload about to be stored under `key`; answers its id.
pub fn begin(
    conn: &mut DbConnection,
    uploader: UserId,
    filename: &FileName,
    key: &str,
) -> DbResult<AttachmentId> {
    let id = diesel::insert_into(chat_attachments::table)
        .values((
            chat_attachments::uploader_id.eq(uploader.get()),
            chat_attachments::filename.eq(filename.as_str()),
            chat_attachments::content_type.eq("application/octet-stream"),
            chat_attachments::storage_key.eq(key),
            chat_attachments::created_at.eq(clock::now()),
        ))
        .returning(chat_attachments::id)
        .get_result(conn)?;
    Ok(AttachmentId(id))
}

/// Marks upload `id` stored, as `stored` says; answers it.
pub fn stored(conn: &mut DbConnection, id: AttachmentId, stored: &Stored) -> DbResult<Attachment> {
    let row: AttachmentRow = per_backend!(conn, c => diesel::update(chat_attachments::table.find(id.get()))
        .set(stored)
        .returning(AttachmentRow::as_returning())
        .get_result(c))?;
    Ok(row.to_attachment())
}

/// Forgets upload `id` (refused, or failed before it was stored).
pub fn forget(conn: &mut DbConnection, id: AttachmentId) -> DbResult<()> {
    diesel::delete(chat_attachments::table.find(id.get())).execute(conn)?;
    Ok(())
}

/// File `id` as `caller` may download it: a file of a message in one of their
/// conversations (not deleted), or their own upload not attached yet. Anything else
/// is not found.
pub fn for_download(
    conn: &mut DbConnection,
    id: AttachmentId,
    caller: UserId,
) -> DbResult<AttachmentRow> {
    let (row, conversation, deleted_at) = chat_attachments::table
        .left_join(chat_messages::table)
        .filter(chat_attachments::id.eq(id.get()))
        .filter(chat_attachments::stored_at.is_not_null())
        .filter(chat_attachments::discarded_at.is_null())
        .select((
            AttachmentRow::as_select(),
            chat_messages::conversation_id.nullable(),
            chat_messages::deleted_at.nullable(),
        ))
        .first::<(AttachmentRow, Option<i64>, Option<NaiveDateTime>)>(conn)
        .optional()?
        .ok_or(Refusal::NotFound)?;
    match conversation {
        Some(conversation) => {
            require_member(conn, ConversationId(conversation), caller)?;
            if deleted_at.is_some() {
                return Err(Refusal::NotFound.into());
            }
        }
        None if row.uploader_id == Some(caller.get()) => {}
        None => return Err(Refusal::NotFound.into()),
    }
    Ok(row)
}

/// Of `ids`, those `sender` may attach (stored, theirs, not attached), locked until
/// the send commits so that no other send attaches them meanwhile; in `ids`' order.
pub fn attachable(
    conn: &mut DbConnection,
    sender: UserId,
    ids: &[AttachmentId],
) -> QueryResult<Vec<AttachmentRow>> {
    let wanted: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    macro_rules! query {
        () => {
            chat_attachments::table
                .filter(chat_attachments::id.eq_any(&wanted))
                .filter(chat_attachments::uploader_id.eq(sender.get()))
                .filter(chat_attachments::message_id.is_null())
                .filter(chat_attachments::stored_at.is_not_null())
                .filter(chat_attachments::discarded_at.is_null())
                .select(AttachmentRow::as_select())
        };
    }
    let mut rows: Vec<AttachmentRow> = match conn {
        DbConnection::Pg(pg) => query!().for_update().load(pg)?,
        DbConnection::Sqlite(sqlite) => query!().load(sqlite)?,
    };
    rows.sort_by_key(|row| wanted.iter().position(|&id| id == row.id));
    Ok(rows)
}

/// Attaches `rows` (from [`attachable`]) to `message`, in their order.
pub fn attach(conn: &mut DbConnection, message: i64, rows: &[AttachmentRow]) -> QueryResult<()> {
    for (position, row) in (0..).zip(rows) {
        diesel::update(chat_attachments::table.find(row.id))
            .set((
                chat_attachments::message_id.eq(message),
                chat_attachments::position.eq(position),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The files of `messages`, each message's in order.
pub fn of_messages(
    conn: &mut DbConnection,
    messages: &[i64],
) -> QueryResult<HashMap<i64, Vec<Attachment>>> {
    let mut by_message: HashMap<i64, Vec<Attachment>> = HashMap::new();
    if messages.is_empty() {
        return Ok(by_message);
    }
    let rows: Vec<AttachmentRow> = chat_attachments::table
        .filter(chat_attachments::message_id.eq_any(messages))
        .filter(chat_attachments::discarded_at.is_null())
        .order((chat_attachments::message_id, chat_attachments::position))
        .select(AttachmentRow::as_select())
        .load(conn)?;
    for row in rows {
        if let Some(message) = row.message_id {
            by_message
                .entry(message)
                .or_default()
                .push(row.to_attachment());
        }
    }
    Ok(by_message)
}

/// Whether `message` carries files.
pub fn has_files(conn: &mut DbConnection, message: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        chat_attachments::table
            .filter(chat_attachments::message_id.eq(message))
            .filter(chat_attachments::discarded_at.is_null()),
    ))
    .get_result(conn)
}

/// Marks the files of deleted `message` for the purge; answers whether it had any.
pub fn discard_of_message(conn: &mut DbConnection, message: i64) -> QueryResult<bool> {
    let discarded = diesel::update(
        chat_attachments::table
            .filter(chat_attachments::message_id.eq(message))
            .filter(chat_attachments::discarded_at.is_null()),
    )
    .set(chat_attachments::discarded_at.eq(clock::now()))
    .execute(conn)?;
    Ok(discarded > 0)
}

/// Whether a file is to be purged: its message was deleted, or it was uploaded
/// before `unattached_before` and is attached to nothing (a message removed from the
/// database leaves its files unattached too).
macro_rules! purgeable_filter {
    ($unattached_before:expr) => {
        chat_attachments::discarded_at
            .is_not_null()
            .or(chat_attachments::message_id
                .is_null()
                .and(chat_attachments::created_at.lt($unattached_before)))
    };
}

/// Up to `limit` files to purge; each row's id and storage key.
pub fn purgeable(
    conn: &mut DbConnection,
    unattached_before: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<(i64, String)>> {
    chat_attachments::table
        .filter(purgeable_filter!(unattached_before))
        .order(chat_attachments::id)
        .limit(limit)
        .select((chat_attachments::id, chat_attachments::storage_key))
        .load(conn)
}

/// Claims file `id` for the purge if it is still to be purged (a send may have
/// attached it since it was found): from then on nothing can attach or download it.
pub fn claim(
    conn: &mut DbConnection,
    id: i64,
    unattached_before: NaiveDateTime,
) -> QueryResult<bool> {
    let claimed = diesel::update(
        chat_attachments::table
            .find(id)
            .filter(purgeable_filter!(unattached_before)),
    )
    .set(chat_attachments::discarded_at.eq(clock::now()))
    .execute(conn)?;
    Ok(claimed == 1)
}

/// Removes the row of a file whose bytes are gone from the store.
pub fn purged(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    diesel::delete(chat_attachments::table.find(id)).execute(conn)?;
    Ok(())
}
