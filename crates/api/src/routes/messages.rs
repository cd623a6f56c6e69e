//! History, sending, editing and deleting, reactions and seen receipts.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use natter_domain::api::{
    EditMessageRequest, HistoryQuery, MarkSeenRequest, MarkUnreadRequest, Message, MessageEdit,
    MessagePage, NotificationRequest, ReactionSummary, SeenEntry, SendMessageRequest, Watermark,
};
use natter_domain::{ConversationId, EmojiKey, ErrorBody, MessageId, ValidationError};

use crate::auth::{CurrentUser, UncheckedSession};
use crate::config::Limits;
use crate::db::messages::change::Edited;
use crate::db::messages::history::Cursor;
use crate::db::messages::send::Draft;
use crate::db::{self, Db, messages};
use crate::error::ApiError;
use crate::extract::Json;
use crate::files::purge::Purge;
use crate::rate::{Action, RateLimits};

/// A page of history: the newest messages, or those `before`/`after` a message id, or
/// the page `around` one (for jumping to it).
#[utoipa::path(
    tag = "messages",
    params(("id" = ConversationId, Path, description = "Conversation id"), HistoryQuery),
    responses(
        (status = 200, description = "A page of history, oldest first", body = MessagePage),
        (status = 400, description = "Bad query string", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member, or `around` names no message of it", body = ErrorBody),
        (status = 422, description = "Bad limit, or a negative id", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/conversations/{id}/messages")]
pub async fn message_history(
    user: CurrentUser,
    db: web::Data<Db>,
    id: web::Path<ConversationId>,
    query: web::Query<HistoryQuery>,
) -> Result<web::Json<MessagePage>, ApiError> {
    let HistoryQuery {
        before,
        after,
        around,
        limit,
    } = query.into_inner();
    let limit = limit.unwrap_or(HistoryQuery::DEFAULT_LIMIT);
    if !(1..=HistoryQuery::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            ValidationError::OutOfRange {
                max: HistoryQuery::MAX_LIMIT,
            },
        ));
    }
    for (field, id) in [("before", before), ("after", after), ("around", around)] {
        if id.is_some_and(|id| id.get() < 0) {
            return Err(ApiError::invalid(field, ValidationError::NotAnId));
        }
    }
    let cursor = match (before, after, around) {
        (None, None, None) => Cursor::Newest,
        (Some(before), None, None) => Cursor::Before(before),
        (None, Some(after), None) => Cursor::After(after),
        (None, None, Some(around)) => Cursor::Around(around),
        _ => {
            return Err(ApiError::BadRequest {
                message: "give one of before, after and around".into(),
                field: Some(if around.is_some() { "around" } else { "after" }.into()),
            });
        }
    };
    let (id, me) = (id.into_inner(), user.id);
    db::read(&db, move |conn| {
        messages::history::history(conn, id, me, cursor, limit)
    })
    .await
    .map(web::Json)
    .map_err(ApiError::from)
}

/// Send a message. Sending the same `client_id` again answers the first message (200).
#[utoipa::path(
    tag = "messages",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = SendMessageRequest,
    responses(
        (status = 201, description = "Sent", body = Message),
        (status = 200, description = "Already sent with this client_id", body = Message),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 409, description = "The conversation is closed", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 422, description = "Empty (without files), too long or invalid content or client_id, a reply_to_id that is not a live message of this conversation, or attachment_ids that are not my own unattached uploads (at most 10)", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/conversations/{id}/messages")]
pub async fn send_message(
    session: UncheckedSession,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    id: web::Path<ConversationId>,
    body: Json<SendMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Send, session.0.user_id)?;
    let (content, client_id) = body.0.validate()?;
    let draft = Draft {
        body: content,
        client_id,
        reply_to: body.0.reply_to_id,
        files: body.0.attachment_ids,
    };
    let (id, UncheckedSession(session)) = (id.into_inner(), session);
    // The session is checked by the send's own statement (401 if it is not live).
    let (message, created) =
        messages::send::send(&db, id, session.session_id, session.user_id, draft).await?;
    Ok(if created {
        HttpResponse::Created().json(message)
    } else {
        HttpResponse::Ok().json(message)
    })
}

/// Edit my message: the new text replaces the version I edited, if no one (no other
/// tab of mine) has edited it since.
#[utoipa::path(
    tag = "messages",
    params(("id" = MessageId, Path, description = "Message id")),
    request_body = EditMessageRequest,
    responses(
        (status = 200, description = "The message as edited (unchanged text: as it was, and no event)", body = Message),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not my message (`forbidden`), or the edit window has passed (`edit_window_passed`)", body = ErrorBody),
        (status = 404, description = "No such message, or not a member", body = ErrorBody),
        (status = 409, description = "The conversation is closed, or `version_conflict`: `current` holds the message as it is now", body = ErrorBody),
        (status = 410, description = "The message is deleted", body = ErrorBody),
        (status = 422, description = "Empty or too long content", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[patch("/messages/{id}")]
pub async fn edit_message(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    limits: web::Data<Limits>,
    id: web::Path<MessageId>,
    body: Json<EditMessageRequest>,
) -> Result<web::Json<Message>, ApiError> {
    rates.check(Action::Send, user.id)?;
    let content = body.0.validate()?;
    let (id, me, expected, window) = (
        id.into_inner(),
        user.id,
        body.0.expected_version,
        limits.edit_window,
    );
    let edited = db::write(&db, move |conn| {
        messages::change::edit(conn, id, me, &content, expected, window)
    })
    .await?;
    match edited {
        Edited::Done(message, changed) => {
            if changed {
                tracing::info!(message_id = %id, "message edited");
            }
            Ok(web::Json(message))
        }
        Edited::Conflict(current) => Err(ApiError::VersionConflict(Box::new(current))),
    }
}

/// Delete a message: mine, or any if I own the conversation. Its text, earlier
/// versions and reactions are erased; it stays as a tombstone. Again: 204 too.
#[utoipa::path(
    tag = "messages",
    params(("id" = MessageId, Path, description = "Message id")),
    responses(
        (status = 204, description = "Deleted (or already deleted)"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Neither my message nor my conversation", body = ErrorBody),
        (status = 404, description = "No such message, or not a member", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/messages/{id}")]
pub async fn delete_message(
    user: CurrentUser,
    db: web::Data<Db>,
    purge: web::Data<Purge>,
    rates: web::Data<RateLimits>,
    id: web::Path<MessageId>,
) -> Result<HttpResponse, ApiError> {
    rates.check(Action::Send, user.id)?;
    let (id, me) = (id.into_inner(), user.id);
    let had_files = db::write(&db, move |conn| messages::change::delete(conn, id, me)).await?;
    if had_files {
        purge.soon();
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The earlier versions of a message, oldest first: for its author and the
/// conversation's owner.
#[utoipa::path(
    tag = "messages",
    params(("id" = MessageId, Path, description = "Message id")),
    responses(
        (status = 200, description = "Each version before an edit", body = Vec<MessageEdit>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such message, or neither its author nor the owner", body = ErrorBody),
        (status = 410, description = "The message is deleted, and its history with it", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/messages/{id}/edits")]
pub async fn message_edits(
    user: CurrentUser,
    db: web::Data<Db>,
    id: web::Path<MessageId>,
) -> Result<web::Json<Vec<MessageEdit>>, ApiError> {
    let (id, me) = (id.into_inner(), user.id);
    db::read(&db, move |conn| messages::change::edits(conn, id, me))
        .await
        .map(web::Json)
        .map_err(ApiError::from)
}

/// I have seen everything up to this message: moves my watermark (never backwards).
#[utoipa::path(
    tag = "messages",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = MarkSeenRequest,
    responses(
        (status = 200, description = "My read watermark", body = Watermark),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such conversation or message in it", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/conversations/{id}/seen")]
pub async fn mark_seen(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    id: web::Path<ConversationId>,
    body: Json<MarkSeenRequest>,
) -> Result<web::Json<Watermark>, ApiError> {
    rates.check(Action::MarkSeen, user.id)?;
    let (id, me, up_to) = (id.into_inner(), user.id, body.0.up_to_message_id);
    db::write(&db, move |conn| {
        messages::receipts::mark_seen(conn, id, me, up_to)
    })
    .await
    .map(web::Json)
    .map_err(ApiError::from)
}

/// Who has seen a message, and when each first did.
#[utoipa::path(
    tag = "messages",
    params(("id" = MessageId, Path, description = "Message id")),
    responses(
        (status = 200, description = "Members who have seen it, earliest first", body = Vec<SeenEntry>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such message, or not a member", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/messages/{id}/seen")]
pub async fn seen_by(
    user: CurrentUser,
    db: web::Data<Db>,
    id: web::Path<MessageId>,
) -> Result<web::Json<Vec<SeenEntry>>, ApiError> {
    let (id, me) = (id.into_inner(), user.id);
    db::read(&db, move |conn| messages::receipts::seen_by(conn, id, me))
        .await
        .map(web::Json)
        .map_err(ApiError::from)
}

async fn react(
    user: CurrentUser,
    db: web::Data<Db>,
    path: web::Path<(MessageId, String)>,
    add: bool,
) -> Result<web::Json<Vec<ReactionSummary>>, ApiError> {
    let (id, key) = path.into_inner();
    // An emoji key that cannot exist names nothing: 404 like an unknown one.
    let key = EmojiKey::parse(&key).map_err(|_| ApiError::NotFound)?;
    let me = user.id;
    db::write(&db, move |conn| {
        messages::reactions::react(conn, id, me, &key, add)
    })
    .await
    .map(web::Json)
    .map_err(ApiError::from)
}

/// React with an emoji (idempotent). Answers the message's reactions.
#[utoipa::path(
    tag = "reactions",
    params(
        ("id" = MessageId, Path, description = "Message id"),
        ("emoji_key" = inline(EmojiKey), Path, description = "Emoji key, e.g. thumbs_up"),
    ),
    responses(
        (status = 200, description = "The message's reactions", body = Vec<ReactionSummary>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such message or emoji, or not a member", body = ErrorBody),
        (status = 409, description = "The conversation is closed", body = ErrorBody),
        (status = 410, description = "The message is deleted", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[put("/messages/{id}/reactions/{emoji_key}")]
pub async fn add_reaction(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    path: web::Path<(MessageId, String)>,
) -> Result<web::Json<Vec<ReactionSummary>>, ApiError> {
    rates.check(Action::React, user.id)?;
    react(user, db, path, true).await
}

/// Take my reaction back (idempotent). Answers the message's reactions.
#[utoipa::path(
    tag = "reactions",
    params(
        ("id" = MessageId, Path, description = "Message id"),
        ("emoji_key" = inline(EmojiKey), Path, description = "Emoji key, e.g. thumbs_up"),
    ),
    responses(
        (status = 200, description = "The message's reactions", body = Vec<ReactionSummary>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such message or emoji, or not a member", body = ErrorBody),
        (status = 409, description = "The conversation is closed", body = ErrorBody),
        (status = 410, description = "The message is deleted", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[delete("/messages/{id}/reactions/{emoji_key}")]
pub async fn remove_reaction(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    path: web::Path<(MessageId, String)>,
) -> Result<web::Json<Vec<ReactionSummary>>, ApiError> {
    rates.check(Action::React, user.id)?;
    react(user, db, path, false).await
}

/// Mark unread from this message on: my read pointer goes back to just before it, and
/// my other tabs hear `read_state_changed`. What others saw of my reading stays.
#[utoipa::path(
    tag = "messages",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = MarkUnreadRequest,
    responses(
        (status = 200, description = "My read state now", body = Watermark),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 422, description = "`from_message_id` is not a message of this conversation", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/conversations/{id}/unread")]
pub async fn mark_unread(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    id: web::Path<ConversationId>,
    body: Json<MarkUnreadRequest>,
) -> Result<web::Json<Watermark>, ApiError> {
    rates.check(Action::MarkSeen, user.id)?;
    let (id, me, from) = (id.into_inner(), user.id, body.0.from_message_id);
    if from.get() <= 0 {
        return Err(ApiError::invalid(
            "from_message_id",
            ValidationError::NotAnId,
        ));
    }
    db::write(&db, move |conn| {
        messages::receipts::mark_unread(conn, id, me, from)
    })
    .await
    .map(web::Json)
    .map_err(ApiError::from)
}

/// What of this conversation notifies me: `all`, `mentions` or `none` (muted).
#[utoipa::path(
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    request_body = NotificationRequest,
    responses(
        (status = 200, description = "The level now", body = NotificationRequest),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 422, description = "`level` is not all, mentions or none", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[put("/conversations/{id}/notifications")]
pub async fn set_notifications(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    id: web::Path<ConversationId>,
    body: Json<NotificationRequest>,
) -> Result<web::Json<NotificationRequest>, ApiError> {
    rates.check(Action::Change, user.id)?;
    let level = body.0.validate()?;
    let (id, me) = (id.into_inner(), user.id);
    let level = db::write(&db, move |conn| {
        messages::receipts::set_notification_level(conn, id, me, level)
    })
    .await?;
    Ok(web::Json(NotificationRequest {
        level: level.as_str().to_owned(),
    }))
}
