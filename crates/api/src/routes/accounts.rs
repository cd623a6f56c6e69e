//! Registering, signing in and out, and finding people.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::Duration;
use natter_domain::api::{AuthResponse, LoginRequest, RegisterRequest, User, UserSearchQuery};
use natter_domain::{ErrorBody, ErrorCode, Nickname, SessionId, UserId};

use crate::auth::{self, CurrentUser, TokenKeys, password};
use crate::db::clock::utc;
use crate::db::models::UserRow;
use crate::db::{self, Db, users};
use crate::error::ApiError;
use crate::extract::Json;

/// How long a login lasts.
const SESSION_LIFETIME: Duration = Duration::days(30);
/// Failed logins allowed per nickname within [`LOGIN_WINDOW`] before 429.
const LOGIN_LIMIT: i64 = 10;
const LOGIN_WINDOW: Duration = Duration::minutes(15);
const SEARCH_LIMIT: i64 = 20;

/// Starts a session for `user` and answers with the token, also set as a cookie.
async fn signed_in(
    request: &HttpRequest,
    db: &Db,
    keys: &TokenKeys,
    user: UserRow,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    let user_id = user.id;
    let session = db::write(db, move |conn| {
        Ok(users::start_session(conn, user_id, SESSION_LIFETIME)?)
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
        .cookie(auth::session_cookie(request, &token, SESSION_LIFETIME))
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
        (status = 201, description = "Registered and signed in", body = AuthResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 409, description = "Nickname taken (in any letter case)", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 422, description = "Invalid nickname or password", body = ErrorBody),
    )
)]
#[post("/users")]
pub async fn register(
    request: HttpRequest,
    db: web::Data<Db>,
    keys: web::Data<TokenKeys>,
    body: Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let (nickname, password) = body.0.validate()?;
    let hash = password::off_thread(move || password::hash(&password)).await??;
    let user = db::write(&db, move |conn| Ok(users::create(conn, &nickname, &hash)?))
        .await?
        .ok_or(ApiError::coded(
            ErrorCode::NicknameTaken,
            "this nickname is taken",
        ))?;
    tracing::info!(user_id = user.id, "registered");
    signed_in(
        &request,
        &db,
        &keys,
        user,
        actix_web::http::StatusCode::CREATED,
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
        (status = 429, description = "Too many failed attempts", body = ErrorBody),
    )
)]
#[post("/sessions")]
pub async fn login(
    request: HttpRequest,
    db: web::Data<Db>,
    keys: web::Data<TokenKeys>,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { nickname, password } = body.0;
    // A nickname that could never be registered still counts against its own key
    // (without NUL, which PostgreSQL's text cannot hold).
    let key = Nickname::parse(&nickname).map_or_else(
        |_| nickname.to_lowercase().replace('\0', "\u{fffd}"),
        |n| n.canonical(),
    );
    let lookup_key = key.clone();
    let (failures, user) = db::read(&db, move |conn| {
        let failures = users::recent_failures(conn, &lookup_key, LOGIN_WINDOW)?;
        Ok((failures, users::by_nickname_key(conn, &lookup_key)?))
    })
    .await?;
    if failures >= LOGIN_LIMIT {
        return Err(ApiError::coded(
            ErrorCode::RateLimited,
            "too many failed sign-ins for this nickname; try again in a few minutes",
        ));
    }
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let matches = password::off_thread(move || match stored {
        Some(stored) => password::verify(&password, &stored),
        None => {
            password::verify_against_dummy(&password);
            false
        }
    })
    .await?;
    match user {
        Some(user) if matches => {
            db::write(&db, move |conn| Ok(users::clear_failures(conn, &key)?)).await?;
            signed_in(&request, &db, &keys, user, actix_web::http::StatusCode::OK).await
        }
        _ => {
            db::write(&db, move |conn| Ok(users::record_failure(conn, &key)?)).await?;
            Err(ApiError::coded(
                ErrorCode::InvalidCredentials,
                "wrong nickname or password",
            ))
        }
    }
}

/// Sign out: the token stops working at once, everywhere.
#[utoipa::path(
    tag = "accounts",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/sessions/current")]
pub async fn logout(
    user: CurrentUser,
    db: web::Data<Db>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
) -> Result<HttpResponse, ApiError> {
    let session = user.session_id;
    db::write(&db, move |conn| Ok(users::revoke_session(conn, session)?)).await?;
    // Open streams of this session end at once, on this node and (by NOTIFY) on all.
    hub.revoke_session(session.get());
    db::write(&db, move |conn| Ok(users::announce_revoked(conn, session)?)).await?;
    Ok(HttpResponse::NoContent()
        .cookie(auth::expired_session_cookie())
        .finish())
}

/// The signed-in person.
#[utoipa::path(
    tag = "accounts",
    responses(
        (status = 200, description = "The signed-in person", body = User),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/me")]
pub async fn me(user: CurrentUser) -> web::Json<User> {
    web::Json(User {
        id: user.id,
        nickname: user.nickname,
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
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/users")]
pub async fn search_users(
    _user: CurrentUser,
    db: web::Data<Db>,
    query: web::Query<UserSearchQuery>,
) -> Result<web::Json<Vec<User>>, ApiError> {
    let q = query.into_inner().q;
    let prefix = Nickname::parse(&q)
        .map(|n| n.canonical())
        .unwrap_or_default();
    if prefix.is_empty() {
        return Ok(web::Json(Vec::new()));
    }
    let found = db::read(&db, move |conn| {
        Ok(users::search(conn, &prefix, SEARCH_LIMIT)?)
    })
    .await?;
    Ok(web::Json(found.iter().map(users::to_user).collect()))
}
