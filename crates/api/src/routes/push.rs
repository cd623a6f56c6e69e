//! Web Push: the server's VAPID key, and browsers' subscriptions to it.

use std::sync::Arc;

use actix_web::{HttpResponse, delete, get, post, web};
use natter_domain::ErrorBody;
use natter_domain::api::{PushKey, PushSubscriptionRequest, PushUnsubscribeRequest};

use crate::auth::CurrentUser;
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::extract::Json;
use crate::push::{self, crypto::Vapid};
use crate::rate::{Action, RateLimits};

/// The application server key for `PushManager.subscribe`: the VAPID public key.
#[utoipa::path(
    tag = "push",
    responses(
        (status = 200, description = "The VAPID public key", body = PushKey),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/push/key")]
pub async fn push_key(_user: CurrentUser, vapid: web::Data<Arc<Vapid>>) -> web::Json<PushKey> {
    web::Json(PushKey {
        key: vapid.public_key().to_owned(),
    })
}

/// Stores this browser's push subscription for me (replacing any with the same
/// endpoint): messages that notify me by my levels are pushed to it while I have
/// no stream open.
#[utoipa::path(
    tag = "push",
    request_body = PushSubscriptionRequest,
    responses(
        (status = 204, description = "Stored"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "`endpoint` is not https (or http to a loopback address), or `keys.p256dh` / `keys.auth` are not 65 / 16 bytes of base64url", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/push/subscriptions")]
pub async fn subscribe(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    body: Json<PushSubscriptionRequest>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Change, user.id)?;
    let subscription = push::check(&body.0)?;
    let me = user.id;
    db::write(&db, move |conn| {
        Ok(db::push::subscribe(
            conn,
            me,
            &subscription.endpoint,
            &subscription.p256dh,
            &subscription.auth,
        )?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Forgets my subscription with this endpoint.
#[utoipa::path(
    tag = "push",
    request_body = PushUnsubscribeRequest,
    responses(
        (status = 204, description = "Forgotten"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "I have no subscription with this endpoint", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/push/subscriptions")]
pub async fn unsubscribe(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    body: Json<PushUnsubscribeRequest>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Change, user.id)?;
    let (me, endpoint) = (user.id, body.0.endpoint);
    let removed = db::write(&db, move |conn| {
        Ok(db::push::unsubscribe(conn, me, &endpoint)?)
    })
    .await?;
    if removed {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}
