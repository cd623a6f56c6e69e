//! Live delivery. The event log in PostgreSQL is the truth; this node's hub only
//! hands stamped events to the streams open on it. One background thread per node
//! listens for NOTIFY, reads what is new and dispatches it; on one node at a time
//! (`db::events::lead`) it also stamps committed events (`db::events::stamp`) and
//! dispatches them straight from the pass, and the other nodes ask it to stamp
//! when they have written.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use natter_domain::event::Event;
use tokio::sync::mpsc;

use crate::db::events::{self, StampedEvent, WROTE_EVENTS};
use crate::db::{Db, DbConnection};

/// Events a stream may hold before it is judged too slow and closed (it then resumes
/// from its cursor): memory per stream stays bounded.
pub const STREAM_BUFFER: usize = 1024;

/// What a stream may see: the conversations its person is in, kept current by the
/// membership events themselves.
#[derive(Debug, Clone)]
pub struct Visibility {
    user_id: i64,
    conversations: HashSet<i64>,
}

impl Visibility {
    pub fn new(user_id: i64, conversations: impl IntoIterator<Item = i64>) -> Self {
        Self {
            user_id,
            conversations: conversations.into_iter().collect(),
        }
    }

    /// Whether the person gets `event`, updating their memberships as it goes.
    pub fn admit(&mut self, event: &StampedEvent) -> bool {
        let conversation = event.conversation_id;
        let about_me = event.subject_user_id == Some(self.user_id);
        match event.kind.as_str() {
            // Added to an existing conversation: for the newcomer only.
            "added_to_conversation" if event.subject_user_id.is_some() => {
                if about_me {
                    self.conversations.insert(conversation);
                }
                return about_me;
            }
            // A new conversation: for everyone in it.
            "added_to_conversation" => {
                if let Ok(Event::AddedToConversation { conversation: c }) =
                    serde_json::from_str::<Event>(&event.payload)
                    && c.conversation
                        .members
                        .iter()
                        .any(|m| m.user.id.get() == self.user_id)
                {
                    self.conversations.insert(conversation);
                }
            }
            "member_added" if about_me => {
                self.conversations.insert(conversation);
            }
            "member_removed" if about_me => {
                // They hear of their own removal, and of nothing after it.
                return self.conversations.remove(&conversation);
            }
            _ => {}
        }
        self.conversations.contains(&conversation)
    }
}

struct Subscriber {
    session_id: i64,
    visibility: Visibility,
    sender: mpsc::Sender<Arc<StampedEvent>>,
}

/// The streams open on this node.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<HashMap<u64, Subscriber>>,
    next_id: AtomicI64,
    /// The highest position dispatched on this node.
    delivered: AtomicI64,
}

/// Removes its stream from the hub when dropped.
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut subscribers) = self.hub.subscribers.lock() {
            subscribers.remove(&self.id);
        }
    }
}

impl Hub {
    pub fn delivered(&self) -> i64 {
        self.delivered.load(Ordering::Acquire)
    }

    pub fn subscribe(
        self: &Arc<Self>,
        session_id: i64,
        visibility: Visibility,
    ) -> (Subscription, mpsc::Receiver<Arc<StampedEvent>>) {
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let id = u64::try_from(self.next_id.fetch_add(1, Ordering::Relaxed)).unwrap_or_default();
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.insert(
                id,
                Subscriber {
                    session_id,
                    visibility,
                    sender,
                },
            );
        }
        (
            Subscription {
                hub: self.clone(),
                id,
            },
            receiver,
        )
    }

    pub fn stream_count(&self) -> usize {
        self.subscribers.lock().map(|s| s.len()).unwrap_or_default()
    }

    /// Hands `batch` (in position order) to every stream that may see each event.
    /// A stream whose buffer is full is closed; it resumes from its cursor.
    fn dispatch(&self, batch: Vec<StampedEvent>) {
        let Ok(mut subscribers) = self.subscribers.lock() else {
            return;
        };
        for event in batch {
            let position = event.position;
            let event = Arc::new(event);
            subscribers.retain(|_, subscriber| {
                if !subscriber.visibility.admit(&event) {
                    return true;
                }
                match subscriber.sender.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::info!("closing a stream that fell too far behind");
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
            self.delivered.fetch_max(position, Ordering::AcqRel);
        }
    }

    /// Ends every stream of a revoked session.
    pub fn revoke_session(&self, session_id: i64) {
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.retain(|_, subscriber| subscriber.session_id != session_id);
        }
    }

    /// Ends every stream (shutdown): clients reconnect elsewhere and resume.
    pub fn close_all(&self) {
        if let Ok(mut subscribers) = self.subscribers.lock() {
            subscribers.clear();
        }
    }
}

/// Starts this node's stamper and listener thread.
pub fn start(db: Db, retention: Duration, hub: Arc<Hub>) {
    let spawned = std::thread::Builder::new()
        .name("natter-events".into())
        .spawn(move || {
            loop {
                if let Err(error) = listen(&db, retention, &hub) {
                    tracing::warn!(%error, "event listener lost its database connection; reconnecting");
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the event listener thread");
    }
}

/// How often the listener looks for notifications. diesel reads them without a
/// blocking wait (PQconsumeInput, no round trip), so this is the wake-up latency.
const POLL: Duration = Duration::from_millis(2);
/// Stamping and reading also run this often, in case a wake-up was missed (a node
/// died between commit and stamping, or an older transaction held events back).
const TICK: Duration = Duration::from_millis(200);
/// Events read from the log at a time.
const READ_BATCH: i64 = 1000;
/// While events wait for an older transaction, try again this soon.
const RETRY: Duration = Duration::from_millis(10);

/// On PostgreSQL, NOTIFY from the stamping node wakes the reader of every other node;
/// on SQLite (one node) this node's own writes do.
fn listen(db: &Db, retention: Duration, hub: &Hub) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Backend {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let mut conn = db.establish()?;
    // Our own NOTIFY comes back to us; what it announces was dispatched already.
    let mut own_pid = None;
    if let DbConnection::Pg(pg) = &mut conn {
        diesel::sql_query("LISTEN natter_events").execute(pg)?;
        diesel::sql_query("LISTEN natter_stamp").execute(pg)?;
        diesel::sql_query("LISTEN natter_revoked").execute(pg)?;
        own_pid = Some(
            diesel::sql_query("SELECT pg_backend_pid() AS pid")
                .get_result::<Backend>(pg)?
                .pid,
        );
    }
    if hub.delivered() == 0 {
        // A fresh node starts at the head: streams replay what they missed themselves.
        hub.delivered
            .store(events::head(&mut conn)?, Ordering::Release);
    }
    // Whether this node is the one that stamps (see `events::lead`); the others try
    // again every tick, so a node that dies is replaced within one.
    let mut leader = false;
    let mut next_leader_attempt = Instant::now();
    let mut next_stamp = Instant::now();
    // Where the next stamping pass starts looking (see `events::stamp`).
    let mut complete_below = 0;
    let mut next_read = Instant::now();
    // Pruning is idempotent, so every node may do it; a tenth of the retention apart.
    let prune_every = (retention / 10).clamp(Duration::from_secs(1), Duration::from_mins(10));
    let mut next_prune = Instant::now();
    loop {
        let mut stamp_requested = false;
        if let DbConnection::Pg(pg) = &mut conn {
            for notification in pg.notifications_iter() {
                let notification = notification?;
                match notification.channel.as_str() {
                    "natter_events" if Some(notification.process_id) != own_pid => {
                        next_read = Instant::now();
                    }
                    "natter_stamp" => stamp_requested = true,
                    "natter_revoked" => {
                        if let Ok(session) = notification.payload.parse() {
                            hub.revoke_session(session);
                        }
                    }
                    _ => {}
                }
            }
        }
        let now = Instant::now();
        let wrote = WROTE_EVENTS.swap(false, Ordering::AcqRel);
        if !leader && now >= next_leader_attempt {
            leader = events::lead(&mut conn)?;
            next_leader_attempt = now + TICK;
        }
        if leader {
            if wrote || stamp_requested {
                next_stamp = now;
            }
            if now >= next_stamp {
                let pass = events::stamp(&mut conn, complete_below)?;
                complete_below = pass.complete_below;
                let follows = pass
                    .stamped
                    .first()
                    .is_some_and(|first| first.position == hub.delivered() + 1);
                if follows {
                    hub.dispatch(pass.stamped);
                } else if !pass.stamped.is_empty() {
                    // Another stamper's events came first: read from the log.
                    next_read = now;
                }
                next_stamp = now + if pass.more { RETRY } else { TICK };
            }
        } else if wrote {
            events::request_stamp(&mut conn)?;
        }
        if wrote && matches!(conn, DbConnection::Sqlite(_)) {
            // SQLite's events are stamped as written: read them now.
            next_read = now;
        }
        if now >= next_read {
            loop {
                let batch = events::after(&mut conn, hub.delivered(), READ_BATCH)?;
                // A short batch is the end of the log: no query to learn it again.
                let more = batch.len() == usize::try_from(READ_BATCH).unwrap_or(usize::MAX);
                hub.dispatch(batch);
                if !more {
                    break;
                }
            }
            next_read = now + TICK;
        }
        if now >= next_prune {
            let pruned = db.write_blocking(&mut conn, |conn| events::prune(conn, retention))?;
            if pruned > 0 {
                tracing::info!(pruned, "pruned events past retention");
            }
            next_prune = now + prune_every;
        }
        std::thread::sleep(POLL);
    }
}
