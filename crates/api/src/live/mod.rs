//! Live delivery. The event log in the database is the truth; this node's hub only
//! hands stamped events to the streams open on it. One background thread per node,
//! the [`listener`], reads what is new and dispatches it: on PostgreSQL it wakes on
//! NOTIFY, and on one node at a time (`db::events::lead`) it also stamps committed
//! events (`db::events::stamp`) and dispatches them straight from the pass, while the
//! other nodes ask it to stamp when they have written; on SQLite (one node) events
//! are stamped as they are written and the node's own commits wake it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDateTime;
use natter_domain::api::Presence;
use natter_domain::event::{Event, EventKind};
use tokio::sync::{Semaphore, SemaphorePermit, mpsc};

use crate::db::events::StampedEvent;

mod listener;
pub mod presence;
pub mod typing;

pub use listener::start;

/// Events a stream may hold before it is judged too slow and closed (it then resumes
/// from its cursor): memory per stream stays bounded.
pub const STREAM_BUFFER: usize = 1024;

/// An event that is never stored, from its JSON, as streams take it (`position` 0),
/// with the person it comes from.
pub fn ephemeral(payload: &str) -> Option<(StampedEvent, i64)> {
    let event: Event = serde_json::from_str(payload).ok()?;
    let Event::Typing {
        conversation_id,
        user,
    } = &event
    else {
        return None;
    };
    Some((
        StampedEvent {
            position: 0,
            conversation_id: conversation_id.get(),
            subject_user_id: Some(user.id.get()),
            kind: event.kind().name().to_owned(),
            payload: payload.to_owned(),
        },
        user.id.get(),
    ))
}

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
            // My read state: for my own streams only.
            Some(EventKind::ReadStateChanged) => return about_me,
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

/// How many event streams may be open on one node at once, per session and per person.
#[derive(Debug, Clone, Copy)]
pub struct StreamCaps {
    pub per_session: usize,
    pub per_user: usize,
}

impl Default for StreamCaps {
    fn default() -> Self {
        Self {
            per_session: 8,
            per_user: 32,
        }
    }
}

/// The streams open on this node, and how many each session and person holds.
#[derive(Default)]
struct Streams {
    subscribers: HashMap<u64, Subscriber>,
    per_session: HashMap<i64, usize>,
    per_user: HashMap<i64, usize>,
    /// The latest membership events dispatched, so that a stream whose snapshot is
    /// older than the hub can be brought up to it (see [`Hub::subscribe`]).
    memberships: VecDeque<Arc<StampedEvent>>,
    /// Every membership event at or below this position has left `memberships`.
    memberships_forgotten_to: i64,
}

/// Membership events the hub remembers: many more than can be dispatched between a
/// stream's snapshot and its subscription.
const REMEMBERED_MEMBERSHIPS: usize = 4096;

/// Why a stream could not subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A [`StreamCaps`] cap is reached.
    TooManyStreams,
    /// The stream's snapshot is older than the memberships the hub remembers: take a
    /// new one.
    StaleSnapshot,
}

/// Counts one down, forgetting a key that reaches zero.
fn release(counts: &mut HashMap<i64, usize>, key: i64) {
    if let Some(count) = counts.get_mut(&key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(&key);
        }
    }
}

/// Replays that may read the log at once on one node; the others wait their turn
/// without holding a database connection.
pub const REPLAYS_AT_ONCE: usize = 4;

/// The streams open on this node.
pub struct Hub {
    streams: Mutex<Streams>,
    caps: StreamCaps,
    replays: Semaphore,
    next_id: AtomicI64,
    /// The highest position dispatched on this node.
    delivered: AtomicI64,
    /// This node's name among the nodes, for its presence rows: new with each start.
    node: String,
    /// Whether this node leads (stamps, announces presence, drains the push outbox).
    leading: AtomicBool,
    /// When each person last made a request on this node (forgotten once idle).
    activity: Mutex<HashMap<i64, NaiveDateTime>>,
}

/// Removes its stream from the hub, and from its session's and person's counts, when
/// dropped: the count follows the stream's life, even when the hub closed it first.
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    session_id: i64,
    user_id: i64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut streams) = self.hub.streams.lock() {
            streams.subscribers.remove(&self.id);
            release(&mut streams.per_session, self.session_id);
            release(&mut streams.per_user, self.user_id);
        }
        metrics::gauge!(crate::metrics::STREAMS_OPEN).decrement(1.0);
    }
}

impl Hub {
    pub fn new(caps: StreamCaps) -> Self {
        Self {
            streams: Mutex::default(),
            caps,
            replays: Semaphore::new(REPLAYS_AT_ONCE),
            next_id: AtomicI64::default(),
            delivered: AtomicI64::default(),
            node: uuid::Uuid::new_v4().to_string(),
            leading: AtomicBool::default(),
            activity: Mutex::default(),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether this node leads now: its listener holds the stamping lock.
    pub fn is_leading(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::Release);
    }

    /// `person` made a request: they are active.
    pub fn touch(&self, person: i64) {
        if let Ok(mut activity) = self.activity.lock() {
            activity.insert(person, crate::db::clock::now());
        }
    }

    /// When each person active since `since` was last active; the others are
    /// forgotten.
    fn activity_since(&self, since: NaiveDateTime) -> HashMap<i64, NaiveDateTime> {
        let Ok(mut activity) = self.activity.lock() else {
            return HashMap::new();
        };
        activity.retain(|_, at| *at > since);
        activity.clone()
    }

    /// The people with a stream open on this node.
    pub fn people_with_streams(&self) -> HashSet<i64> {
        self.streams
            .lock()
            .map(|streams| streams.per_user.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Hands each of `changes` (person, presence) to the streams of the people who
    /// share a conversation with that person, by `memberships` (conversation,
    /// person): once per stream, however many conversations they share.
    pub fn dispatch_presence(&self, changes: &[(i64, Presence)], memberships: &[(i64, i64)]) {
        let events: HashMap<i64, Arc<StampedEvent>> = changes
            .iter()
            .filter_map(|&(person, presence)| {
                let event = Event::PresenceChanged {
                    user_id: natter_domain::UserId(person),
                    presence,
                };
                let payload = serde_json::to_string(&event).ok()?;
                Some((
                    person,
                    Arc::new(StampedEvent {
                        position: 0,
                        conversation_id: 0,
                        subject_user_id: Some(person),
                        kind: event.kind().name().to_owned(),
                        payload,
                    }),
                ))
            })
            .collect();
        let mut in_conversation: HashMap<i64, Vec<i64>> = HashMap::new();
        for &(conversation, person) in memberships {
            in_conversation
                .entry(conversation)
                .or_default()
                .push(person);
        }
        let Ok(mut streams) = self.streams.lock() else {
            return;
        };
        let mut told = HashSet::new();
        streams.subscribers.retain(|_, subscriber| {
            told.clear();
            for conversation in &subscriber.visibility.conversations {
                for person in in_conversation.get(conversation).into_iter().flatten() {
                    let Some(event) = events.get(person) else {
                        continue;
                    };
                    if !told.insert(*person) {
                        continue;
                    }
                    // Like typing, a hint: dropped when it does not fit.
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        subscriber.sender.try_send(event.clone())
                    {
                        return false;
                    }
                }
            }
            true
        });
    }

    /// A turn to read the log for a replay: one of [`REPLAYS_AT_ONCE`].
    pub async fn replay_turn(&self) -> Option<SemaphorePermit<'_>> {
        self.replays.acquire().await.ok()
    }

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

    /// Whether `session` (of `user`) may open another stream now: a cheap check
    /// before the work of opening one; [`Self::subscribe`] decides.
    pub fn has_room(&self, session_id: i64, user_id: i64) -> bool {
        self.streams
            .lock()
            .is_ok_and(|streams| self.room(&streams, session_id, user_id))
    }

    fn room(&self, streams: &Streams, session_id: i64, user_id: i64) -> bool {
        streams.per_session.get(&session_id).copied().unwrap_or(0) < self.caps.per_session
            && streams.per_user.get(&user_id).copied().unwrap_or(0) < self.caps.per_user
    }

    /// Opens a stream for `session` that gets what `visibility` admits, unless that
    /// session or its person already has as many as the caps allow.
    ///
    /// `visibility` is as of position `as_of` (the head of the same database snapshot
    /// its memberships were read in). Events this hub dispatched after `as_of`, before
    /// this call, changed no subscriber's view of this stream: their membership changes
    /// are applied here, under the same lock as dispatching, so that a `member_removed`
    /// (or `member_added`) cannot fall between the snapshot and the subscription.
    pub fn subscribe(
        self: &Arc<Self>,
        session_id: i64,
        mut visibility: Visibility,
        as_of: i64,
    ) -> Result<(Subscription, mpsc::Receiver<Arc<StampedEvent>>), Refused> {
        let user_id = visibility.user_id;
        let mut streams = self.streams.lock().map_err(|_| Refused::TooManyStreams)?;
        if !self.room(&streams, session_id, user_id) {
            return Err(Refused::TooManyStreams);
        }
        if as_of < streams.memberships_forgotten_to {
            return Err(Refused::StaleSnapshot);
        }
        for event in streams.memberships.iter().filter(|e| e.position > as_of) {
            visibility.admit(event, event.kind());
        }
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let id = u64::try_from(self.next_id.fetch_add(1, Ordering::Relaxed)).unwrap_or_default();
        streams.subscribers.insert(
            id,
            Subscriber {
                session_id,
                visibility,
                sender,
            },
        );
        *streams.per_session.entry(session_id).or_default() += 1;
        *streams.per_user.entry(user_id).or_default() += 1;
        metrics::gauge!(crate::metrics::STREAMS_OPEN).increment(1.0);
        Ok((
            Subscription {
                hub: self.clone(),
                id,
                session_id,
                user_id,
            },
            receiver,
        ))
    }

    /// Hands `batch` (in position order) to every stream that may see each event.
    /// A stream whose buffer is full is closed; it resumes from its cursor.
    pub(crate) fn dispatch(&self, batch: Vec<StampedEvent>) {
        let Ok(mut streams) = self.streams.lock() else {
            return;
        };
        let streams = &mut *streams;
        metrics::counter!(crate::metrics::EVENTS_DISPATCHED)
            .increment(u64::try_from(batch.len()).unwrap_or(u64::MAX));
        for event in batch {
            let position = event.position;
            let kind = event.kind();
            let event = Arc::new(event);
            if kind.is_some_and(EventKind::changes_membership) {
                if streams.memberships.len() == REMEMBERED_MEMBERSHIPS
                    && let Some(forgotten) = streams.memberships.pop_front()
                {
                    streams.memberships_forgotten_to = forgotten.position;
                }
                streams.memberships.push_back(event.clone());
            }
            streams.subscribers.retain(|_, subscriber| {
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

    /// Hands an event that is never stored (`position` 0, such as `typing`) to the
    /// streams of the conversation's members on this node, but not to `from`'s own.
    pub fn dispatch_ephemeral(&self, event: StampedEvent, from: i64) {
        let Ok(mut streams) = self.streams.lock() else {
            return;
        };
        let event = Arc::new(event);
        streams.subscribers.retain(|_, subscriber| {
            let visibility = &subscriber.visibility;
            if visibility.user_id == from
                || !visibility.conversations.contains(&event.conversation_id)
            {
                return true;
            }
            // A notice that does not fit is dropped, the stream kept: it is only a hint.
            !matches!(
                subscriber.sender.try_send(event.clone()),
                Err(mpsc::error::TrySendError::Closed(_))
            )
        });
    }

    /// The sessions with a stream open on this node.
    pub fn session_ids(&self) -> Vec<i64> {
        self.streams
            .lock()
            .map(|streams| streams.per_session.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Ends every stream of a revoked session.
    pub fn revoke_session(&self, session_id: i64) {
        if let Ok(mut streams) = self.streams.lock() {
            streams
                .subscribers
                .retain(|_, subscriber| subscriber.session_id != session_id);
        }
    }
}
