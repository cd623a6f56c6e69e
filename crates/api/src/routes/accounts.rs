//! Registering, signing in and out, and finding people.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use chrono::Duration;
use natter_domain::api::{
    AuthResponse, ChangePasswordRequest, DeleteAccountRequest, LoginRequest, Me,
    PasswordResetRequest, PersonalSettings, RegisterRequest, SessionInfo, SettingsRequest, User,
    UserSearchQuery,
};
use natter_domain::{ErrorBody, ErrorCode, Nickname, SessionId, UserId};

use crate::auth::{self, CurrentUser, TokenKeys, password};
use crate::client;
use crate::config::Limits;
use crate::db::accounts::{self, Gate};
use crate::db::clock::utc;
use crate::db::models::UserRow;
use crate::db::{self, Db, throttle, users};
use crate::error::ApiError;
use crate::extract::Json;
use crate::rate::{Action, RateLimits};

const SEARCH_LIMIT: i64 = 20;

/// Starts a session for `user` and answers with the token, also set as a cookie.
async fn signed_in(
    request: &HttpRequest,
    db: &Db,
    lifetime: Duration,
    keys: &TokenKeys,
    user: UserRow,
    status: StatusCode,
) -> Result<HttpResponse, ApiError> {
    let user_id = user.id;
    // Kept for the person's list of sessions; cut to what the column holds.
    let agent: Option<String> = request
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|agent| {
            agent
                .chars()
                .filter(|c| !c.is_control())
                .take(256)
                .collect()
        });
    let session = db::write(db, move |conn| {
        Ok(users::start_session(
            conn,
            user_id,
            lifetime,
            agent.as_deref(),
        )?)
    })
    .await?;
    let expires_at = utc(session.expires_at);
    let token = keys.issue(
        UserId(user.id),
        SessionId(session.id),
        utc(session.created_at),
        expires_at,
    )?;
    Ok(HttpResponse::build(status)
        .cookie(auth::session_cookie(request, &token, lifetime))
        .json(AuthResponse {
            user: users::to_user(&user),
            token,
            expires_at,
        }))
}

/// Register a nickname and password; answers signed in.
#[utoipa::path(
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and signed in; the instance's first account is its admin", body = AuthResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 403, description = "Registration is by invitation and invite_code is missing or unknown (`invite_required`), or registration is closed (`registration_closed`)", body = ErrorBody),
        (status = 410, description = "The invitation has expired or been used up (`invite_expired`)", body = ErrorBody),
        (status = 409, description = "Nickname taken (in any letter case or width), or one that looks just like it", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 422, description = "Invalid nickname or password", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks waiting; see Retry-After", body = ErrorBody),
    )
)]
#[post("/users")]
pub async fn register(
    request: HttpRequest,
    db: web::Data<Db>,
    keys: web::Data<TokenKeys>,
    rates: web::Data<RateLimits>,
    limits: web::Data<Limits>,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let (nickname, password) = body.0.validate()?;
    rates.check(Action::Register, client::address_of(&request))?;
    let gate = Gate::Api(limits.registration, body.0.invite_code);
    let hash = password::off_thread(move || password::hash(&password)).await??;
    let user = db::write(&db, move |conn| {
        accounts::register(conn, &nickname, &hash, &gate)
    })
    .await?;
    tracing::info!(user_id = user.id, admin = user.admin, "registered");
    signed_in(
        &request,
        &db,
        limits.session_lifetime,
        &keys,
        user,
        StatusCode::CREATED,
    )
    .await
}

/// Sign in. An unknown nickname and a wrong password get the same answer.
#[utoipa::path(
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong nickname or password", body = ErrorBody),
        (status = 403, description = "An admin has disabled this account (`account_disabled`)", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or for this account from it; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks waiting; see Retry-After", body = ErrorBody),
    )
)]
#[post("/sessions")]
pub async fn login(
    request: HttpRequest,
    db: web::Data<Db>,
    keys: web::Data<TokenKeys>,
    rates: web::Data<RateLimits>,
    limits: web::Data<Limits>,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let address = client::address_of(&request);
    rates.check(Action::SignIn, address)?;
    let LoginRequest { nickname, password } = body.0;
    // Guesses are counted per (account, address) and per address: someone guessing
    // from one place cannot lock the owner out from another. A nickname that could
    // never be registered has no account to count against.
    let account = Nickname::parse(&nickname).ok().map(|n| n.canonical());
    let address_key = address.to_string();
    let account_key = account.as_ref().map(|key| format!("{address_key} {key}"));
    let counted: Vec<String> = account_key
        .iter()
        .cloned()
        .chain([address_key.clone()])
        .collect();
    let attempted = counted.clone();
    let refused = db::write(&db, move |conn| Ok(throttle::attempt(conn, &attempted)?)).await?;
    if let Some(wait) = refused {
        return Err(ApiError::RateLimited {
            retry_after: wait.to_std().unwrap_or_default(),
            message: "too many failed sign-ins; try again later",
        });
    }
    let user = match account {
        Some(key) => db::read(&db, move |conn| Ok(users::by_nickname_key(conn, &key)?)).await?,
        None => None,
    };
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let checked = password::off_thread(move || match stored {
        Some(stored) => password::verify(&password, &stored),
        None => {
            password::verify_against_dummy(&password);
            false
        }
    })
    .await;
    let matches = match checked {
        Ok(matches) => matches,
        Err(error) => {
            // Never checked: the attempt does not count.
            db::write(&db, move |conn| Ok(throttle::settle(conn, &counted)?)).await?;
            return Err(error.into());
        }
    };
    match (user, account_key) {
        (Some(user), Some(account_key)) if matches => {
            db::write(&db, move |conn| {
                Ok(throttle::succeeded(conn, &account_key, &[address_key])?)
            })
            .await?;
            // Said only to whoever knows the password.
            if user.disabled_at.is_some() {
                return Err(ApiError::coded(
                    ErrorCode::AccountDisabled,
                    "an admin has disabled this account",
                ));
            }
            let lifetime = limits.session_lifetime;
            signed_in(&request, &db, lifetime, &keys, user, StatusCode::OK).await
        }
        _ => Err(ApiError::coded(
            ErrorCode::InvalidCredentials,
            "wrong nickname or password",
        )),
    }
}

/// Sign out: the token stops working at once, everywhere.
#[utoipa::path(
    tag = "accounts",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/sessions/current")]
pub async fn logout(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Change, user.id)?;
    // Open streams of this session end at once, on this node and (by NOTIFY) on all.
    end_sessions(&db, &hub, user.id, Some(user.session_id)).await?;
    Ok(HttpResponse::NoContent()
        .cookie(auth::expired_session_cookie())
        .finish())
}

/// My sessions that are still signed in, newest first.
#[utoipa::path(
    tag = "accounts",
    responses(
        (status = 200, description = "My live sessions", body = Vec<SessionInfo>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/sessions")]
pub async fn list_sessions(
    user: CurrentUser,
    db: web::Data<Db>,
) -> Result<web::Json<Vec<SessionInfo>>, ApiError> {
    let owner = user.id;
    let rows = db::read(&db, move |conn| Ok(users::sessions_of(conn, owner)?)).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|row| SessionInfo {
                id: SessionId(row.id),
                created_at: utc(row.created_at),
                last_used_at: utc(row.last_used_at.unwrap_or(row.created_at)),
                expires_at: utc(row.expires_at),
                user_agent: row.user_agent,
                current: row.id == user.session_id.get(),
            })
            .collect(),
    ))
}

/// Sign out everywhere: every session of mine ends, with its streams on every node.
#[utoipa::path(
    tag = "accounts",
    responses(
        (status = 204, description = "Signed out everywhere"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/sessions")]
pub async fn sign_out_everywhere(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Change, user.id)?;
    end_sessions(&db, &hub, user.id, None).await?;
    Ok(HttpResponse::NoContent()
        .cookie(auth::expired_session_cookie())
        .finish())
}

/// End one of my sessions (signing out a lost device, say).
#[utoipa::path(
    tag = "accounts",
    params(("id" = SessionId, Path, description = "Session id")),
    responses(
        (status = 204, description = "Signed out there"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such live session of mine", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/sessions/{id}")]
pub async fn end_session(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
    id: web::Path<SessionId>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Change, user.id)?;
    let id = id.into_inner();
    if end_sessions(&db, &hub, user.id, Some(id)).await? == 0 {
        return Err(ApiError::NotFound);
    }
    let mut response = HttpResponse::NoContent();
    if id == user.session_id {
        response.cookie(auth::expired_session_cookie());
    }
    Ok(response.finish())
}

/// Revokes `user`'s sessions (or only `only`), ends their streams on this node at
/// once and tells the other nodes; answers how many ended.
async fn end_sessions(
    db: &Db,
    hub: &crate::live::Hub,
    user: UserId,
    only: Option<SessionId>,
) -> Result<usize, ApiError> {
    let ended = db::write(db, move |conn| {
        let which = only.map_or(users::Sessions::All, users::Sessions::Only);
        Ok(users::revoke_sessions(conn, user, which)?)
    })
    .await?;
    let count = ended.len();
    end_streams(db, hub, ended).await?;
    Ok(count)
}

/// Ends the streams of `sessions`, revoked already: on this node at once, and on the
/// others by NOTIFY.
pub(super) async fn end_streams(
    db: &Db,
    hub: &crate::live::Hub,
    sessions: Vec<i64>,
) -> Result<(), ApiError> {
    for session in &sessions {
        hub.revoke_session(*session);
    }
    if sessions.is_empty() {
        return Ok(());
    }
    db::write(db, move |conn| {
        for session in sessions {
            users::announce_revoked(conn, SessionId(session))?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// Checks `password` against `user`'s off the async workers: 403 `wrong_password`
/// naming `field` when it is not theirs.
async fn confirm_password(
    db: &Db,
    user: UserId,
    password: String,
    field: &'static str,
) -> Result<(), ApiError> {
    let stored = db::read(db, move |conn| Ok(users::by_id(conn, user)?))
        .await?
        .ok_or_else(ApiError::unauthenticated)?
        .password_hash;
    if password::off_thread(move || password::verify(&password, &stored)).await? {
        Ok(())
    } else {
        Err(ApiError::CodedField {
            code: ErrorCode::WrongPassword,
            message: "this is not the account's password",
            field,
        })
    }
}

/// Change my password; my other sessions end.
#[utoipa::path(
    tag = "accounts",
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; this session stays signed in, every other one ends"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "current_password is wrong (`wrong_password`)", body = ErrorBody),
        (status = 422, description = "new_password breaks the password rules", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks waiting; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[put("/me/password")]
pub async fn change_password(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
    body: Json<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let new_password = body.0.validate()?;
    rates.check(Action::Change, user.id)?;
    confirm_password(&db, user.id, body.0.current_password, "current_password").await?;
    let hash = password::off_thread(move || password::hash(&new_password)).await??;
    let (mine, keep) = (user.id, user.session_id);
    let ended = db::write(&db, move |conn| {
        accounts::set_password(conn, mine, &hash, Some(keep))
    })
    .await?;
    end_streams(&db, &hub, ended).await?;
    tracing::info!(user_id = %user.id, "changed their password");
    Ok(HttpResponse::NoContent().finish())
}

/// Set a new password with the one-time code an admin handed out (`natter admin
/// reset-password`); every session of the account ends.
#[utoipa::path(
    tag = "accounts",
    request_body = PasswordResetRequest,
    responses(
        (status = 204, description = "The new password is set; sign in with it"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 403, description = "Wrong nickname, or a wrong, used or expired code (`invalid_reset_code`)", body = ErrorBody),
        (status = 422, description = "new_password breaks the password rules", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address; see Retry-After", body = ErrorBody),
        (status = 503, description = "Too many password checks waiting; see Retry-After", body = ErrorBody),
    )
)]
#[post("/password-resets")]
pub async fn reset_password(
    request: HttpRequest,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
    body: Json<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let new_password = body.0.validate()?;
    // Codes are long and random; guesses count as sign-in attempts all the same.
    rates.check(Action::SignIn, client::address_of(&request))?;
    let PasswordResetRequest { nickname, code, .. } = body.0;
    let found = db::read(&db, move |conn| {
        let Ok(user) = accounts::by_nickname(conn, &nickname) else {
            return Ok(None);
        };
        Ok(accounts::reset_hash(conn, UserId(user.id))?.map(|hash| (user.id, hash)))
    })
    .await?;
    let matches = password::off_thread(move || match &found {
        Some((user, stored)) => password::verify(&code, stored).then_some(*user),
        None => {
            password::verify_against_dummy(&code);
            None
        }
    })
    .await?;
    let Some(user) = matches else {
        return Err(ApiError::CodedField {
            code: ErrorCode::InvalidResetCode,
            message: "this code is wrong, used or expired; ask an admin for a new one",
            field: "code",
        });
    };
    let hash = password::off_thread(move || password::hash(&new_password)).await??;
    let ended = db::write(&db, move |conn| {
        accounts::set_password(conn, UserId(user), &hash, None)
    })
    .await?;
    end_streams(&db, &hub, ended).await?;
    tracing::info!(user_id = user, "reset their password with a code");
    Ok(HttpResponse::NoContent().finish())
}

/// Delete my account for good. My messages stay, from "Deleted account" (sender
/// `null`); my reactions, receipts and sessions go; conversations I owned pass to
/// their longest-standing member, and close when fewer than two members remain.
#[utoipa::path(
    tag = "accounts",
    request_body = DeleteAccountRequest,
    responses(
        (status = 204, description = "Deleted; the nickname is free again"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "password is wrong (`wrong_password`)", body = ErrorBody),
        (status = 409, description = "The instance's last admin must make someone else admin first (`last_admin`)", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/me")]
pub async fn delete_account(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
    body: Json<DeleteAccountRequest>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Change, user.id)?;
    confirm_password(&db, user.id, body.0.password, "password").await?;
    let leaving = user.id;
    let ended = db::write(&db, move |conn| accounts::delete_account(conn, leaving)).await?;
    end_streams(&db, &hub, ended).await?;
    tracing::info!(user_id = %user.id, "deleted their account");
    Ok(HttpResponse::NoContent()
        .cookie(auth::expired_session_cookie())
        .finish())
}

/// The signed-in person.
#[utoipa::path(
    tag = "accounts",
    responses(
        (status = 200, description = "The signed-in person", body = Me),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/me")]
pub async fn me(user: CurrentUser, limits: web::Data<Limits>) -> web::Json<Me> {
    web::Json(Me {
        id: user.id,
        nickname: user.nickname,
        admin: user.admin,
        edit_window_seconds: limits.edit_window.map(|window| window.num_seconds()),
    })
}

/// People whose nickname starts with `q` (compared like nicknames: any case or width).
#[utoipa::path(
    tag = "accounts",
    params(UserSearchQuery),
    responses(
        (status = 200, description = "Matching people, at most 20", body = Vec<User>),
        (status = 400, description = "Missing q", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "q shorter than 2 characters", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/users")]
pub async fn search_users(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    query: web::Query<UserSearchQuery>,
) -> Result<web::Json<Vec<User>>, ApiError> {
    rates.check(Action::Search, user.id)?;
    let q = query.validate()?;
    // A prefix no nickname could start with finds no one.
    let prefix = Nickname::parse(q)
        .map(|n| n.canonical())
        .unwrap_or_default();
    if prefix.chars().count() < UserSearchQuery::MIN_CHARS {
        return Ok(web::Json(Vec::new()));
    }
    let found = db::read(&db, move |conn| {
        Ok(users::search(conn, &prefix, SEARCH_LIMIT)?)
    })
    .await?;
    Ok(web::Json(found.iter().map(users::to_user).collect()))
}

/// Change what I share with the people I talk to: read receipts and presence. A field
/// left out stays as it is.
#[utoipa::path(
    tag = "accounts",
    request_body = SettingsRequest,
    responses(
        (status = 200, description = "My settings now", body = PersonalSettings),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[patch("/me/settings")]
pub async fn update_settings(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    body: Json<SettingsRequest>,
) -> Result<web::Json<PersonalSettings>, ApiError> {
    rates.check(Action::Change, user.id)?;
    let (caller, change) = (user.id, body.0);
    db::write(&db, move |conn| {
        accounts::update_settings(conn, caller, change)
    })
    .await
    .map(web::Json)
    .map_err(ApiError::from)
}
