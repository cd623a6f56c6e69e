//! `GET /api/conversations/{id}/export`: one JSON document, written as it is read, a
//! page of messages at a time, so an export of any length holds one page in memory.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use futures_util::{StreamExt, stream};
use natter_domain::api::ConversationExport;
use natter_domain::{ConversationId, ErrorBody};

use crate::auth::CurrentUser;
use crate::db::clock::utc;
use crate::db::messages::export;
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::rate::{Action, RateLimits};

/// Messages read, and written out, at a time.
const PAGE: i64 = 500;

/// Where the document stands.
enum Part {
    /// Every message after this id is still to be written.
    Messages {
        after: i64,
        first: bool,
    },
    Done,
}

/// Everything I can see of one of my conversations, as one JSON document: its
/// members, and every message with its reactions and receipts, with their times.
#[utoipa::path(
    tag = "conversations",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation, streamed", body = ConversationExport),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/conversations/{id}/export")]
pub async fn export_conversation(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    // Each export reads a whole history: counted with searches, the other costly read.
    rates.check(Action::Search, user.id)?;
    let id = id.into_inner();
    let caller = user.id;
    let head = db::read(&db, move |conn| export::head(conn, id, caller)).await?;
    let conversation = &head.conversation;
    // The document's fields before the messages, as serde writes them, then the
    // messages array left open.
    let opening = format!(
        "{{\"exported_at\":{},\"id\":{},\"title\":{},\"created_at\":{},\"closed_at\":{},\"members\":{},\"messages\":[",
        json(&chrono::Utc::now())?,
        conversation.id,
        json(&conversation.title)?,
        json(&utc(conversation.created_at))?,
        json(&conversation.closed_at.map(utc))?,
        json(&head.members)?,
    );
    let db = db.into_inner();
    let messages = stream::unfold(
        Part::Messages {
            after: 0,
            first: true,
        },
        move |part| {
            let db = db.clone();
            async move {
                let Part::Messages { after, first } = part else {
                    return None;
                };
                let page = db::read(&db, move |conn| export::page(conn, id, after, PAGE)).await;
                let page = match page {
                    Ok(page) => page,
                    Err(error) => {
                        // The answer has begun: all that can be done is to cut it short.
                        tracing::error!(%error, conversation_id = %id, "an export failed midway");
                        return Some((Err(ApiError::from(error).into()), Part::Done));
                    }
                };
                let Some(last) = page.last().map(|message| message.id.get()) else {
                    return Some((Ok(Bytes::from_static(b"]}")), Part::Done));
                };
                let mut chunk = String::new();
                for (n, message) in page.iter().enumerate() {
                    if n > 0 || !first {
                        chunk.push(',');
                    }
                    match serde_json::to_string(message) {
                        Ok(text) => chunk.push_str(&text),
                        Err(error) => {
                            tracing::error!(%error, "an exported message did not serialise");
                            return Some((
                                Err(ApiError::Internal(error.into()).into()),
                                Part::Done,
                            ));
                        }
                    }
                }
                let next = Part::Messages {
                    after: last,
                    first: false,
                };
                Some((Ok::<_, actix_web::Error>(Bytes::from(chunk)), next))
            }
        },
    );
    let body = stream::once(std::future::ready(Ok::<_, actix_web::Error>(Bytes::from(
        opening,
    ))))
    .chain(messages);
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"natter-conversation-{id}.json\""),
        ))
        .streaming(body))
}

fn json(value: &impl serde::Serialize) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|error| ApiError::Internal(error.into()))
}
