//! People, their sessions, and failed-login counting.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use natter_domain::api::User;
use natter_domain::{Nickname, SessionId, UserId};

use crate::db::clock::{self, database_now};
use crate::db::models::{NewSession, NewUser, SessionRow, UserRow};
use crate::db::{DbConnection, channels, per_backend};
use crate::schema::{auth_login_failures, auth_sessions, auth_users};

pub fn to_user(row: &UserRow) -> User {
    User {
        id: UserId(row.id),
        nickname: row.nickname.clone(),
    }
}

/// `Ok(None)` when the nickname (in any letter case or width) is taken.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut DbConnection,
    nickname: &Nickname,
    password_hash: &str,
) -> QueryResult<Option<UserRow>> {
    let key = nickname.canonical();
    let new = NewUser {
        nickname: nickname.as_str(),
        nickname_key: &key,
        password_hash,
    };
    let inserted = per_backend!(conn, c => diesel::insert_into(auth_users::table)
        .values(&new)
        .returning(UserRow::as_returning())
        .get_result(c));
    match inserted {
        Ok(row) => Ok(Some(row)),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(None),
        Err(other) => Err(other),
    }
}

pub fn by_nickname_key(conn: &mut DbConnection, key: &str) -> QueryResult<Option<UserRow>> {
    auth_users::table
        .filter(auth_users::nickname_key.eq(key))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn by_id(conn: &mut DbConnection, id: UserId) -> QueryResult<Option<UserRow>> {
    auth_users::table
        .find(id.get())
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

/// People whose nickname key starts with `prefix_key`, by nickname.
pub fn search(conn: &mut DbConnection, prefix_key: &str, limit: i64) -> QueryResult<Vec<UserRow>> {
    let escaped = prefix_key
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    auth_users::table
        .filter(auth_users::nickname_key.like(format!("{escaped}%")))
        .order((auth_users::nickname_key, auth_users::id))
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
}

/// Of `ids`, those that name a registered person.
pub fn existing(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<i64>> {
    auth_users::table
        .filter(auth_users::id.eq_any(ids))
        .select(auth_users::id)
        .load(conn)
}

pub fn start_session(
    conn: &mut DbConnection,
    user_id: i64,
    lifetime: chrono::Duration,
) -> QueryResult<SessionRow> {
    let created_at = clock::now();
    let new = NewSession {
        user_id,
        created_at,
        expires_at: created_at + lifetime,
    };
    per_backend!(conn, c => diesel::insert_into(auth_sessions::table)
        .values(&new)
        .returning(SessionRow::as_returning())
        .get_result(c))
}

/// `user`, if `session` is theirs and neither revoked nor expired by the database's
/// clock (as a send checks it: see `messages::send`).
pub fn session_user(
    conn: &mut DbConnection,
    session: SessionId,
    user: UserId,
) -> QueryResult<Option<UserRow>> {
    per_backend!(conn, c => auth_sessions::table
        .inner_join(auth_users::table)
        .filter(auth_sessions::id.eq(session.get()))
        .filter(auth_sessions::user_id.eq(user.get()))
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::expires_at.gt(database_now(c)))
        .select(UserRow::as_select())
        .first(c)
        .optional())
}

pub fn revoke_session(conn: &mut DbConnection, session: SessionId) -> QueryResult<usize> {
    diesel::update(auth_sessions::table.find(session.get()))
        .filter(auth_sessions::revoked_at.is_null())
        .set(auth_sessions::revoked_at.eq(clock::now()))
        .execute(conn)
}

/// Tells every other node that `session` is revoked (after the revocation
/// committed). On SQLite there is no other node.
pub fn announce_revoked(conn: &mut DbConnection, session: SessionId) -> QueryResult<()> {
    if let DbConnection::Pg(pg) = conn {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(channels::REVOKED)
            .bind::<diesel::sql_types::Text, _>(session.get().to_string())
            .execute(pg)?;
    }
    Ok(())
}

/// Failed logins for a nickname key within the window.
pub fn recent_failures(
    conn: &mut DbConnection,
    key: &str,
    window: chrono::Duration,
) -> QueryResult<i64> {
    auth_login_failures::table
        .filter(auth_login_failures::nickname_key.eq(key))
        .filter(auth_login_failures::failed_at.gt(clock::now() - window))
        .count()
        .get_result(conn)
}

pub fn record_failure(conn: &mut DbConnection, key: &str) -> QueryResult<usize> {
    diesel::insert_into(auth_login_failures::table)
        .values(auth_login_failures::nickname_key.eq(key))
        .execute(conn)
}

pub fn clear_failures(conn: &mut DbConnection, key: &str) -> QueryResult<usize> {
    diesel::delete(auth_login_failures::table.filter(auth_login_failures::nickname_key.eq(key)))
        .execute(conn)
}
