use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::models::EmojiRow;
use crate::schema::chat_emojis;

/// The emoji set, in the order it was defined.
pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<EmojiRow>> {
    chat_emojis::table
        .order(chat_emojis::id)
        .select(EmojiRow::as_select())
        .load(conn)
}
