//! People and their sessions.

use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use natter_domain::api::User;
use natter_domain::{SessionId, UserId};

use crate::db::clock::{self, database_now};
use crate::db::models::{NewSession, SessionRow, UserRow};
use crate::db::{DbConnection, channels, per_backend};
use crate::schema::{auth_sessions, auth_users};

pub fn to_user(row: &UserRow) -> User {
    User {
        id: UserId(row.id),
        nickname: row.nickname.clone(),
    }
}

/// Who sent `message`: `None` once their account is deleted.
pub fn sender_of(
    conn: &mut DbConnection,
    message: &crate::db::models::MessageRow,
) -> QueryResult<Option<User>> {
    Ok(match message.sender_id {
        Some(id) => by_id(conn, UserId(id))?.as_ref().map(to_user),
        None => None,
    })
}

/// The confusable skeleton (Unicode TS #39) of a nickname key: nicknames that look
/// alike ("аlice" with a Cyrillic "а", "rn" and "m") share one.
pub fn skeleton(nickname_key: &str) -> String {
    unicode_security::skeleton(nickname_key).collect()
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

/// `text` with LIKE's wildcards escaped by `\` (pair with `.escape('\\')`).
pub fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// People whose nickname key starts with `prefix_key`, by nickname.
pub fn search(conn: &mut DbConnection, prefix_key: &str, limit: i64) -> QueryResult<Vec<UserRow>> {
    let escaped = like_escaped(prefix_key);
    auth_users::table
        // SQLite's LIKE has no escape character unless told; PostgreSQL's is `\`.
        .filter(
            auth_users::nickname_key
                .like(format!("{escaped}%"))
                .escape('\\'),
        )
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
    user_agent: Option<&str>,
) -> QueryResult<SessionRow> {
    let created_at = clock::now();
    let new = NewSession {
        user_id,
        created_at,
        expires_at: created_at + lifetime,
        last_used_at: created_at,
        user_agent,
    };
    let session = per_backend!(conn, c => diesel::insert_into(auth_sessions::table)
        .values(&new)
        .returning(SessionRow::as_returning())
        .get_result(c))?;
    diesel::update(auth_users::table.find(user_id))
        .set(auth_users::last_active_at.eq(created_at))
        .execute(conn)?;
    Ok(session)
}

/// When a session expires, and when a request last used it.
#[derive(Debug, Clone, Copy, Queryable, Selectable)]
#[diesel(table_name = auth_sessions)]
pub struct SessionTimes {
    pub expires_at: chrono::NaiveDateTime,
    pub last_used_at: Option<chrono::NaiveDateTime>,
}

/// `user` and when `session` expires, if the session is theirs and neither revoked
/// nor expired by the database's clock (as a send checks it: see `messages::send`).
pub fn session_user(
    conn: &mut DbConnection,
    session: SessionId,
    user: UserId,
) -> QueryResult<Option<(UserRow, SessionTimes)>> {
    per_backend!(conn, c => auth_sessions::table
        .inner_join(auth_users::table)
        .filter(auth_sessions::id.eq(session.get()))
        .filter(auth_sessions::user_id.eq(user.get()))
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::expires_at.gt(database_now(c)))
        .filter(auth_users::disabled_at.is_null())
        .select((UserRow::as_select(), SessionTimes::as_select()))
        .first(c)
        .optional())
}

/// Tells every other node that `session` is revoked (after the revocation
/// committed). On SQLite there is no other node.
pub fn announce_revoked(conn: &mut DbConnection, session: SessionId) -> QueryResult<()> {
    channels::notify(conn, channels::REVOKED, &session.get().to_string())
}

/// Of `sessions`, those that have ended: revoked, expired or gone.
pub fn ended_sessions(conn: &mut DbConnection, sessions: &[i64]) -> QueryResult<Vec<i64>> {
    let live: Vec<i64> = per_backend!(conn, c => auth_sessions::table
        .filter(auth_sessions::id.eq_any(sessions))
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::expires_at.gt(database_now(c)))
        .select(auth_sessions::id)
        .load(c))?;
    Ok(sessions
        .iter()
        .copied()
        .filter(|session| !live.contains(session))
        .collect())
}

/// Deletes revoked and expired sessions (their tokens are refused either way);
/// answers how many.
pub fn prune_sessions(conn: &mut DbConnection) -> QueryResult<usize> {
    diesel::delete(
        auth_sessions::table.filter(
            auth_sessions::revoked_at
                .is_not_null()
                .or(auth_sessions::expires_at.lt(clock::now())),
        ),
    )
    .execute(conn)
}

/// Gives a skeleton to every person registered before skeletons were kept. Of
/// nicknames that look alike, the first registered keeps it; the others are left
/// without (they stay usable) and logged.
pub fn fill_skeletons(conn: &mut DbConnection) -> QueryResult<usize> {
    let missing: Vec<(i64, String, String)> = auth_users::table
        .filter(auth_users::nickname_skeleton.is_null())
        .order(auth_users::id)
        .select((
            auth_users::id,
            auth_users::nickname,
            auth_users::nickname_key,
        ))
        .load(conn)?;
    let mut filled = 0;
    for (id, nickname, key) in missing {
        let updated = diesel::update(auth_users::table.find(id))
            .set(auth_users::nickname_skeleton.eq(skeleton(&key)))
            .execute(conn);
        match updated {
            Ok(n) => filled += n,
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                tracing::warn!(user_id = id, %nickname, "this nickname looks like another's; left as it is");
            }
            Err(other) => return Err(other),
        }
    }
    Ok(filled)
}

/// `user`'s sessions that are neither revoked nor expired, newest first.
pub fn sessions_of(conn: &mut DbConnection, user: UserId) -> QueryResult<Vec<SessionRow>> {
    per_backend!(conn, c => auth_sessions::table
        .filter(auth_sessions::user_id.eq(user.get()))
        .filter(auth_sessions::revoked_at.is_null())
        .filter(auth_sessions::expires_at.gt(database_now(c)))
        .order(auth_sessions::id.desc())
        .select(SessionRow::as_select())
        .load(c))
}

/// Which of a person's sessions to revoke.
#[derive(Debug, Clone, Copy)]
pub enum Sessions {
    All,
    Only(SessionId),
    AllBut(SessionId),
}

/// Revokes `which` of `user`'s live sessions; answers those revoked.
pub fn revoke_sessions(
    conn: &mut DbConnection,
    user: UserId,
    which: Sessions,
) -> QueryResult<Vec<i64>> {
    per_backend!(conn, c => {
        let mut query = diesel::update(auth_sessions::table)
            .filter(auth_sessions::user_id.eq(user.get()))
            .filter(auth_sessions::revoked_at.is_null())
            .into_boxed();
        match which {
            Sessions::All => {}
            Sessions::Only(session) => {
                query = query.filter(auth_sessions::id.eq(session.get()));
            }
            Sessions::AllBut(session) => {
                query = query.filter(auth_sessions::id.ne(session.get()));
            }
        }
        query
            .set(auth_sessions::revoked_at.eq(clock::now()))
            .returning(auth_sessions::id)
            .get_results(c)
    })
}

/// How stale `last_used_at` may grow before a request writes it again: one write per
/// session every few minutes, not one per request.
pub const LAST_USED_EVERY: chrono::Duration = chrono::Duration::minutes(5);

/// Notes that `user` used `session` now, if it was last noted long enough ago.
pub fn touch_session(
    conn: &mut DbConnection,
    session: SessionId,
    user: UserId,
) -> QueryResult<usize> {
    let now = clock::now();
    let touched = diesel::update(auth_sessions::table.find(session.get()))
        .filter(
            auth_sessions::last_used_at
                .is_null()
                .or(auth_sessions::last_used_at.lt(now - LAST_USED_EVERY)),
        )
        .set(auth_sessions::last_used_at.eq(now))
        .execute(conn)?;
    if touched > 0 {
        diesel::update(auth_users::table.find(user.get()))
            .set(auth_users::last_active_at.eq(now))
            .execute(conn)?;
    }
    Ok(touched)
}
