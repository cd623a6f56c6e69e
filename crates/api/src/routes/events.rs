//! `GET /api/events`: the live stream of everything in my conversations.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Responder, get, post, web};
use actix_web_lab::sse;
use futures_util::stream;
use natter_domain::api::{PresenceList, User};
use natter_domain::event::Event;
use natter_domain::{ConversationId, ErrorBody, ErrorCode, UserId};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::auth::CurrentUser;
use crate::db::events::{Snapshot, StampedEvent};
use crate::db::{self, Db, channels, conversations, events};
use crate::error::ApiError;
use crate::live::typing::{MAX_MEMBERS, TypingGate};
use crate::live::{self, Hub, Refused, Subscription, Visibility};

/// Events one replay read holds at most: bounded memory per replay (a payload is a
/// few KiB at most, a new conversation's member list aside).
const REPLAY_BATCH: i64 = 200;

/// Where to resume when the client cannot send `Last-Event-ID`: a browser whose
/// `EventSource` gave up (the server answered an error) must open a new one, and
/// cannot set headers on it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct StreamQuery {
    /// The last position received; the `Last-Event-ID` header wins when both are sent.
    last_event_id: Option<i64>,
}

/// A `ready` or `resync` event, which the log never holds: its `id:` is `position`.
fn control(event: &Event, position: i64) -> Result<sse::Data, ApiError> {
    let payload = serde_json::to_string(event).map_err(|error| ApiError::Internal(error.into()))?;
    Ok(sse::Data::new(payload)
        .event(event.kind().name())
        .id(position.to_string()))
}

fn frame(event: &StampedEvent) -> sse::Event {
    let data = sse::Data::new(event.payload.clone()).event(event.kind.clone());
    // An event never stored (position 0) has no place to resume from: no `id:`.
    sse::Event::Data(if event.position == 0 {
        data
    } else {
        data.id(event.position.to_string())
    })
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
        (status = 429, description = "Too many streams open for this session or person (too_many_streams)", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/events")]
pub async fn event_stream(
    request: HttpRequest,
    query: web::Query<StreamQuery>,
    user: CurrentUser,
    db: web::Data<Db>,
    hub: web::Data<Arc<Hub>>,
) -> Result<impl Responder, ApiError> {
    let resume_from: Option<i64> = request
        .headers()
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok())
        .or(query.last_event_id);
    let (me, session) = (user.id, user.session_id.get());
    if !hub.has_room(session, me.get()) {
        return Err(too_many_streams());
    }
    let (snapshot, subscription, live) = subscribe(&db, &hub, me, session).await?;
    let Snapshot { head, oldest, .. } = snapshot;
    // Positions are gapless: a cursor before the oldest kept event missed pruned ones.
    let resumable =
        move |cursor: i64| cursor >= 0 && cursor <= head && oldest.is_none_or(|o| cursor >= o - 1);
    let (first, cursor) = match resume_from {
        Some(cursor) if resumable(cursor) => (None, cursor),
        Some(_) => (Some(control(&Event::Resync, head)?), head),
        None => (Some(control(&Event::Ready { position: head }, head)?), head),
    };
    let expires_at = user.session_expires_at;
    let until_expiry = (expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let feed = Feed {
        db: db.into_inner(),
        hub: Arc::clone(&hub),
        me,
        first: first.map(sse::Event::Data),
        cursor,
        replay: VecDeque::new(),
        replaying: true,
        live,
        expiry: Box::pin(tokio::time::sleep(until_expiry)),
        _subscription: subscription,
    };
    // The stream is polled by the connection itself and dropped with it (with its
    // subscription): no task or buffer of its own per stream.
    let frames = stream::unfold(feed, |mut feed| async move {
        let frame = feed.next().await?;
        Some((frame, feed))
    });
    Ok(sse::Sse::from_infallible_stream(frames)
        .with_keep_alive(Duration::from_secs(15))
        .with_retry_duration(Duration::from_secs(2)))
}

fn too_many_streams() -> ApiError {
    ApiError::coded(
        ErrorCode::TooManyStreams,
        "too many event streams are open for this session or person; close one first",
    )
}

/// Reads what the stream may see and subscribes it to the hub, as of one snapshot.
/// Should the hub have moved on past what it remembers meanwhile (a burst of
/// membership changes), the snapshot is taken again.
async fn subscribe(
    db: &Db,
    hub: &Arc<Hub>,
    me: UserId,
    session: i64,
) -> Result<(Snapshot, Subscription, mpsc::Receiver<Arc<StampedEvent>>), ApiError> {
    const ATTEMPTS: usize = 3;
    for _ in 0..ATTEMPTS {
        let snapshot = db::read(db, move |conn| Ok(events::snapshot(conn, me)?)).await?;
        let visibility = Visibility::new(me.get(), snapshot.conversations.iter().copied());
        match hub.subscribe(session, visibility, snapshot.head) {
            Ok((subscription, live)) => return Ok((snapshot, subscription, live)),
            Err(Refused::TooManyStreams) => return Err(too_many_streams()),
            Err(Refused::StaleSnapshot) => {}
        }
    }
    Err(ApiError::Overloaded(
        "membership changes outpaced a new stream",
    ))
}

/// One stream's state: it replays from the log after `cursor`, then forwards live
/// events, never one twice, until its session expires.
struct Feed {
    db: Arc<Db>,
    hub: Arc<Hub>,
    me: UserId,
    /// The `ready` or `resync` event a stream starts with, until sent.
    first: Option<sse::Event>,
    /// The position of the last event this stream has passed.
    cursor: i64,
    /// Read from the log, not yet passed.
    replay: VecDeque<StampedEvent>,
    /// Whether the log may hold more to replay than `replay` does.
    replaying: bool,
    live: mpsc::Receiver<Arc<StampedEvent>>,
    /// When the session expires, and the stream with it.
    expiry: Pin<Box<tokio::time::Sleep>>,
    _subscription: Subscription,
}

impl Feed {
    /// The next frame, or `None` to end the stream (the database is away, the hub
    /// closed it, or the session expired): the client resumes from its cursor.
    async fn next(&mut self) -> Option<sse::Event> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            if let Some(event) = self.replay.pop_front() {
                self.cursor = event.position;
                return Some(frame(&event));
            } else if self.replaying {
                let (from, me) = (self.cursor, self.me);
                // A few replays read at a time; the others wait here, holding nothing.
                let turn = self.hub.replay_turn().await?;
                let batch = db::read(&self.db, move |conn| {
                    Ok(events::visible_after(conn, me, from, REPLAY_BATCH)?)
                })
                .await
                .ok()?;
                drop(turn);
                self.replaying = batch.len() == usize::try_from(REPLAY_BATCH).unwrap_or(usize::MAX);
                // Empty here: take the batch's own allocation rather than copy it.
                self.replay = batch.into();
            } else {
                break;
            }
        }
        // Caught up: give the replay buffer's memory back for the stream's long life.
        self.replay = VecDeque::new();
        loop {
            let event = tokio::select! {
                event = self.live.recv() => event?,
                () = &mut self.expiry => return None,
            };
            if event.position == 0 {
                return Some(frame(&event));
            }
            if event.position > self.cursor {
                self.cursor = event.position;
                return Some(frame(&event));
            }
        }
    }
}

/// I am typing in this conversation: its other members' streams, on every node, get
/// `typing` (never stored, never replayed, without an `id:`). Send it again every few
/// seconds while typing; a notice lapses after 6 s, and my next message ends it. One
/// per 2 s is taken; conversations over 50 members send none.
#[utoipa::path(
    tag = "events",
    params(("id" = ConversationId, Path, description = "Conversation id")),
    responses(
        (status = 204, description = "Taken (and sent, up to 50 members)"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such conversation, or not a member", body = ErrorBody),
        (status = 429, description = "Another notice came less than 2 s ago; see Retry-After", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[post("/conversations/{id}/typing")]
pub async fn say_typing(
    user: CurrentUser,
    db: web::Data<Db>,
    hub: web::Data<Arc<Hub>>,
    gate: web::Data<TypingGate>,
    id: web::Path<ConversationId>,
) -> Result<HttpResponse, ApiError> {
    let (id, me) = (id.into_inner(), user.id);
    let event = Event::Typing {
        conversation_id: id,
        user: User {
            id: me,
            nickname: user.nickname.clone(),
        },
    };
    let payload =
        serde_json::to_string(&event).map_err(|error| ApiError::Internal(error.into()))?;
    // One connection for all of it: membership, the gate, and the other nodes' NOTIFY.
    let (gate, notice) = (gate.into_inner(), payload.clone());
    let taken = db::read(&db, move |conn| {
        conversations::require_member(conn, id, me)?;
        if let Err(wait) = gate.check(me.get(), id.get()) {
            return Ok(Err(wait));
        }
        let members = conversations::member_count(conn, id)?;
        if members <= MAX_MEMBERS {
            channels::notify(conn, channels::TYPING, &notice)?;
        }
        Ok(Ok(members <= MAX_MEMBERS))
    })
    .await?;
    match taken {
        Err(wait) => Err(ApiError::RateLimited {
            retry_after: wait,
            message: "one typing notice per 2 seconds",
        }),
        Ok(heard) => {
            if heard && let Some((stamped, from)) = live::ephemeral(&payload) {
                hub.dispatch_ephemeral(stamped, from);
            }
            Ok(HttpResponse::NoContent().finish())
        }
    }
}

/// Who is around: everyone I share a conversation with (me included) who is online
/// or away. `presence_changed` events keep it current; they are not replayed, so
/// fetch this again whenever a stream (re)opens.
#[utoipa::path(
    tag = "events",
    responses(
        (status = 200, description = "Everyone not offline", body = PresenceList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/presence")]
pub async fn presence(
    user: CurrentUser,
    db: web::Data<Db>,
) -> Result<web::Json<PresenceList>, ApiError> {
    let me = user.id;
    let people = db::read(&db, move |conn| Ok(db::presence::around(conn, me)?)).await?;
    Ok(web::Json(PresenceList { people }))
}
