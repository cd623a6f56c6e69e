//! The signed-in app's data: one [`ClientState`] loaded over REST and kept current by
//! one `EventSource` for the whole app, plus what only the browser tracks (history
//! paging, the connection, sends in flight).
//!
//! Start-up opens the stream first and loads over REST once the stream says `ready`;
//! events that arrive meanwhile wait and then apply (applying is idempotent), so
//! nothing falls between the load and the stream.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use natter_domain::api::{Attachment, HistoryQuery, Message, SendMessageRequest, User, Watermark};
use natter_domain::event::{Event, EventKind};
use natter_domain::state::{ClientState, PendingStatus};
use natter_domain::{AttachmentId, ClientId, ConversationId, MessageId};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventSource, MessageEvent};

use crate::api::{self, ApiError};
use crate::notify;
use crate::util::{after_layout, new_client_id, performance_mark, sleep};

/// Attempts at sending one message before it is shown as failed.
const SEND_ATTEMPTS: u32 = 5;
/// How long a typing notice shows without a repeat.
const TYPING_LASTS_MS: i32 = 6_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    /// The stream dropped; the browser or the app is reconnecting.
    Reconnecting,
}

/// Paging state of one conversation's history in this tab.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct History {
    pub loaded: bool,
    pub has_older: bool,
    pub loading: bool,
    /// Set when the view was opened at an older message (a search result, a quote)
    /// and the pages after it are not loaded yet: the newest message loaded. Newer
    /// ones (arriving live, say) wait unseen until the pages between are loaded.
    pub window_end: Option<MessageId>,
}

/// Which page of a conversation's history to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Newest,
    /// Before the oldest loaded message.
    Older,
    /// After [`History::window_end`].
    Newer,
}

/// The open stream; closing it when the app signs out or unmounts.
struct Stream {
    source: EventSource,
    _handlers: Vec<Closure<dyn FnMut(MessageEvent)>>,
    _on_open: Closure<dyn FnMut(web_sys::Event)>,
    _on_error: Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.source.close();
    }
}

#[derive(Clone, Copy)]
pub struct Store {
    pub me: StoredValue<User>,
    pub state: RwSignal<ClientState>,
    /// The first REST load is done.
    pub ready: RwSignal<bool>,
    pub load_error: RwSignal<Option<String>>,
    pub connection: RwSignal<Connection>,
    pub histories: RwSignal<BTreeMap<ConversationId, History>>,
    /// How long after sending I may edit a message (`None`: no limit), from `/me`.
    pub edit_window: RwSignal<Option<i64>>,
    loading: StoredValue<bool>,
    early_events: StoredValue<Vec<Event>>,
    last_event_id: StoredValue<Option<String>>,
    seen_requested: StoredValue<BTreeMap<ConversationId, MessageId>>,
    stream: StoredValue<Option<Stream>, LocalStorage>,
    /// The router's navigation, for a click on a notification.
    navigate: StoredValue<Navigate, LocalStorage>,
}

type Navigate = std::rc::Rc<dyn Fn(&str)>;

impl Store {
    /// Creates the store for `me`, opens the stream and provides it as context.
    pub fn start(me: User) -> Self {
        let store = Self {
            state: RwSignal::new(ClientState {
                me: me.id,
                ..ClientState::default()
            }),
            me: StoredValue::new(me),
            ready: RwSignal::new(false),
            load_error: RwSignal::new(None),
            connection: RwSignal::new(Connection::Connecting),
            histories: RwSignal::new(BTreeMap::new()),
            edit_window: RwSignal::new(Some(3600)),
            loading: StoredValue::new(false),
            early_events: StoredValue::new(Vec::new()),
            last_event_id: StoredValue::new(None),
            seen_requested: StoredValue::new(BTreeMap::new()),
            stream: StoredValue::new_local(None),
            navigate: StoredValue::new_local({
                let navigate = leptos_router::hooks::use_navigate();
                std::rc::Rc::new(move |to: &str| navigate(to, NavigateOptions::default()))
            }),
        };
        provide_context(store);
        store.connect();
        if notify::allowed() {
            // Allowed before: make sure the server still has this browser's subscription.
            spawn_local(notify::subscribe());
        }
        on_cleanup(move || {
            store.stream.try_update_value(Option::take);
        });
        store
    }

    pub fn me_id(self) -> natter_domain::UserId {
        self.me.with_value(|me| me.id)
    }

    fn connect(self) {
        let url = match self.last_event_id.get_value() {
            Some(id) => format!("/api/events?last_event_id={id}"),
            None => "/api/events".to_owned(),
        };
        let Ok(source) = EventSource::new(&url) else {
            self.connection.try_set(Connection::Reconnecting);
            return;
        };
        let mut handlers = Vec::new();
        // EventSource delivers a named event only to listeners of that name: listen
        // for every kind there is.
        for kind in EventKind::all() {
            let handler = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                self.receive(&event);
            });
            let _ = source
                .add_event_listener_with_callback(kind.name(), handler.as_ref().unchecked_ref());
            handlers.push(handler);
        }
        let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            self.connection.try_set(Connection::Live);
            // Presence is not replayed: take it afresh whenever the stream (re)opens.
            self.refresh_presence();
        });
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| self.on_error());
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        self.stream.try_set_value(Some(Stream {
            source,
            _handlers: handlers,
            _on_open: on_open,
            _on_error: on_error,
        }));
    }

    /// Takes everyone's presence afresh: when the stream (re)opens, and when I come
    /// to share a conversation with new people (whose presence was announced before).
    fn refresh_presence(self) {
        spawn_local(async move {
            if let Ok(list) = api::presence().await {
                self.state.try_update(|state| {
                    state.presence.clear();
                    for person in list.people {
                        state.set_presence(person.user_id, person.presence);
                    }
                });
            }
        });
    }

    fn on_error(self) {
        self.connection.try_set(Connection::Reconnecting);
        let closed = self.stream.try_with_value(|stream| {
            stream
                .as_ref()
                .is_some_and(|s| s.source.ready_state() == EventSource::CLOSED)
        });
        if closed != Some(true) {
            // The browser reconnects by itself and resumes with Last-Event-ID.
            return;
        }
        // The server refused the stream (signed out, or its database is away): the
        // browser gives up, so reconnect ourselves with the cursor in the query.
        spawn_local(async move {
            let mut wait = 1_000;
            loop {
                sleep(wait).await;
                if self.stream.try_with_value(|_| ()).is_none() {
                    return; // signed out meanwhile
                }
                match api::me().await {
                    Ok(_) => break,
                    // `api` has told the app to return to the login page.
                    Err(error)
                        if error.code() == Some(natter_domain::ErrorCode::Unauthenticated) =>
                    {
                        return;
                    }
                    Err(_) => wait = (wait * 2).min(10_000),
                }
            }
            self.stream.try_update_value(Option::take);
            self.connect();
        });
    }

    fn receive(self, event: &MessageEvent) {
        let id = event.last_event_id();
        if !id.is_empty() {
            self.last_event_id.try_set_value(Some(id));
        }
        self.connection.try_set(Connection::Live);
        match EventKind::from_name(&event.type_()) {
            Some(EventKind::Ready) => {
                if !self.ready.get_untracked() {
                    self.load();
                }
            }
            Some(EventKind::Resync) => self.load(),
            _ => {
                let Some(data) = event.data().as_string() else {
                    return;
                };
                let Ok(parsed) = serde_json::from_str::<Event>(&data) else {
                    return;
                };
                if matches!(parsed, Event::Typing { .. }) {
                    // A notice lapses 6 s after it came, unless another came since.
                    let number = self.state.try_update(|state| {
                        state.apply(&parsed);
                        state.latest_typing()
                    });
                    if let Some(number) = number {
                        spawn_local(async move {
                            sleep(TYPING_LASTS_MS).await;
                            self.state.try_update(|state| state.stopped_typing(number));
                        });
                    }
                } else if matches!(parsed, Event::PresenceChanged { .. }) {
                    self.state.update(|state| state.apply(&parsed));
                } else if self.loading.get_value() || !self.ready.get_untracked() {
                    self.early_events.update_value(|events| events.push(parsed));
                } else {
                    self.notify(&parsed);
                    self.state.update(|state| state.apply(&parsed));
                    if matches!(
                        parsed,
                        Event::AddedToConversation { .. } | Event::MemberAdded { .. }
                    ) {
                        self.refresh_presence();
                    }
                }
            }
        }
    }

    /// A notification for a new message (or an edit that newly mentions me) that my
    /// level asks for, while this tab is hidden; a click opens it.
    fn notify(self, event: &Event) {
        if !notify::tab_hidden() || !notify::allowed() {
            return;
        }
        let shown = self.state.with_untracked(|state| {
            let (message, wanted) = match event {
                Event::MessageCreated { message } => (message, state.notifies_me(message)),
                Event::MessageEdited { message } => {
                    let before = state.loaded(message.conversation_id, message.id);
                    (message, state.edit_notifies_me(message, before))
                }
                _ => return None,
            };
            let summary = state
                .conversation(message.conversation_id)
                .filter(|_| wanted)?;
            let members = &summary.conversation.members;
            let body = natter_domain::mentions::readable(&message.content, |id| {
                members
                    .iter()
                    .find(|m| m.user.id == id)
                    .map(|m| m.user.nickname.clone())
            });
            let sender = natter_domain::api::sender_name(message.sender.as_ref());
            Some((
                format!("{sender} in {}", summary.conversation.title),
                if body.is_empty() {
                    "📎 Files".to_owned()
                } else {
                    body
                },
                message.conversation_id,
                message.id,
            ))
        });
        let Some((title, body, conversation, message)) = shown else {
            return;
        };
        let to = format!("/conversations/{conversation}?message={message}");
        notify::show(
            &title,
            &body,
            &format!("conversation-{conversation}"),
            move || {
                self.navigate.with_value(|navigate| navigate(&to));
            },
        );
    }

    /// (Re)loads everything over REST; events that arrive meanwhile wait for it.
    fn load(self) {
        if self.loading.get_value() {
            return;
        }
        self.loading.set_value(true);
        spawn_local(async move {
            loop {
                let loaded = async {
                    Ok::<_, ApiError>((
                        api::emojis().await?,
                        api::conversations().await?,
                        api::edit_window_seconds().await?,
                    ))
                };
                match loaded.await {
                    Ok((emojis, conversations, edit_window)) => {
                        self.edit_window.try_set(edit_window);
                        let early = self.early_events.try_update_value(std::mem::take);
                        self.state.try_update(|state| {
                            let pending = std::mem::take(&mut state.pending);
                            let presence = std::mem::take(&mut state.presence);
                            *state = ClientState::new(state.me, emojis, conversations);
                            state.pending = pending;
                            state.presence = presence;
                            for event in early.iter().flatten() {
                                state.apply(event);
                            }
                        });
                        // Loaded pages are gone: open conversations load theirs again.
                        self.histories.try_set(BTreeMap::new());
                        self.seen_requested.try_update_value(BTreeMap::clear);
                        self.load_error.try_set(None);
                        self.ready.try_set(true);
                        // Drawn once the browser has laid the list out.
                        after_layout(|| performance_mark("natter:conversations-shown"));
                        break;
                    }
                    Err(error)
                        if error.code() == Some(natter_domain::ErrorCode::Unauthenticated) =>
                    {
                        break;
                    }
                    Err(error) => {
                        if self.load_error.try_set(Some(error.to_string())).is_some() {
                            return; // disposed
                        }
                        sleep(3_000).await;
                    }
                }
            }
            self.loading.try_set_value(false);
        });
    }

    pub fn history(self, conversation: ConversationId) -> History {
        self.histories
            .with(|h| h.get(&conversation).copied().unwrap_or_default())
    }

    /// Loads a page of history next to what is loaded (or the newest).
    pub fn load_page(self, conversation: ConversationId, page: Page) {
        let current = self.history(conversation);
        let oldest = || {
            self.state.with_untracked(|s| {
                s.messages
                    .get(&conversation)
                    .and_then(|m| m.first())
                    .map(|m| m.id)
            })
        };
        let query = match page {
            _ if current.loading => return,
            Page::Newest => HistoryQuery::default(),
            Page::Older if current.has_older => HistoryQuery {
                before: oldest(),
                ..HistoryQuery::default()
            },
            Page::Newer if current.window_end.is_some() => HistoryQuery {
                after: current.window_end,
                ..HistoryQuery::default()
            },
            Page::Older | Page::Newer => return,
        };
        self.histories.update(|h| {
            h.entry(conversation).or_default().loading = true;
        });
        spawn_local(async move {
            let query = HistoryQuery {
                limit: Some(HistoryQuery::DEFAULT_LIMIT),
                ..query
            };
            let answer = api::history(conversation, query).await;
            let mut next = current;
            next.loading = false;
            if let Ok(answer) = answer {
                next.loaded = true;
                match page {
                    Page::Newest | Page::Older => next.has_older = answer.has_older,
                    Page::Newer => {}
                }
                next.window_end = match page {
                    Page::Newest => None,
                    Page::Older => current.window_end,
                    Page::Newer => answer
                        .messages
                        .last()
                        .map(|m| m.id)
                        .filter(|_| answer.has_newer),
                };
                self.state
                    .try_update(|s| s.merge_page(conversation, answer.messages));
            }
            self.histories.try_update(|h| {
                h.insert(conversation, next);
            });
        });
    }

    /// Shows the history around `message` (`…/messages?around=`), unless it is
    /// loaded already; answers whether it is there. Pages then load in both
    /// directions from it.
    pub async fn open_at(self, conversation: ConversationId, message: MessageId) -> bool {
        let history = self.history(conversation);
        let shown = self.state.with_untracked(|s| {
            s.messages
                .get(&conversation)
                .is_some_and(|m| m.iter().any(|m| m.id == message))
        }) && history.window_end.is_none_or(|end| message <= end);
        if shown {
            return true;
        }
        self.histories.update(|h| {
            h.entry(conversation).or_default().loading = true;
        });
        let query = HistoryQuery {
            around: Some(message),
            limit: Some(HistoryQuery::DEFAULT_LIMIT),
            ..HistoryQuery::default()
        };
        let answer = api::history(conversation, query).await;
        let found = answer.is_ok();
        let next = match answer {
            Ok(page) => {
                let window_end = page
                    .messages
                    .last()
                    .map(|m| m.id)
                    .filter(|_| page.has_newer);
                self.state.try_update(|s| {
                    s.messages.remove(&conversation);
                    s.merge_page(conversation, page.messages);
                });
                History {
                    loaded: true,
                    has_older: page.has_older,
                    loading: false,
                    window_end,
                }
            }
            Err(_) => History {
                loading: false,
                ..history
            },
        };
        self.histories.try_update(|h| {
            h.insert(conversation, next);
        });
        found
    }

    /// Forgets an older window of history, so that the newest page loads again.
    fn show_newest(self, conversation: ConversationId) {
        if self.history(conversation).window_end.is_some() {
            self.state.update(|s| {
                s.messages.remove(&conversation);
            });
            self.histories.update(|h| {
                h.remove(&conversation);
            });
        }
    }

    /// Sends a message, answering `reply_to` if given: shown at once as pending,
    /// retried with the same `client_id` while the failure may pass, so it is stored
    /// once however often it is sent.
    pub fn send(
        self,
        conversation: ConversationId,
        content: String,
        reply_to: Option<MessageId>,
        files: Vec<Attachment>,
    ) {
        // What I send goes at the newest end: show it there.
        self.show_newest(conversation);
        let client_id = new_client_id();
        let ids = files.iter().map(|file| file.id).collect();
        self.state.update(|s| {
            s.queue_with_files(conversation, client_id, content.clone(), reply_to, files);
        });
        self.deliver(conversation, client_id, content, reply_to, ids);
    }

    /// Applies what the server answered to an edit at once (the event that follows
    /// changes nothing more).
    pub fn edited(self, message: Message) {
        self.state
            .update(|s| s.apply(&Event::MessageEdited { message }));
    }

    /// Shows a message deleted at once (the event that follows changes nothing more).
    pub fn deleted(self, conversation: ConversationId, id: MessageId) {
        self.state.update(|s| {
            let version = s
                .messages
                .get(&conversation)
                .and_then(|m| m.iter().find(|m| m.id == id))
                .map_or(1, |m| m.version + 1);
            s.apply(&Event::MessageDeleted {
                conversation_id: conversation,
                message_id: id,
                version,
            });
        });
    }

    pub fn retry(self, client_id: ClientId) {
        let Some(pending) = self
            .state
            .with_untracked(|s| s.pending.iter().find(|p| p.client_id == client_id).cloned())
        else {
            return;
        };
        self.state
            .update(|s| s.set_pending_status(client_id, PendingStatus::Sending));
        self.deliver(
            pending.conversation_id,
            client_id,
            pending.content,
            pending.reply_to,
            pending.attachments.iter().map(|file| file.id).collect(),
        );
    }

    pub fn discard(self, client_id: ClientId) {
        self.state.update(|s| s.discard(client_id));
    }

    fn deliver(
        self,
        conversation: ConversationId,
        client_id: ClientId,
        content: String,
        reply_to: Option<MessageId>,
        attachment_ids: Vec<AttachmentId>,
    ) {
        spawn_local(async move {
            let request = SendMessageRequest {
                content,
                client_id: Some(client_id.to_string()),
                reply_to_id: reply_to,
                attachment_ids,
            };
            let mut wait = 500;
            for attempt in 1..=SEND_ATTEMPTS {
                match api::send_message(conversation, &request).await {
                    Ok(message) => {
                        self.state.try_update(|s| s.confirm(&message));
                        return;
                    }
                    Err(error) if error.is_transient() && attempt < SEND_ATTEMPTS => {
                        sleep(wait).await;
                        wait *= 2;
                    }
                    Err(error) => {
                        let reason = format!("Not sent: {error}");
                        self.state.try_update(|s| {
                            s.set_pending_status(client_id, PendingStatus::Failed(reason));
                        });
                        return;
                    }
                }
            }
        });
    }

    /// My read state in `conversation` as the server answered it (after marking
    /// unread): reading it again marks it read again.
    pub fn set_read_state(self, conversation: ConversationId, state: Watermark) {
        self.seen_requested.update_value(|requested| {
            requested.remove(&conversation);
        });
        self.state.update(|s| s.set_read_state(conversation, state));
    }

    /// Tells the server I have seen everything up to `up_to`, once per watermark.
    pub fn mark_seen(self, conversation: ConversationId, up_to: MessageId) {
        let known = self
            .state
            .with_untracked(|s| s.my_watermark(conversation))
            .max(
                self.seen_requested
                    .with_value(|r| r.get(&conversation).copied()),
            );
        if known.is_some_and(|w| w >= up_to) {
            return;
        }
        self.seen_requested.update_value(|r| {
            r.insert(conversation, up_to);
        });
        spawn_local(async move {
            match api::mark_seen(conversation, up_to).await {
                Ok(watermark) => {
                    self.state
                        .try_update(|s| s.set_my_watermark(conversation, watermark));
                }
                Err(_) => {
                    // Let the next scroll or message try again.
                    self.seen_requested.try_update_value(|r| {
                        r.remove(&conversation);
                    });
                }
            }
        });
    }
}

pub fn use_store() -> Store {
    expect_context()
}
