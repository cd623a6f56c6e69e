//! What admins do through the API: invitations, and the people of the instance.

use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, get, post, web};
use natter_domain::api::{AdminUser, AdminUserPage, AdminUserQuery, CreateInviteRequest, Invite};
use natter_domain::{ErrorBody, UserId};

use crate::auth::CurrentUser;
use crate::client::ClientPath;
use crate::db::accounts::{self, AccountRow, InviteRow};
use crate::db::clock::{self, utc};
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::extract::Json;
use crate::rate::{Action, RateLimits};

/// A signed-in admin: anyone else gets 403.
pub struct Admin(pub CurrentUser);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let user = CurrentUser::from_request(request, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.admin {
                Ok(Self(user))
            } else {
                Err(ApiError::forbidden("only an admin may do this"))
            }
        })
    }
}

fn to_invite(row: InviteRow, base_url: &str) -> Invite {
    Invite {
        url: invite_url(base_url, &row.code),
        code: row.code,
        created_at: utc(row.created_at),
        expires_at: utc(row.expires_at),
        uses_left: row.uses_left,
    }
}

/// The web client's sign-up form with `code` filled in.
fn invite_url(base_url: &str, code: &str) -> String {
    format!("{base_url}/invite/{code}")
}

fn base_url(request: &HttpRequest) -> String {
    request
        .app_data::<web::Data<ClientPath>>()
        .map(|path| path.base_url(request))
        .unwrap_or_default()
}

/// 16 random bytes as hex: an invitation's code.
fn new_code() -> String {
    crate::auth::random_hex(16)
}

/// Invite someone to register (while `--registration invite`): share the URL.
#[utoipa::path(
    tag = "admin",
    request_body = CreateInviteRequest,
    responses(
        (status = 201, description = "The invitation", body = Invite),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "expires_in_hours or max_uses out of range", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/invites")]
pub async fn create_invite(
    request: HttpRequest,
    Admin(admin): Admin,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    body: Json<CreateInviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let (hours, uses) = body.0.validate()?;
    rates.check(Action::Change, admin.id)?;
    let created_at = clock::now();
    let row = InviteRow {
        code: new_code(),
        created_by: Some(admin.id.get()),
        created_at,
        expires_at: created_at + chrono::Duration::hours(hours),
        uses_left: uses,
    };
    let stored = row.clone();
    db::write(&db, move |conn| Ok(accounts::create_invite(conn, &stored)?)).await?;
    tracing::info!(admin_id = %admin.id, hours, uses, "created an invitation");
    Ok(HttpResponse::Created().json(to_invite(row, &base_url(&request))))
}

/// Every invitation, newest first, used up or expired ones too until revoked.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "Invitations", body = Vec<Invite>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/invites")]
pub async fn list_invites(
    request: HttpRequest,
    _admin: Admin,
    db: web::Data<Db>,
) -> Result<web::Json<Vec<Invite>>, ApiError> {
    let rows = db::read(&db, |conn| Ok(accounts::invites(conn)?)).await?;
    let base = base_url(&request);
    Ok(web::Json(
        rows.into_iter().map(|row| to_invite(row, &base)).collect(),
    ))
}

/// Revoke an invitation: its link stops working.
#[utoipa::path(
    tag = "admin",
    params(("code" = String, Path, description = "The invitation's code")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such invitation", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/invites/{code}")]
pub async fn delete_invite(
    Admin(admin): Admin,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Change, admin.id)?;
    let code = code.into_inner();
    if db::write(&db, move |conn| Ok(accounts::delete_invite(conn, &code)?)).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound)
    }
}

fn to_admin_user(row: AccountRow) -> AdminUser {
    AdminUser {
        id: UserId(row.id),
        nickname: row.nickname,
        created_at: utc(row.created_at),
        last_active_at: row.last_active_at.map(utc),
        admin: row.admin,
        disabled: row.disabled_at.is_some(),
    }
}

/// Everyone on the instance, by id, a page at a time.
#[utoipa::path(
    tag = "admin",
    params(AdminUserQuery),
    responses(
        (status = 200, description = "A page of people", body = AdminUserPage),
        (status = 400, description = "Bad query string", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 422, description = "after or limit out of range", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/admin/users")]
pub async fn list_users(
    _admin: Admin,
    db: web::Data<Db>,
    query: web::Query<AdminUserQuery>,
) -> Result<web::Json<AdminUserPage>, ApiError> {
    let (after, limit) = query.validate()?;
    let (rows, more) =
        db::read(&db, move |conn| Ok(accounts::accounts(conn, after, limit)?)).await?;
    let next_after = more
        .then(|| rows.last().map(|row| UserId(row.id)))
        .flatten();
    Ok(web::Json(AdminUserPage {
        users: rows.into_iter().map(to_admin_user).collect(),
        next_after,
    }))
}

/// Disables or enables `id` for `admin`; answers them as they now are.
async fn set_disabled(
    admin: &CurrentUser,
    db: &Db,
    rates: &RateLimits,
    hub: &crate::live::Hub,
    id: UserId,
    disabled: bool,
) -> Result<web::Json<AdminUser>, ApiError> {
    rates.check(Action::Change, admin.id)?;
    let (ended, account) = db::write(db, move |conn| {
        if accounts::account(conn, id)?.is_none() {
            return Err(db::Refusal::NotFound.into());
        }
        let ended = accounts::set_disabled(conn, id, disabled)?;
        Ok((ended, accounts::account(conn, id)?))
    })
    .await?;
    super::accounts::end_streams(db, hub, ended).await?;
    tracing::info!(admin_id = %admin.id, user_id = %id, disabled, "changed whether an account is disabled");
    account
        .map(|row| web::Json(to_admin_user(row)))
        .ok_or(ApiError::NotFound)
}

/// Disable someone: their sessions and open streams end at once, on every node, and
/// they cannot sign in; they stay a member of their conversations.
#[utoipa::path(
    tag = "admin",
    params(("id" = UserId, Path, description = "The person's id")),
    responses(
        (status = 200, description = "Disabled", body = AdminUser),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 409, description = "The last admin cannot be disabled (`last_admin`)", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/admin/users/{id}/disable")]
pub async fn disable_user(
    Admin(admin): Admin,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
    id: web::Path<UserId>,
) -> Result<web::Json<AdminUser>, ApiError> {
    set_disabled(&admin, &db, &rates, &hub, id.into_inner(), true).await
}

/// Let a disabled person sign in again.
#[utoipa::path(
    tag = "admin",
    params(("id" = UserId, Path, description = "The person's id")),
    responses(
        (status = 200, description = "Enabled", body = AdminUser),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/admin/users/{id}/enable")]
pub async fn enable_user(
    Admin(admin): Admin,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    hub: web::Data<std::sync::Arc<crate::live::Hub>>,
    id: web::Path<UserId>,
) -> Result<web::Json<AdminUser>, ApiError> {
    set_disabled(&admin, &db, &rates, &hub, id.into_inner(), false).await
}
