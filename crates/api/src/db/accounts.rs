//! Running an instance: who may register (invitations), admins, disabled accounts,
//! passwords and their resets, and deleting an account for good.
//!
//! Each function is one transaction's worth of work; the caller runs it as a write.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use natter_domain::api::{PersonalSettings, SettingsRequest};
use natter_domain::{ErrorCode, Nickname, UserId};

use crate::db::clock::{self, database_now};
use crate::db::models::{NewUser, UserRow};
use crate::db::users::Sessions;
use crate::db::{DbConnection, DbResult, Refusal, conversations, per_backend, users};
use crate::schema::{
    auth_invites, auth_password_resets, auth_sign_in_throttle, auth_users, chat_conversations,
    chat_message_reactions, chat_messages, chat_seen_messages,
};

/// Who may create an account through `POST /api/users` (`--registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Registration {
    /// Anyone who can reach the server.
    Open,
    /// Whoever has an invitation from an admin.
    Invite,
    /// No one: admins create accounts with `natter admin create-user`.
    Closed,
}

/// How an account comes to be.
#[derive(Debug, Clone)]
pub enum Gate {
    /// Through the API, under the instance's registration rule, with the invite code
    /// the person gave (if any).
    Api(Registration, Option<String>),
    /// By an admin at the command line: always allowed.
    Admin,
}

/// The advisory lock registrations take on PostgreSQL ("natreg"), so that two first
/// sign-ups cannot both find the instance empty and both become admin.
const REGISTRATION_LOCK: i64 = 0x6e61_7472_6567;

/// Creates an account if `gate` lets it in; the instance's first account is its admin
/// and needs no invitation. An invitation is used up in the same transaction, so a
/// taken nickname does not spend it.
pub fn register(
    conn: &mut DbConnection,
    nickname: &Nickname,
    password_hash: &str,
    gate: &Gate,
) -> DbResult<UserRow> {
    conn.transaction(|conn| {
        if let DbConnection::Pg(pg) = conn {
            diesel::sql_query(format!("SELECT pg_advisory_xact_lock({REGISTRATION_LOCK})"))
                .execute(pg)?;
        }
        let first = !diesel::select(diesel::dsl::exists(
            auth_users::table.select(auth_users::id),
        ))
        .get_result::<bool>(conn)?;
        if !first {
            match gate {
                Gate::Admin | Gate::Api(Registration::Open, _) => {}
                Gate::Api(Registration::Closed, _) => {
                    return Err(Refusal::coded(
                        ErrorCode::RegistrationClosed,
                        "registration is closed: an admin creates accounts",
                    )
                    .into());
                }
                Gate::Api(Registration::Invite, code) => use_invite(conn, code.as_deref())?,
            }
        }
        let key = nickname.canonical();
        let skeleton = users::skeleton(&key);
        let new = NewUser {
            nickname: nickname.as_str(),
            nickname_key: &key,
            nickname_skeleton: &skeleton,
            password_hash,
            admin: first,
        };
        let inserted = per_backend!(conn, c => diesel::insert_into(auth_users::table)
            .values(&new)
            .returning(UserRow::as_returning())
            .get_result(c));
        match inserted {
            Ok(row) => Ok(row),
            Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                Err(Refusal::Coded {
                    code: ErrorCode::NicknameTaken,
                    message: "this nickname, or one that looks just like it, is taken",
                    field: Some("nickname"),
                }
                .into())
            }
            Err(other) => Err(other.into()),
        }
    })
}

/// Spends one use of the invitation `code`: 403 when there is none such, 410 when it
/// has expired or been used up.
fn use_invite(conn: &mut DbConnection, code: Option<&str>) -> DbResult<()> {
    let required = Refusal::Coded {
        code: ErrorCode::InviteRequired,
        message: "registration is by invitation: give the invite_code an admin sent you",
        field: Some("invite_code"),
    };
    let Some(code) = code.map(str::trim).filter(|code| !code.is_empty()) else {
        return Err(required.into());
    };
    let spent = per_backend!(conn, c => diesel::update(auth_invites::table.find(code))
        .filter(auth_invites::uses_left.gt(0))
        .filter(auth_invites::expires_at.gt(database_now(c)))
        .set(auth_invites::uses_left.eq(auth_invites::uses_left - 1))
        .execute(c))?;
    if spent > 0 {
        return Ok(());
    }
    let known = diesel::select(diesel::dsl::exists(auth_invites::table.find(code)))
        .get_result::<bool>(conn)?;
    if known {
        Err(Refusal::Coded {
            code: ErrorCode::InviteExpired,
            message: "this invitation has expired or been used up; ask an admin for another",
            field: Some("invite_code"),
        }
        .into())
    } else {
        Err(required.into())
    }
}

/// An invitation as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_invites, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct InviteRow {
    pub code: String,
    pub created_by: Option<i64>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub uses_left: i64,
}

pub fn create_invite(conn: &mut DbConnection, invite: &InviteRow) -> QueryResult<()> {
    diesel::insert_into(auth_invites::table)
        .values(invite)
        .execute(conn)
        .map(drop)
}

/// Every invitation, newest first (used-up and expired ones too, until revoked).
pub fn invites(conn: &mut DbConnection) -> QueryResult<Vec<InviteRow>> {
    auth_invites::table
        .order((auth_invites::created_at.desc(), auth_invites::code))
        .select(InviteRow::as_select())
        .load(conn)
}

/// Answers whether there was such an invitation.
pub fn delete_invite(conn: &mut DbConnection, code: &str) -> QueryResult<bool> {
    Ok(diesel::delete(auth_invites::table.find(code)).execute(conn)? > 0)
}

/// A person as an admin sees them.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = auth_users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AccountRow {
    pub id: i64,
    pub nickname: String,
    pub created_at: NaiveDateTime,
    pub last_active_at: Option<NaiveDateTime>,
    pub admin: bool,
    pub disabled_at: Option<NaiveDateTime>,
}

/// Up to `limit` people with ids above `after`, by id, and whether more follow.
pub fn accounts(
    conn: &mut DbConnection,
    after: i64,
    limit: i64,
) -> QueryResult<(Vec<AccountRow>, bool)> {
    let mut rows: Vec<AccountRow> = auth_users::table
        .filter(auth_users::id.gt(after))
        .order(auth_users::id)
        .limit(limit + 1)
        .select(AccountRow::as_select())
        .load(conn)?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}

pub fn account(conn: &mut DbConnection, user: UserId) -> QueryResult<Option<AccountRow>> {
    auth_users::table
        .find(user.get())
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
}

/// The account with this nickname (in any letter case or width).
pub fn by_nickname(conn: &mut DbConnection, nickname: &str) -> DbResult<UserRow> {
    let unknown = || Refusal::Coded {
        code: ErrorCode::NotFound,
        message: "no account has this nickname",
        field: Some("nickname"),
    };
    let key = Nickname::parse(nickname)
        .map_err(|_| unknown())?
        .canonical();
    users::by_nickname_key(conn, &key)?.ok_or_else(|| unknown().into())
}

/// Refused when `user` is the last admin who can sign in: every instance keeps one.
fn keep_an_admin(conn: &mut DbConnection, user: UserId, what: &'static str) -> DbResult<()> {
    let query = auth_users::table
        .filter(auth_users::admin.eq(true))
        .filter(auth_users::disabled_at.is_null())
        .select(auth_users::id);
    // On PostgreSQL the admins' rows stay locked until the transaction ends, so that
    // two admins revoking each other at once take turns and the second finds the first
    // gone (SQLite has one writer).
    let admins: Vec<i64> = match conn {
        DbConnection::Pg(pg) => query.for_update().load(pg)?,
        DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
    };
    if admins == [user.get()] {
        return Err(Refusal::coded(ErrorCode::LastAdmin, what).into());
    }
    Ok(())
}

/// Makes `user` an admin, or stops them being one (never the last).
pub fn set_admin(conn: &mut DbConnection, user: UserId, admin: bool) -> DbResult<()> {
    conn.transaction(|conn| {
        if !admin {
            keep_an_admin(
                conn,
                user,
                "this is the last admin: make someone else admin first",
            )?;
        }
        diesel::update(auth_users::table.find(user.get()))
            .set(auth_users::admin.eq(admin))
            .execute(conn)?;
        Ok(())
    })
}

/// Disables `user` (never the last admin) and revokes their sessions; answers those
/// revoked, whose streams the caller ends. Enabling answers none.
pub fn set_disabled(conn: &mut DbConnection, user: UserId, disabled: bool) -> DbResult<Vec<i64>> {
    conn.transaction(|conn| {
        if !disabled {
            diesel::update(auth_users::table.find(user.get()))
                .set(auth_users::disabled_at.eq(None::<NaiveDateTime>))
                .execute(conn)?;
            return Ok(Vec::new());
        }
        keep_an_admin(
            conn,
            user,
            "this is the last admin: make someone else admin first",
        )?;
        diesel::update(auth_users::table.find(user.get()))
            .filter(auth_users::disabled_at.is_null())
            .set(auth_users::disabled_at.eq(clock::now()))
            .execute(conn)?;
        Ok(users::revoke_sessions(conn, user, Sessions::All)?)
    })
}

/// Sets `user`'s password and revokes their sessions but `keep`; answers those revoked.
/// A reset code they had is spent.
pub fn set_password(
    conn: &mut DbConnection,
    user: UserId,
    password_hash: &str,
    keep: Option<natter_domain::SessionId>,
) -> DbResult<Vec<i64>> {
    conn.transaction(|conn| {
        diesel::update(auth_users::table.find(user.get()))
            .set((
                auth_users::password_hash.eq(password_hash),
                auth_users::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        diesel::delete(auth_password_resets::table.find(user.get())).execute(conn)?;
        let which = keep.map_or(Sessions::All, Sessions::AllBut);
        Ok(users::revoke_sessions(conn, user, which)?)
    })
}

/// How long a reset code an admin hands out stays valid.
pub const RESET_VALID_FOR: chrono::Duration = chrono::Duration::hours(1);

/// Stores the hash of a new reset code for `user`, replacing any earlier one.
pub fn store_reset(conn: &mut DbConnection, user: UserId, code_hash: &str) -> QueryResult<()> {
    let expires_at = clock::now() + RESET_VALID_FOR;
    per_backend!(conn, c => diesel::insert_into(auth_password_resets::table)
        .values((
            auth_password_resets::user_id.eq(user.get()),
            auth_password_resets::code_hash.eq(code_hash),
            auth_password_resets::expires_at.eq(expires_at),
        ))
        .on_conflict(auth_password_resets::user_id)
        .do_update()
        .set((
            auth_password_resets::code_hash.eq(code_hash),
            auth_password_resets::expires_at.eq(expires_at),
        ))
        .execute(c))
    .map(drop)
}

/// The hash of `user`'s reset code, while it is valid.
pub fn reset_hash(conn: &mut DbConnection, user: UserId) -> QueryResult<Option<String>> {
    per_backend!(conn, c => auth_password_resets::table
        .find(user.get())
        .filter(auth_password_resets::expires_at.gt(database_now(c)))
        .select(auth_password_resets::code_hash)
        .first(c)
        .optional())
}

/// Deletes `user`'s account: their sessions (answered, for the caller to end their
/// streams), reactions, receipts and memberships go; conversations they owned pass to
/// their longest-standing member and close when fewer than two members remain; their
/// messages stay from nobody. Nothing about them is left in `auth_*`.
pub fn delete_account(conn: &mut DbConnection, user: UserId) -> DbResult<Vec<i64>> {
    conn.transaction(|conn| {
        let others = diesel::select(diesel::dsl::exists(
            auth_users::table
                .filter(auth_users::id.ne(user.get()))
                .select(auth_users::id),
        ))
        .get_result::<bool>(conn)?;
        if others {
            keep_an_admin(
                conn,
                user,
                "this is the last admin: make someone else admin before deleting this account",
            )?;
        }
        let sessions = users::revoke_sessions(conn, user, Sessions::All)?;
        for conversation in conversations::ids_of(conn, user)? {
            conversations::leave_for_good(conn, conversation, user)?;
        }
        diesel::delete(
            chat_message_reactions::table.filter(chat_message_reactions::user_id.eq(user.get())),
        )
        .execute(conn)?;
        diesel::delete(
            chat_seen_messages::table.filter(chat_seen_messages::user_id.eq(user.get())),
        )
        .execute(conn)?;
        diesel::update(chat_messages::table.filter(chat_messages::sender_id.eq(user.get())))
            .set(chat_messages::sender_id.eq(None::<i64>))
            .execute(conn)?;
        diesel::update(
            chat_conversations::table.filter(chat_conversations::created_by.eq(user.get())),
        )
        .set(chat_conversations::created_by.eq(None::<i64>))
        .execute(conn)?;
        let key: String = auth_users::table
            .find(user.get())
            .select(auth_users::nickname_key)
            .first(conn)?;
        // Throttle keys are "ADDRESS NICKNAME_KEY" (and bare addresses, nobody's).
        let escaped = users::like_escaped(&key);
        diesel::delete(
            auth_sign_in_throttle::table.filter(
                auth_sign_in_throttle::key
                    .like(format!("% {escaped}"))
                    .escape('\\'),
            ),
        )
        .execute(conn)?;
        // Sessions, reset codes and events about them go with the row (ON DELETE
        // CASCADE); invitations they made stay, from nobody (ON DELETE SET NULL).
        diesel::delete(auth_users::table.find(user.get())).execute(conn)?;
        Ok(sessions)
    })
}

/// Applies `change` to my settings; answers them as they are now.
pub fn update_settings(
    conn: &mut DbConnection,
    me: UserId,
    change: SettingsRequest,
) -> DbResult<PersonalSettings> {
    conn.transaction(|conn| {
        if let Some(share) = change.share_read_receipts {
            diesel::update(auth_users::table.find(me.get()))
                .set(auth_users::share_read_receipts.eq(share))
                .execute(conn)?;
        }
        if let Some(share) = change.share_presence {
            diesel::update(auth_users::table.find(me.get()))
                .set(auth_users::share_presence.eq(share))
                .execute(conn)?;
        }
        let (share_read_receipts, share_presence) = auth_users::table
            .find(me.get())
            .select((auth_users::share_read_receipts, auth_users::share_presence))
            .first(conn)
            .optional()?
            .ok_or(Refusal::NotFound)?;
        Ok(PersonalSettings {
            share_read_receipts,
            share_presence,
        })
    })
}
