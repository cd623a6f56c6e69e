//! Search: the newest messages of my conversations that hold a query.
//!
//! Membership is a condition of the statement that finds the messages (the caller's
//! conversations as they are now), never a filter applied to what it found, so a
//! conversation I have left cannot show through. Deleted messages have no text, and
//! each backend's index follows a message's text in the transaction that changes it:
//! PostgreSQL's generated `tsvector` column and trigram index, SQLite's FTS5 table
//! and its triggers (see the `search` migrations).
//!
//! A query of fewer than three characters is below a trigram's length, so no index
//! finds it: it is looked for in at most [`SHORT_QUERY_SCAN`] messages per page, the
//! newest first, and `next_before` carries on from the oldest one looked at.

use std::collections::HashMap;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use natter_domain::api::{SearchHit, SearchPage, User};
use natter_domain::search::{SearchText, highlights, holds_phrase};
use natter_domain::{ConversationId, ErrorCode, MessageId, UserId};

use super::bare_message;
use super::history::attach_reply_targets;
use crate::db::conversations::require_member;
use crate::db::models::{MessageRow, UserRow};
use crate::db::{DbConnection, DbError, DbResult, Refusal, users};
use crate::schema::{auth_users, chat_conversations, chat_messages};

/// Messages a query too short for an index looks through, per page.
pub const SHORT_QUERY_SCAN: i64 = 5_000;

/// Which messages to look in, besides "of my conversations".
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub conversation: Option<ConversationId>,
    pub sender: Option<UserId>,
    /// Only messages older than this one.
    pub before: Option<MessageId>,
}

/// A message found, or (`hit` false) the oldest message a bounded scan looked at.
#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Bool)]
    hit: bool,
}

/// Up to `limit` of the newest messages in `scope` that hold `query`, those holding
/// it exactly first.
///
/// On PostgreSQL the finding statement may run for `timeout` at most: a plan that
/// reads far too much is stopped, and the search refused (503, field `q`).
pub fn search(
    conn: &mut DbConnection,
    caller: UserId,
    query: &SearchText,
    scope: Scope,
    limit: i64,
    timeout: Duration,
) -> DbResult<SearchPage> {
    if let Some(conversation) = scope.conversation {
        require_member(conn, conversation, caller)?;
    }
    let found = conn
        .transaction(|conn| {
            if let DbConnection::Pg(pg) = conn {
                diesel::sql_query(format!(
                    "SET LOCAL statement_timeout = {}",
                    timeout.as_millis().max(1)
                ))
                .execute(pg)?;
            }
            find(conn, caller, query, scope, limit)
        })
        .map_err(|error| {
            if timed_out(&error) {
                Refusal::Coded {
                    code: ErrorCode::Unavailable,
                    message: "this search took too long: add a word, or make them longer",
                    field: Some("q"),
                }
                .into()
            } else {
                error
            }
        })?;
    let ids: Vec<i64> = found.iter().filter(|f| f.hit).map(|f| f.id).collect();
    let scanned_to = found.iter().find(|f| !f.hit).map(|f| f.id);
    let next_before = match scanned_to {
        // A bounded scan stopped before the start of history: carry on from there.
        Some(oldest) => Some(MessageId(oldest)),
        None if i64::try_from(ids.len()).is_ok_and(|n| n == limit) => {
            ids.iter().min().copied().map(MessageId)
        }
        None => None,
    };

    let rows: Vec<(MessageRow, Option<UserRow>, String)> = chat_messages::table
        .inner_join(chat_conversations::table)
        .left_join(auth_users::table)
        .filter(chat_messages::id.eq_any(&ids))
        .select((
            MessageRow::as_select(),
            Option::<UserRow>::as_select(),
            chat_conversations::title,
        ))
        .load(conn)?;
    let mut titles: HashMap<i64, String> = HashMap::new();
    let mut messages: Vec<_> = rows
        .into_iter()
        .map(|(row, sender, title)| {
            titles.insert(row.id, title);
            bare_message(&row, sender.as_ref().map(users::to_user))
        })
        .collect();
    attach_reply_targets(conn, &mut messages)?;
    let mut results: Vec<SearchHit> = messages
        .into_iter()
        .map(|message| {
            let sender: Option<User> = message.sender.clone();
            SearchHit {
                conversation_id: message.conversation_id,
                conversation_title: titles.remove(&message.id.get()).unwrap_or_default(),
                sender,
                highlights: highlights(&message.content, query),
                exact: holds_phrase(&message.content, query),
                message,
            }
        })
        .collect();
    results.sort_by(|a, b| b.exact.cmp(&a.exact).then(b.message.id.cmp(&a.message.id)));
    Ok(SearchPage {
        results,
        next_before,
    })
}

/// PostgreSQL stopped the statement at `statement_timeout` (SQLSTATE 57014).
fn timed_out(error: &DbError) -> bool {
    matches!(
        error,
        DbError::Query(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("statement timeout")
    )
}

/// `text` as a LIKE pattern that finds it anywhere (`\` escapes).
fn anywhere(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `term` as one FTS5 string: quoted, so that nothing in it is query syntax.
fn fts5_string(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// The conditions every statement shares: my conversations now (`$1` is me), then
/// the scope's, numbering the parameters they take.
fn scope_conditions(conn: &DbConnection, scope: Scope, next: &mut usize) -> String {
    const MINE: &str =
        "SELECT mine.conversation_id FROM chat_conversation_members mine WHERE mine.user_id = $1";
    let mut conditions = vec![match conn {
        // Read once, then a filter (`+ 0`: not an index condition). The text's index
        // finds the candidates and this keeps mine; planned together with the
        // conversation index, PostgreSQL would read every message of mine first (a
        // million, for someone in 50 busy conversations), or search once per
        // conversation.
        DbConnection::Pg(_) => format!("m.conversation_id + 0 = ANY (ARRAY({MINE}))"),
        DbConnection::Sqlite(_) => format!("m.conversation_id IN ({MINE})"),
    }];
    for (given, condition) in [
        (scope.conversation.is_some(), "m.conversation_id ="),
        (scope.sender.is_some(), "m.sender_id ="),
        (scope.before.is_some(), "m.id <"),
    ] {
        if given {
            *next += 1;
            conditions.push(format!("{condition} ${next}"));
        }
    }
    conditions.join(" AND ")
}

/// Binds the parameters [`scope_conditions`] numbered, after `$1`.
macro_rules! bind_scope {
    ($query:expr, $caller:expr, $scope:expr) => {{
        let query = $query.bind::<BigInt, _>($caller.get()).into_boxed();
        let query = match $scope.conversation {
            Some(id) => query.bind::<BigInt, _>(id.get()),
            None => query,
        };
        let query = match $scope.sender {
            Some(id) => query.bind::<BigInt, _>(id.get()),
            None => query,
        };
        match $scope.before {
            Some(id) => query.bind::<BigInt, _>(id.get()),
            None => query,
        }
    }};
}

fn find(
    conn: &mut DbConnection,
    caller: UserId,
    query: &SearchText,
    scope: Scope,
    limit: i64,
) -> DbResult<Vec<Found>> {
    let mut next = 1;
    let conditions = scope_conditions(conn, scope, &mut next);
    let mut param = || {
        next += 1;
        format!("${next}")
    };
    let phrase = query.phrase();
    let (fts_terms, short_terms): (Vec<&str>, Vec<&str>) = query
        .terms()
        .partition(|term| term.chars().count() >= SearchText::INDEXED_CHARS);
    let indexed = match conn {
        DbConnection::Pg(_) => !query.is_short(),
        DbConnection::Sqlite(_) => !fts_terms.is_empty(),
    };
    if !indexed {
        // Too short for an index: look through the newest messages, a bounded number.
        let (pattern, scan, wanted) = (param(), param(), param());
        let sql = format!(
            "WITH recent AS (SELECT m.id, m.content FROM chat_messages m WHERE {conditions} \
             ORDER BY m.id DESC LIMIT {scan}) \
             SELECT id, hit FROM (SELECT id, {true} AS hit FROM recent \
             WHERE content {like} {pattern} ESCAPE '\\' ORDER BY id DESC LIMIT {wanted}) hits \
             UNION ALL SELECT min(id) AS id, {false} AS hit FROM recent HAVING count(*) = {scan}",
            like = like(conn),
            true = boolean(conn, true),
            false = boolean(conn, false),
        );
        let statement = bind_scope!(diesel::sql_query(numbered(conn, &sql)), caller, scope)
            .bind::<Text, _>(anywhere(&phrase))
            .bind::<BigInt, _>(SHORT_QUERY_SCAN)
            .bind::<BigInt, _>(limit);
        return Ok(statement.load(conn)?);
    }
    match conn {
        DbConnection::Pg(_) => {
            // Whole words anywhere (websearch syntax, which never fails to parse); and
            // where words cannot find it, each term inside words (trigrams). Several
            // spaced words skip the trigrams: their many trigrams cost more to read
            // than the words' own index (natter-bench search).
            let (words, wanted) = (param(), param());
            let patterns: Vec<String> = if query.needs_substrings() {
                query.terms().map(anywhere).collect()
            } else {
                Vec::new()
            };
            let substrings = patterns
                .iter()
                .map(|_| format!("m.content ILIKE {} ESCAPE '\\'", param()))
                .collect::<Vec<_>>()
                .join(" AND ");
            let substrings = if substrings.is_empty() {
                String::new()
            } else {
                format!(" OR ({substrings})")
            };
            let sql = format!(
                "SELECT m.id, true AS hit FROM chat_messages m WHERE {conditions} \
                 AND m.deleted_at IS NULL \
                 AND (m.search @@ websearch_to_tsquery('simple', {words}){substrings}) \
                 ORDER BY m.id DESC LIMIT {wanted}"
            );
            let mut statement = bind_scope!(diesel::sql_query(sql), caller, scope)
                .bind::<Text, _>(query.as_str())
                .bind::<BigInt, _>(limit);
            for pattern in patterns {
                statement = statement.bind::<Text, _>(pattern);
            }
            Ok(statement.load(conn)?)
        }
        DbConnection::Sqlite(_) => {
            // Every term of three characters or more, quoted, through the trigram
            // index; shorter ones as LIKE over what it finds.
            let (terms, wanted) = (param(), param());
            let short = short_terms
                .iter()
                .map(|_| format!(" AND m.content LIKE {} ESCAPE '\\'", param()))
                .collect::<Vec<_>>()
                .concat();
            let patterns = short_terms.iter().map(|term| anywhere(term));
            let sql = format!(
                "SELECT m.id, 1 AS hit FROM chat_messages_search s \
                 JOIN chat_messages m ON m.id = s.rowid \
                 WHERE s.chat_messages_search MATCH {terms} AND {conditions} \
                 AND m.deleted_at IS NULL{short} \
                 ORDER BY s.rowid DESC LIMIT {wanted}"
            );
            let mut statement = bind_scope!(diesel::sql_query(numbered(conn, &sql)), caller, scope)
                .bind::<Text, _>(
                    fts_terms
                        .iter()
                        .map(|term| fts5_string(term))
                        .collect::<Vec<_>>()
                        .join(" "),
                )
                .bind::<BigInt, _>(limit);
            for pattern in patterns {
                statement = statement.bind::<Text, _>(pattern);
            }
            Ok(statement.load(conn)?)
        }
    }
}

/// `sql` with its `$n` parameters as the backend numbers them: SQLite reads `$1` as a
/// name, numbered by where it first appears, and `?1` as the first parameter.
fn numbered(conn: &DbConnection, sql: &str) -> String {
    match conn {
        DbConnection::Pg(_) => sql.to_owned(),
        DbConnection::Sqlite(_) => sql.replace('$', "?"),
    }
}

/// The backend's case-insensitive LIKE.
fn like(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Pg(_) => "ILIKE",
        DbConnection::Sqlite(_) => "LIKE",
    }
}

fn boolean(conn: &DbConnection, value: bool) -> &'static str {
    match (conn, value) {
        (DbConnection::Pg(_), true) => "true",
        (DbConnection::Pg(_), false) => "false",
        (DbConnection::Sqlite(_), true) => "1",
        (DbConnection::Sqlite(_), false) => "0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_fts5_strings_hold_their_text_literally() {
        assert_eq!(anywhere(r"100%_a\b"), r"%100\%\_a\\b%");
        assert_eq!(
            fts5_string(r#"say "hi" NEAR(x*"#),
            r#""say ""hi"" NEAR(x*""#
        );
    }
}
