//! Conversations and membership.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use natter_domain::api::{
    Conversation, ConversationSummary, CreateConversationRequest, RenameConversationRequest,
    UserRef,
};
use natter_domain::{ConversationId, ErrorBody, UserId};

use crate::auth::CurrentUser;
use crate::config::Limits;
use crate::db::{self, Db, conversations};
use crate::error::ApiError;
use crate::extract::Json;
use crate::rate::{Action, RateLimits};

/// My conversations, most recent activity first.
#[utoipa::path(
    tag = "conversations",
    responses(
        (status = 200, description = "My conversations", body = Vec<ConversationSummary>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/conversations")]
pub async fn list_conversations(
    user: CurrentUser,
    db: web::Data<Db>,
) -> Result<web::Json<Vec<ConversationSummary>>, ApiError> {
    let me = user.id;
    db::read(&db, move |conn| conversations::list_for(conn, me))
        .await
        .map(web::Json)
        .map_err(ApiError::from)
}

/// Start a conversation; I am its owner and a member.
#[utoipa::path(
    tag = "conversations",
    request_body = CreateConversationRequest,
    responses(
        (status = 201, description = "Created", body = Conversation),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "Invalid title, no other (existing) member, or too many", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/conversations")]
pub async fn create_conversation(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    limits: web::Data<Limits>,
    body: Json<CreateConversationRequest>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::CreateConversation, user.id)?;
    let title = body.0.validate()?;
    let (me, member_ids, max) = (user.id, body.0.member_ids, limits.max_members);
    let conversation = db::write(&db, move |conn| {
        conversations::create(conn, me, &title, &member_ids, max)
    })
    .await?;
    Ok(HttpResponse::Created().json(conversation))
}

/// One of my conversations with its members.
#[utoipa::path(
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation", body = Conversation),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/conversations/{id}")]
pub async fn show_conversation(
    user: CurrentUser,
    db: web::Data<Db>,
    id: web::Path<ConversationId>,
) -> Result<web::Json<Conversation>, ApiError> {
    let (id, me) = (id.into_inner(), user.id);
    db::read(&db, move |conn| conversations::show(conn, id, me))
        .await
        .map(web::Json)
        .map_err(ApiError::from)
}

/// Rename (owner only).
#[utoipa::path(
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = RenameConversationRequest,
    responses(
        (status = 200, description = "Renamed", body = Conversation),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 422, description = "Invalid title", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[patch("/conversations/{id}")]
pub async fn rename_conversation(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    id: web::Path<ConversationId>,
    body: Json<RenameConversationRequest>,
) -> Result<web::Json<Conversation>, ApiError> {
    rates.check(Action::Change, user.id)?;
    let title = body.0.validate()?;
    let (id, me) = (id.into_inner(), user.id);
    db::write(&db, move |conn| conversations::rename(conn, id, me, &title))
        .await
        .map(web::Json)
        .map_err(ApiError::from)
}

/// Close (owner only): it stays readable but takes no new messages or reactions.
#[utoipa::path(
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "Closed (or already closed)", body = Conversation),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/conversations/{id}/close")]
pub async fn close_conversation(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    id: web::Path<ConversationId>,
) -> Result<web::Json<Conversation>, ApiError> {
    rates.check(Action::Change, user.id)?;
    let (id, me) = (id.into_inner(), user.id);
    db::write(&db, move |conn| conversations::close(conn, id, me))
        .await
        .map(web::Json)
        .map_err(ApiError::from)
}

/// Add a member (owner only).
#[utoipa::path(
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = UserRef,
    responses(
        (status = 200, description = "Added (or already a member)", body = Conversation),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 422, description = "No such person, or the conversation is full", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/conversations/{id}/members")]
pub async fn add_member(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    limits: web::Data<Limits>,
    id: web::Path<ConversationId>,
    body: Json<UserRef>,
) -> Result<web::Json<Conversation>, ApiError> {
    rates.check(Action::Change, user.id)?;
    let (id, me, new_member) = (id.into_inner(), user.id, body.0.user_id);
    let max = limits.max_members;
    db::write(&db, move |conn| {
        conversations::add_member(conn, id, me, new_member, max)
    })
    .await
    .map(web::Json)
    .map_err(ApiError::from)
}

/// Remove a member (owner), or leave (my own id). The owner must hand over first.
#[utoipa::path(
    tag = "conversations",
    params(
        ("id" = ConversationId, Path, description = "Conversation id"),
        ("user_id" = UserId, Path, description = "The member to remove; my own id to leave"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such conversation or member", body = ErrorBody),
        (status = 409, description = "The owner must transfer ownership before leaving", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/conversations/{id}/members/{user_id}")]
pub async fn remove_member(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    path: web::Path<(ConversationId, UserId)>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Change, user.id)?;
    let ((id, target), me) = (path.into_inner(), user.id);
    db::write(&db, move |conn| {
        conversations::remove_member(conn, id, me, target)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Hand ownership to another member (owner only).
#[utoipa::path(
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = UserRef,
    responses(
        (status = 200, description = "Ownership handed over", body = Conversation),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not the owner", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 422, description = "The new owner is not a member", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[put("/conversations/{id}/owner")]
pub async fn transfer_ownership(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    id: web::Path<ConversationId>,
    body: Json<UserRef>,
) -> Result<web::Json<Conversation>, ApiError> {
    rates.check(Action::Change, user.id)?;
    let (id, me, new_owner) = (id.into_inner(), user.id, body.0.user_id);
    db::write(&db, move |conn| {
        conversations::transfer_ownership(conn, id, me, new_owner)
    })
    .await
    .map(web::Json)
    .map_err(ApiError::from)
}
