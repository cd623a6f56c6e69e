//! Live delivery. The event log in the database is the truth; this node's hub only
//! hands stamped events to the streams open on it. One background thread per node,
//! the [`listener`], reads what is new and dispatches it: on PostgreSQL it wakes on
//! NOTIFY, and on one node at a time (`db::events::lead`) it also stamps committed
//! events (`db::events::stamp`) and dispatches them straight from the pass, while the
//! other nodes ask it to stamp when they have written; on SQLite (one node) events
//! are stamped as they are written and the node's own commits wake it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use natter_domain::event::{Event, EventKind};
use tokio::sync::mpsc;

use crate::db::events::StampedEvent;

mod listener;

pub use listener::start;

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

    /// Whether the person gets `event`, of `kind`, updating their memberships as it
    /// goes.
    pub fn admit(&mut self, event: &StampedEvent, kind: Option<EventKind>) -> bool {
        let conversation = event.conversation_id;
        let about_me = event.subject_user_id == Some(self.user_id);
        match kind {
            // Added to an existing conversation: for the newcomer only.
            Some(EventKind::AddedToConversation) if event.subject_user_id.is_some() => {
                if about_me {
                    self.conversations.insert(conversation);
                }
                return about_me;
            }
            // A new conversation: for everyone in it.
            Some(EventKind::AddedToConversation) => {
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
            Some(EventKind::MemberAdded) if about_me => {
                self.conversations.insert(conversation);
            }
            Some(EventKind::MemberRemoved) if about_me => {
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

    /// Where a fresh node starts: at the log's head, since streams replay what they
    /// missed themselves. Only the first call counts.
    fn start_at(&self, head: i64) {
        let _ = self
            .delivered
            .compare_exchange(0, head, Ordering::AcqRel, Ordering::Acquire);
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

    /// Hands `batch` (in position order) to every stream that may see each event.
    /// A stream whose buffer is full is closed; it resumes from its cursor.
    pub(crate) fn dispatch(&self, batch: Vec<StampedEvent>) {
        let Ok(mut subscribers) = self.subscribers.lock() else {
            return;
        };
        for event in batch {
            let position = event.position;
            let kind = event.kind();
            let event = Arc::new(event);
            subscribers.retain(|_, subscriber| {
                if !subscriber.visibility.admit(&event, kind) {
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
}
