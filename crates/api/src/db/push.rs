//! Web Push in the database: browsers' subscriptions, and the outbox of pushes
//! waiting to be delivered, which new messages fill (read from the event log after a
//! cursor kept in `natter_settings`) and one node drains.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_domain::api::{Message, NotificationLevel};
use natter_domain::event::{Event, EventKind};
use natter_domain::{UserId, mentions};
use serde::Serialize;

use crate::db::{DbConnection, clock, conversations, events, per_backend, presence, settings};
use crate::schema::{
    auth_users, chat_conversation_members, chat_conversations, chat_mentions, natter_settings,
    push_outbox, push_subscriptions,
};

/// Where the outbox's reading of the event log has got to.
const CURSOR: &str = "push_cursor";
/// Events read from the log per pass.
const EVENTS_PER_PASS: i64 = 500;
/// The most text of a message a notification shows.
const BODY_CHARS: usize = 200;

/// Stores `endpoint` for `user`, replacing the keys (and the person) of any
/// subscription with the same endpoint.
pub fn subscribe(
    conn: &mut DbConnection,
    user: UserId,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> QueryResult<()> {
    let row = (
        push_subscriptions::user_id.eq(user.get()),
        push_subscriptions::endpoint.eq(endpoint),
        push_subscriptions::p256dh.eq(p256dh),
        push_subscriptions::auth.eq(auth),
        push_subscriptions::created_at.eq(clock::now()),
    );
    per_backend!(conn, c => diesel::insert_into(push_subscriptions::table)
        .values(row)
        .on_conflict(push_subscriptions::endpoint)
        .do_update()
        .set((
            push_subscriptions::user_id.eq(user.get()),
            push_subscriptions::p256dh.eq(p256dh),
            push_subscriptions::auth.eq(auth),
        ))
        .execute(c))?;
    Ok(())
}

/// Forgets `user`'s subscription at `endpoint`; answers whether there was one.
pub fn unsubscribe(conn: &mut DbConnection, user: UserId, endpoint: &str) -> QueryResult<bool> {
    let removed = diesel::delete(
        push_subscriptions::table
            .filter(push_subscriptions::user_id.eq(user.get()))
            .filter(push_subscriptions::endpoint.eq(endpoint)),
    )
    .execute(conn)?;
    Ok(removed > 0)
}

/// Where pushes start: the log's head when this is first asked (at start-up, before
/// any message can be sent), as kept from then on.
pub fn start_cursor(conn: &mut DbConnection) -> QueryResult<String> {
    let head = events::head(conn)?;
    settings::get_or_init(conn, CURSOR, || head.to_string())
}

/// What a push says: the notification the service worker shows, and where a click
/// leads.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    pub title: String,
    pub body: String,
    pub conversation_id: i64,
    pub message_id: i64,
    /// The page to open: the conversation at the message.
    pub url: String,
    /// Notifications of one conversation replace each other.
    pub tag: String,
}

/// Queues pushes for the messages written since the last pass, to the people they
/// notify (by their level) who have no stream open on a node alive since
/// `alive_since`. Answers how many were queued.
pub fn queue_new_messages(
    conn: &mut DbConnection,
    alive_since: NaiveDateTime,
) -> QueryResult<usize> {
    conn.transaction(|conn| {
        // Locked, so that a second node that believes it leads waits, then reads on.
        let cursor = natter_settings::table
            .find(CURSOR)
            .select(natter_settings::value);
        let cursor: Option<String> = match conn {
            DbConnection::Pg(pg) => cursor.for_update().first(pg).optional()?,
            DbConnection::Sqlite(sqlite) => cursor.first(sqlite).optional()?,
        };
        let cursor = match cursor {
            Some(cursor) => cursor,
            None => start_cursor(conn)?,
        };
        let cursor: i64 = cursor.parse().unwrap_or_default();
        let batch = events::after(conn, cursor, EVENTS_PER_PASS)?;
        let Some(last) = batch.last().map(|event| event.position) else {
            return Ok(0);
        };
        // Only conversations where someone has a subscription are read further: one
        // query for the batch, however many messages it holds.
        let conversations: Vec<i64> = batch
            .iter()
            .filter(|event| event.kind() == Some(EventKind::MessageCreated))
            .map(|event| event.conversation_id)
            .collect();
        let subscribed: HashSet<i64> = chat_conversation_members::table
            .inner_join(
                push_subscriptions::table
                    .on(push_subscriptions::user_id.eq(chat_conversation_members::user_id)),
            )
            .filter(chat_conversation_members::conversation_id.eq_any(&conversations))
            .select(chat_conversation_members::conversation_id)
            .distinct()
            .load::<i64>(conn)?
            .into_iter()
            .collect();
        let mut queued = 0;
        for event in batch {
            if event.kind() != Some(EventKind::MessageCreated)
                || !subscribed.contains(&event.conversation_id)
            {
                continue;
            }
            if let Ok(Event::MessageCreated { message }) = serde_json::from_str(&event.payload) {
                queued += queue_message(conn, &message, None, alive_since)?;
            }
        }
        diesel::update(natter_settings::table.find(CURSOR))
            .set(natter_settings::value.eq(last.to_string()))
            .execute(conn)?;
        Ok(queued)
    })
}

/// Queues pushes of `message` to the members its notifies by their level (of those
/// in `only`, when given), who have a subscription and no stream open on a node
/// alive since `alive_since`. Answers how many were queued.
pub fn queue_message(
    conn: &mut DbConnection,
    message: &Message,
    only: Option<&[UserId]>,
    alive_since: NaiveDateTime,
) -> QueryResult<usize> {
    let conversation = message.conversation_id;
    let sender = message.sender.as_ref().map(|s| s.id.get());
    let subscribed: Vec<(i64, Option<String>, i64)> = chat_conversation_members::table
        .inner_join(
            push_subscriptions::table
                .on(push_subscriptions::user_id.eq(chat_conversation_members::user_id)),
        )
        .filter(chat_conversation_members::conversation_id.eq(conversation.get()))
        .select((
            chat_conversation_members::user_id,
            chat_conversation_members::notification_level,
            push_subscriptions::id,
        ))
        .load(conn)?;
    let subscribed: Vec<_> = subscribed
        .into_iter()
        .filter(|&(person, _, _)| Some(person) != sender)
        .filter(|&(person, _, _)| only.is_none_or(|only| only.contains(&UserId(person))))
        .collect();
    if subscribed.is_empty() {
        return Ok(0);
    }
    let members = conversations::member_count(conn, conversation)?;
    let mentioned: HashSet<i64> = chat_mentions::table
        .filter(chat_mentions::message_id.eq(message.id.get()))
        .select(chat_mentions::user_id)
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    let notice = notice(conn, message)?;
    let payload = serde_json::to_string(&notice).unwrap_or_default();
    let now = clock::now();
    let mut away: HashMap<i64, bool> = HashMap::new();
    let mut rows = Vec::new();
    for (person, level, subscription) in subscribed {
        let level = NotificationLevel::effective(
            level
                .as_deref()
                .and_then(|l| NotificationLevel::parse(l).ok()),
            members,
        );
        let mentions_them = mentioned.contains(&person);
        let wanted = match level {
            NotificationLevel::All => true,
            NotificationLevel::Mentions => mentions_them,
            NotificationLevel::None => false,
        };
        if !wanted {
            continue;
        }
        let without_stream = match away.get(&person) {
            Some(&known) => known,
            None => {
                let known = !presence::has_open_stream(conn, person, alive_since)?;
                away.insert(person, known);
                known
            }
        };
        if without_stream {
            rows.push((
                push_outbox::subscription_id.eq(subscription),
                push_outbox::payload.eq(payload.clone()),
                push_outbox::urgency.eq(if mentions_them { "high" } else { "normal" }),
                push_outbox::due_at.eq(now),
                push_outbox::created_at.eq(now),
            ));
        }
    }
    if rows.is_empty() {
        return Ok(0);
    }
    per_backend!(conn, c => diesel::insert_into(push_outbox::table).values(&rows).execute(c))
}

/// The notification for `message`: "alice in Launch", and its text with mentions
/// written as names (or its files, when it has no text).
fn notice(conn: &mut DbConnection, message: &Message) -> QueryResult<Notice> {
    let conversation = message.conversation_id;
    let title: String = chat_conversations::table
        .find(conversation.get())
        .select(chat_conversations::title)
        .first(conn)?;
    let people: Vec<i64> = mentions::parse(&message.content)
        .people
        .iter()
        .map(|id| id.get())
        .collect();
    let names: HashMap<i64, String> = auth_users::table
        .filter(auth_users::id.eq_any(&people))
        .select((auth_users::id, auth_users::nickname))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let text = mentions::readable(&message.content, |id| names.get(&id.get()).cloned());
    let body = if text.is_empty() && !message.attachments.is_empty() {
        "📎 Files".to_owned()
    } else if text.chars().count() > BODY_CHARS {
        let mut cut: String = text.chars().take(BODY_CHARS).collect();
        cut.push('…');
        cut
    } else {
        text
    };
    let sender = message
        .sender
        .as_ref()
        .map_or(natter_domain::api::DELETED_ACCOUNT, |s| s.nickname.as_str());
    Ok(Notice {
        title: format!("{sender} in {title}"),
        body,
        conversation_id: conversation.get(),
        message_id: message.id.get(),
        url: format!("/conversations/{conversation}?message={}", message.id),
        tag: format!("conversation-{conversation}"),
    })
}

/// A push due now, with the subscription it goes to.
#[derive(Debug, Clone, Queryable)]
pub struct Due {
    pub id: i64,
    pub subscription_id: i64,
    pub payload: String,
    pub urgency: String,
    pub attempts: i32,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

/// Up to `limit` pushes due at `now`, each claimed until `lease_until` (so that a
/// node that dies while sending leaves them to be sent again, not lost).
pub fn claim_due(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<Due>> {
    conn.transaction(|conn| {
        let due: Vec<Due> = push_outbox::table
            .inner_join(push_subscriptions::table)
            .filter(push_outbox::due_at.le(now))
            .order(push_outbox::due_at.asc())
            .limit(limit)
            .select((
                push_outbox::id,
                push_outbox::subscription_id,
                push_outbox::payload,
                push_outbox::urgency,
                push_outbox::attempts,
                push_subscriptions::endpoint,
                push_subscriptions::p256dh,
                push_subscriptions::auth,
            ))
            .load(conn)?;
        let ids: Vec<i64> = due.iter().map(|d| d.id).collect();
        diesel::update(push_outbox::table.filter(push_outbox::id.eq_any(&ids)))
            .set(push_outbox::due_at.eq(lease_until))
            .execute(conn)?;
        Ok(due)
    })
}

/// The push was delivered, or given up on: it leaves the outbox.
pub fn done(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
    diesel::delete(push_outbox::table.find(id)).execute(conn)?;
    Ok(())
}

/// The push failed for now: try again at `due_at`.
pub fn retry(
    conn: &mut DbConnection,
    id: i64,
    attempts: i32,
    due_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(push_outbox::table.find(id))
        .set((
            push_outbox::attempts.eq(attempts),
            push_outbox::due_at.eq(due_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The push service says the subscription is gone (404, 410): forget it and its
/// pushes.
pub fn forget_subscription(conn: &mut DbConnection, subscription: i64) -> QueryResult<()> {
    diesel::delete(push_subscriptions::table.find(subscription)).execute(conn)?;
    Ok(())
}
