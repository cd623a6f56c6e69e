//! `GET /api/events`: the live stream of everything in my conversations.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, Responder, get, web};
use actix_web_lab::sse;
use natter_domain::ErrorBody;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::auth::CurrentUser;
use crate::db::events::StampedEvent;
use crate::db::{self, Db, conversations, events};
use crate::error::ApiError;
use crate::live::{Hub, Visibility};

const REPLAY_BATCH: i64 = 500;

/// Where to resume when the client cannot send `Last-Event-ID`: a browser whose
/// `EventSource` gave up (the server answered an error) must open a new one, and
/// cannot set headers on it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// The last position received; the `Last-Event-ID` header wins when both are sent.
    last_event_id: Option<i64>,
}

fn frame(event: &StampedEvent) -> sse::Event {
    sse::Event::Data(
        sse::Data::new(event.payload.clone())
            .event(event.kind.clone())
            .id(event.position.to_string()),
    )
}

/// Server-Sent Events: each event's `id:` is its stream position. Reconnecting with
/// `Last-Event-ID` replays exactly what was missed, then continues live; a stream
/// without one starts with a `ready` event carrying the current position. A cursor
/// the server cannot resume from gets a `resync` event: reload everything.
#[utoipa::path(
    tag = "events",
    params(
        ("Last-Event-ID" = Option<i64>, Header, description = "The last position received"),
        StreamQuery,
    ),
    responses(
        (status = 200, description = "An event stream (text/event-stream)", content_type = "text/event-stream"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/events")]
pub async fn event_stream(
    request: HttpRequest,
    query: web::Query<StreamQuery>,
    user: CurrentUser,
    pool: web::Data<Db>,
    hub: web::Data<Arc<Hub>>,
) -> Result<impl Responder, ApiError> {
    let resume_from: Option<i64> = request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
        .or(query.last_event_id);
    let me = user.id;
    let (mine, head, oldest) = db::read(&pool, move |conn| {
        Ok((
            conversations::ids_of(conn, me)?,
            events::head(conn)?,
            events::oldest(conn)?,
        ))
    })
    .await?;
    // Positions are gapless: a cursor before the oldest kept event missed pruned ones.
    let resumable =
        move |cursor: i64| cursor >= 0 && cursor <= head && oldest.is_none_or(|o| cursor >= o - 1);
    let visibility = Visibility::new(me.get(), mine);
    // Subscribe before replaying, so nothing committed meanwhile falls in between.
    let (subscription, live) = hub.subscribe(user.session_id.get(), visibility.clone());
    let (sender, receiver) = mpsc::channel(64);
    let pool = pool.into_inner();
    actix_web::rt::spawn(async move {
        let _subscription = subscription;
        let start = match resume_from {
            Some(cursor) if resumable(cursor) => cursor,
            Some(_) => {
                let resync = sse::Data::new("{\"type\":\"resync\"}")
                    .event("resync")
                    .id(head.to_string());
                if sender.send(resync.into()).await.is_err() {
                    return;
                }
                head
            }
            None => {
                let ready = sse::Data::new(format!("{{\"type\":\"ready\",\"position\":{head}}}"))
                    .event("ready")
                    .id(head.to_string());
                if sender.send(ready.into()).await.is_err() {
                    return;
                }
                head
            }
        };
        forward(&pool, start, visibility, live, &sender).await;
    });
    Ok(sse::Sse::from_infallible_receiver(receiver)
        .with_keep_alive(Duration::from_secs(15))
        .with_retry_duration(Duration::from_secs(2)))
}

/// Replays from the log after `cursor`, then forwards live events, never one twice.
async fn forward(
    pool: &Db,
    mut cursor: i64,
    mut visibility: Visibility,
    mut live: mpsc::Receiver<Arc<StampedEvent>>,
    sender: &mpsc::Sender<sse::Event>,
) {
    loop {
        let from = cursor;
        let Ok(batch) = db::read(pool, move |conn| {
            Ok(events::after(conn, from, REPLAY_BATCH)?)
        })
        .await
        else {
            // The database is away: end the stream; the client resumes from its cursor.
            return;
        };
        let done = batch.len() < usize::try_from(REPLAY_BATCH).unwrap_or(usize::MAX);
        for event in batch {
            cursor = event.position;
            if visibility.admit(&event) && sender.send(frame(&event)).await.is_err() {
                return;
            }
        }
        if done {
            break;
        }
    }
    while let Some(event) = live.recv().await {
        if event.position <= cursor {
            continue;
        }
        cursor = event.position;
        if sender.send(frame(&event)).await.is_err() {
            return;
        }
    }
}
