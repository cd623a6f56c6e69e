//! Who is calling: the `CurrentUser` extractor, the session cookie, and the rules
//! that keep cookie-authenticated requests safe from cross-site forgery.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use natter_domain::{ErrorCode, SessionId, UserId};

use crate::client::ClientPath;
use crate::db::{self, Db};
use crate::error::ApiError;

pub mod password;
pub mod token;

pub use token::{TokenClaims, TokenKeys};

/// The browser's copy of the token. HttpOnly so scripts cannot read it, SameSite=Strict
/// so other sites cannot send it; EventSource needs it (it cannot send headers).
pub const SESSION_COOKIE: &str = "natter_session";

/// Cookie-authenticated requests that change something must carry this header, which
/// a cross-site form cannot send and a cross-site script may not without CORS.
pub const CSRF_HEADER: &str = "x-requested-with";

/// The signed-in person, from `Authorization: Bearer` or the session cookie. A handler
/// that takes one answers 401 to anyone else.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub nickname: String,
    pub admin: bool,
    pub session_id: SessionId,
    pub session_expires_at: chrono::DateTime<chrono::Utc>,
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let claims = UncheckedSession::verify(request);
        let db = request.app_data::<web::Data<Db>>().cloned();
        Box::pin(async move {
            let UncheckedSession(claims) = claims?;
            let Some(db) = db else {
                return Err(ApiError::Internal(anyhow::anyhow!(
                    "the database missing from app data"
                )));
            };
            let user = db::read(&db, move |conn| {
                Ok(db::users::session_user(
                    conn,
                    claims.session_id,
                    claims.user_id,
                )?)
            })
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
            let (user, times) = user;
            let session = claims.session_id;
            let stale = times
                .last_used_at
                .is_none_or(|at| at < db::clock::now() - db::users::LAST_USED_EVERY);
            if stale {
                // Best effort: a session's list shows it in use, give or take minutes.
                let noted = db::write(&db, move |conn| {
                    Ok(db::users::touch_session(conn, session, claims.user_id)?)
                })
                .await;
                if let Err(error) = noted {
                    tracing::warn!(%error, "could not note a session's use");
                }
            }
            Ok(Self {
                id: UserId(user.id),
                nickname: user.nickname,
                admin: user.admin,
                session_id: session,
                session_expires_at: db::clock::utc(times.expires_at),
            })
        })
    }
}

/// A caller whose token is genuine and unexpired but whose session (not revoked, not
/// expired) is still to be checked: for the hot path that checks it in the same
/// statement as its work (sending a message), saving a round trip. A handler that
/// takes one must answer 401 when that check fails; every other handler takes
/// [`CurrentUser`].
#[derive(Debug, Clone, Copy)]
pub struct UncheckedSession(pub TokenClaims);

impl UncheckedSession {
    fn verify(request: &HttpRequest) -> Result<Self, ApiError> {
        let token = credentials(request)?;
        let keys = request.app_data::<web::Data<TokenKeys>>().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("token keys missing from app data"))
        })?;
        let claims = keys.verify(&token).ok_or_else(ApiError::unauthenticated)?;
        // Any request of theirs says they are around (presence: online, not away).
        if let Some(hub) = request.app_data::<web::Data<std::sync::Arc<crate::live::Hub>>>() {
            hub.touch(claims.user_id.get());
        }
        Ok(Self(claims))
    }
}

impl FromRequest for UncheckedSession {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::verify(request))
    }
}

fn credentials(request: &HttpRequest) -> Result<String, ApiError> {
    if let Some(header) = request.headers().get(AUTHORIZATION) {
        return header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(|token| token.trim().to_owned())
            .filter(|token| !token.is_empty())
            .ok_or_else(ApiError::unauthenticated);
    }
    if let Some(cookie) = request.cookie(SESSION_COOKIE) {
        if !request.method().is_safe() && !request.headers().contains_key(CSRF_HEADER) {
            return Err(ApiError::Coded {
                code: ErrorCode::Forbidden,
                message: "requests signed in by cookie must send an X-Requested-With header",
            });
        }
        return Ok(cookie.value().to_owned());
    }
    Err(ApiError::unauthenticated())
}

/// `bytes` random bytes from the operating system, as hex: secrets and codes.
pub fn random_hex(bytes: usize) -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    use std::fmt::Write;
    let mut random = vec![0_u8; bytes];
    OsRng.fill_bytes(&mut random);
    random
        .iter()
        .fold(String::with_capacity(bytes * 2), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// The session cookie carrying `token`, marked Secure when the client reached us over
/// HTTPS (as `--public-url` or a trusted proxy says: see [`crate::client`]).
pub fn session_cookie(
    request: &HttpRequest,
    token: &str,
    max_age: chrono::Duration,
) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/api")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(
            request
                .app_data::<web::Data<ClientPath>>()
                .is_some_and(|path| path.is_https(request)),
        )
        .max_age(time::Duration::seconds(max_age.num_seconds()))
        .finish()
}

/// A cookie that replaces the session cookie with an expired, empty one.
pub fn expired_session_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, "")
        .path("/api")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    cookie.make_removal();
    cookie
}
