//! `natter copy-to-postgres`: moving a SQLite database into an empty PostgreSQL one,
//! every table with its ids, in one PostgreSQL transaction, verified by counts.
//!
//! Ids are kept, so tokens, cursors of event streams and links stay valid; each
//! identity sequence then continues after the highest id copied.

use anyhow::{Context, bail};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::config::DatabaseUrl;
use crate::db::migrations::{migrate_postgres, migrate_sqlite};
use crate::db::sqlite::lock_sqlite_file;
use crate::db::{DbConnection, establish};
use crate::schema;

/// Rows per statement: well under PostgreSQL's 65,535 bind parameters.
const CHUNK: i64 = 1_000;

/// One table's rows in the source and, after the copy, in the target.
#[derive(Debug, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub source: i64,
    pub target: i64,
}

/// A row type per table, with every column, to read from one backend and write to
/// the other.
macro_rules! rows {
    ($($table:ident { $($column:ident: $ty:ty),* $(,)? })*) => {
        $(
            #[allow(non_snake_case)]
            mod $table {
                #[allow(clippy::wildcard_imports)]
                use super::*;

                #[derive(Queryable, Selectable, Insertable)]
                #[diesel(table_name = schema::$table)]
                pub struct Row {
                    $(pub $column: $ty,)*
                }
            }
        )*
    };
}

rows! {
    auth_users { id: i64, nickname: String, nickname_key: String, password_hash: String,
                 created_at: NaiveDateTime, updated_at: NaiveDateTime,
                 nickname_skeleton: Option<String>, admin: bool,
                 disabled_at: Option<NaiveDateTime>, last_active_at: Option<NaiveDateTime>,
                 share_read_receipts: bool, share_presence: bool }
    auth_sessions { id: i64, user_id: i64, created_at: NaiveDateTime, expires_at: NaiveDateTime,
                    revoked_at: Option<NaiveDateTime>, last_used_at: Option<NaiveDateTime>,
                    user_agent: Option<String> }
    auth_sign_in_throttle { key: String, failures: i64, last_attempt_at: NaiveDateTime,
                            blocked_until: Option<NaiveDateTime> }
    auth_invites { code: String, created_by: Option<i64>, created_at: NaiveDateTime,
                   expires_at: NaiveDateTime, uses_left: i64 }
    auth_password_resets { user_id: i64, code_hash: String, expires_at: NaiveDateTime }
    chat_conversations { id: i64, title: String, created_by: Option<i64>, created_at: NaiveDateTime,
                         updated_at: NaiveDateTime, last_activity_at: NaiveDateTime,
                         closed_at: Option<NaiveDateTime>, last_event_seq: i64 }
    chat_messages { id: i64, conversation_id: i64, sender_id: Option<i64>, content: String,
                    client_id: Option<String>, created_at: NaiveDateTime, version: i64,
                    edited_at: Option<NaiveDateTime>, deleted_at: Option<NaiveDateTime>,
                    reply_to_id: Option<i64> }
    chat_message_edits { message_id: i64, version: i64, content: String,
                         written_at: NaiveDateTime, replaced_at: NaiveDateTime }
    chat_conversation_members { conversation_id: i64, user_id: i64, owner: bool,
                                joined_at: NaiveDateTime, last_seen_message_id: Option<i64>,
                                joined_seq: i64, notification_level: Option<String> }
    chat_emojis { id: i64, key: String, unicode: String }
    chat_message_reactions { id: i64, conversation_id: i64, message_id: i64, user_id: i64,
                             emoji_id: i64, created_at: NaiveDateTime }
    chat_seen_messages { id: i64, conversation_id: i64, user_id: i64, up_to_message_id: i64,
                         seen_at: NaiveDateTime }
    chat_events { id: i64, conversation_id: i64, seq: i64, kind: String,
                  subject_user_id: Option<i64>, payload: String, created_at: NaiveDateTime,
                  txid: i64, position: Option<i64>, message_id: Option<i64> }
    natter_settings { name: String, value: String, created_at: NaiveDateTime }
    chat_mentions { user_id: i64, conversation_id: i64, message_id: i64 }
    chat_attachments { id: i64, uploader_id: Option<i64>, message_id: Option<i64>, position: i32,
                       filename: String, content_type: String, size: i64, width: Option<i32>,
                       height: Option<i32>, thumbnail_type: Option<String>, storage_key: String,
                       created_at: NaiveDateTime, stored_at: Option<NaiveDateTime>,
                       discarded_at: Option<NaiveDateTime> }
    push_subscriptions { id: i64, user_id: i64, endpoint: String, p256dh: String, auth: String,
                         created_at: NaiveDateTime }
    push_outbox { id: i64, subscription_id: i64, payload: String, urgency: String, attempts: i32,
                  due_at: NaiveDateTime, created_at: NaiveDateTime }
}

/// Copies `$table` in chunks of ids (`by_id`) or all at once (`whole`, for the
/// tables keyed otherwise, which grow with people rather than with messages), then
/// counts both sides.
macro_rules! copy_table {
    (by_id $table:ident, $source:expr, $target:expr) => {{
        let mut after = 0_i64;
        loop {
            let rows: Vec<$table::Row> = schema::$table::table
                .filter(schema::$table::id.gt(after))
                .order(schema::$table::id)
                .limit(CHUNK)
                .select($table::Row::as_select())
                .load($source)?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            diesel::insert_into(schema::$table::table)
                .values(&rows)
                .execute($target)?;
        }
        diesel::sql_query(format!(
            "SELECT setval(pg_get_serial_sequence('{0}', 'id'), \
                    coalesce((SELECT max(id) FROM {0}), 0) + 1, false)",
            stringify!($table)
        ))
        .execute($target)?;
        counted!($table, $source, $target)
    }};
    (whole $table:ident, $source:expr, $target:expr) => {{
        let rows: Vec<$table::Row> = schema::$table::table
            .select($table::Row::as_select())
            .load($source)?;
        for chunk in rows.chunks(usize::try_from(CHUNK).unwrap_or(1)) {
            diesel::insert_into(schema::$table::table)
                .values(chunk)
                .execute($target)?;
        }
        counted!($table, $source, $target)
    }};
}

macro_rules! counted {
    ($table:ident, $source:expr, $target:expr) => {
        Copied {
            table: stringify!($table),
            source: schema::$table::table.count().get_result($source)?,
            target: schema::$table::table.count().get_result($target)?,
        }
    };
}

/// Copies everything in the SQLite database `from` into the PostgreSQL database `to`,
/// which must hold no people, conversations, messages or events yet (its schema is
/// migrated first). The SQLite file is locked like a running natter locks it, so it
/// cannot change meanwhile. Answers the counts per table, which must agree.
pub fn sqlite_to_postgres(from: &DatabaseUrl, to: &DatabaseUrl) -> anyhow::Result<Vec<Copied>> {
    let DatabaseUrl::Sqlite(path) = from else {
        bail!("the source must be a SQLite database (sqlite://PATH), not {from}");
    };
    if !matches!(to, DatabaseUrl::Postgres(_)) {
        bail!("the target must be a PostgreSQL database (postgres://…), not {to}");
    }
    if !path.is_file() {
        bail!("there is no SQLite database at {}", path.display());
    }
    let _lock = lock_sqlite_file(path)?;
    migrate_sqlite(from)?;
    migrate_postgres(to)?;
    let (DbConnection::Sqlite(mut source), DbConnection::Pg(mut target)) = (
        establish(from).with_context(|| format!("cannot open {from}"))?,
        establish(to).with_context(|| format!("cannot connect to {to}"))?,
    ) else {
        bail!("{from} or {to} opened the wrong kind of database");
    };
    let holding: i64 = [
        schema::auth_users::table
            .count()
            .get_result::<i64>(&mut target)?,
        schema::chat_conversations::table
            .count()
            .get_result(&mut target)?,
        schema::chat_messages::table
            .count()
            .get_result(&mut target)?,
        schema::chat_events::table.count().get_result(&mut target)?,
    ]
    .iter()
    .sum();
    if holding > 0 {
        bail!(
            "{to} already holds people, conversations, messages or events: copy into an empty database"
        );
    }
    let copied =
        target.transaction(|target| source.transaction(|source| copy_all(source, target)))?;
    if let Some(mismatch) = copied.iter().find(|c| c.source != c.target) {
        bail!(
            "{} has {} rows in SQLite but {} in PostgreSQL",
            mismatch.table,
            mismatch.source,
            mismatch.target
        );
    }
    Ok(copied)
}

/// Every table, parents before children. The target's seeded emojis and any
/// settings make way for the source's, which reactions and tokens refer to.
fn copy_all(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
) -> anyhow::Result<Vec<Copied>> {
    diesel::delete(schema::chat_emojis::table).execute(target)?;
    diesel::delete(schema::natter_settings::table).execute(target)?;
    Ok(vec![
        copy_table!(by_id auth_users, source, target),
        copy_table!(by_id auth_sessions, source, target),
        copy_table!(whole auth_sign_in_throttle, source, target),
        copy_table!(whole auth_invites, source, target),
        copy_table!(whole auth_password_resets, source, target),
        copy_table!(by_id chat_conversations, source, target),
        copy_table!(by_id chat_messages, source, target),
        copy_table!(whole chat_message_edits, source, target),
        copy_table!(whole chat_conversation_members, source, target),
        copy_table!(by_id chat_emojis, source, target),
        copy_table!(by_id chat_message_reactions, source, target),
        copy_table!(by_id chat_seen_messages, source, target),
        copy_table!(by_id chat_events, source, target),
        // The rows only: the files stay in the store, under the same keys (the README
        // says how to move them with the database).
        copy_table!(by_id chat_attachments, source, target),
        copy_table!(whole chat_mentions, source, target),
        copy_table!(whole natter_settings, source, target),
        copy_table!(by_id push_subscriptions, source, target),
        copy_table!(by_id push_outbox, source, target),
        // Not presence: who has a stream open where is the running nodes' to say.
    ])
}
