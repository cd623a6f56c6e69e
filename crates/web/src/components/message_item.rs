use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;
use natter_domain::api::{Message, ReactionSummary, sender_name};
use natter_domain::{ConversationId, ErrorCode, MessageBody, MessageId};

use crate::api::{self, ApiError};
use crate::components::attachments::Attachments;
use crate::components::icons;
use crate::markdown;
use crate::store::use_store;
use crate::time;

/// What the open conversation's messages and composer share: the message being
/// answered, the one being edited, and the one just jumped to.
#[derive(Clone, Copy)]
pub struct Thread {
    pub replying_to: RwSignal<Option<MessageId>>,
    pub editing: RwSignal<Option<MessageId>>,
    /// A message to bring into view (loading the history around it) and highlight.
    pub jump: RwSignal<Option<MessageId>>,
    pub highlighted: RwSignal<Option<MessageId>>,
    pub composer: NodeRef<html::Textarea>,
    /// An attached image shown full size.
    pub viewing: RwSignal<Option<natter_domain::api::Attachment>>,
}

impl Thread {
    pub fn new() -> Self {
        Self {
            replying_to: RwSignal::new(None),
            editing: RwSignal::new(None),
            jump: RwSignal::new(None),
            highlighted: RwSignal::new(None),
            composer: NodeRef::new(),
            viewing: RwSignal::new(None),
        }
    }

    pub fn focus_composer(self) {
        if let Some(input) = self.composer.get_untracked() {
            let _ = input.focus();
        }
    }
}

pub fn use_thread() -> Thread {
    expect_context()
}

/// Whether `message` may still be edited by me now, given the edit window.
#[allow(clippy::cast_precision_loss)] // milliseconds since 1970 fit f64 exactly for millennia
pub fn editable(message: &Message, me: natter_domain::UserId, window: Option<i64>) -> bool {
    if !message.sent_by(me) || message.deleted {
        return false;
    }
    window.is_none_or(|seconds| {
        let age_ms = js_sys::Date::now() - message.created_at.timestamp_millis() as f64;
        age_ms < (seconds as f64) * 1000.0
    })
}

/// One message: sender, time, text, what it answers, reactions, who has seen it, and
/// its menu (reply, edit, delete).
#[component]
pub fn MessageItem(
    conversation: ConversationId,
    id: MessageId,
    /// Whether this is my newest message, which shows "Seen by …" under it.
    last_mine: Signal<bool>,
) -> impl IntoView {
    let store = use_store();
    let thread = use_thread();
    let message = Memo::new(move |_| {
        store.state.with(|s| {
            let messages = s.messages.get(&conversation)?;
            let at = messages.binary_search_by_key(&id, |m| m.id).ok()?;
            Some(messages[at].clone())
        })
    });
    let closed = Memo::new(move |_| {
        store.state.with(|s| {
            s.conversation(conversation)
                .is_some_and(|c| c.conversation.closed_at.is_some())
        })
    });
    let me = store.me_id();
    let i_own = Memo::new(move |_| {
        store.state.with(|s| {
            s.conversation(conversation)
                .is_some_and(|c| c.conversation.owner_id == me)
        })
    });
    let mine = move || message.with(|m| m.as_ref().is_some_and(|m| m.sent_by(me)));
    let deleted = move || message.with(|m| m.as_ref().is_some_and(|m| m.deleted));
    let picker_open = RwSignal::new(false);
    let receipts_open = RwSignal::new(false);
    let menu_open = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let menu_button = NodeRef::<html::Button>::new();
    let first_item = NodeRef::<html::Button>::new();
    let navigate = use_navigate();
    let confirm_button = NodeRef::<html::Button>::new();

    let toggle = move |emoji: String, on: bool| {
        picker_open.set(false);
        spawn_local(async move {
            match api::react(id, &emoji, on).await {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    let can_edit = move || {
        !closed.get()
            && message.with(|m| {
                m.as_ref()
                    .is_some_and(|m| editable(m, me, store.edit_window.get()))
            })
    };
    let can_delete = move || !deleted() && (mine() || i_own.get());
    let close_menu = move || {
        menu_open.set(false);
        if let Some(button) = menu_button.get_untracked() {
            let _ = button.focus();
        }
    };
    let delete = move || {
        confirming.set(false);
        spawn_local(async move {
            match api::delete_message(id).await {
                Ok(()) => {
                    store.deleted(conversation, id);
                    error.set(None);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    // The menu's first item, and the confirmation's button, take the focus when they
    // open, for the keyboard.
    Effect::new(move |_| {
        if menu_open.get()
            && let Some(item) = first_item.get()
        {
            let _ = item.focus();
        }
    });
    Effect::new(move |_| {
        if confirming.get()
            && let Some(button) = confirm_button.get()
        {
            let _ = button.focus();
        }
    });

    // Each part is its own erased view: nested view types multiply the client's code.
    let header = move || {
        message
            .get()
            .map(|m| {
                let edited = m.edited_at.map(|at| {
                    view! {
                        <span class="edited" data-testid="edited" title=format!("Edited {}", time::full(at))>
                            "(edited)"
                        </span>
                    }
                });
                let quote = m.reply_to.clone().map(|to| {
                    let label = if to.deleted { "Message deleted".to_owned() } else { to.excerpt.clone() };
                    let who = sender_name(to.sender.as_ref()).to_owned();
                    view! {
                        <button
                            type="button"
                            class="quote"
                            data-testid="reply-quote"
                            aria-label=format!("Reply to {who}: {label}. Show the message")
                            on:click=move |_| thread.jump.set(Some(to.id))
                        >
                            <span class="quote-sender">{who.clone()}</span>
                            <span class="quote-text" class:deleted=to.deleted>{label.clone()}</span>
                        </button>
                    }
                });
                view! {
                    <div class="meta">
                        <span class="sender" class:deleted=m.sender.is_none() data-testid="sender">{m.sender_name().to_owned()}</span>
                        <time datetime=time::iso(m.created_at) title=time::full(m.created_at)>
                            {time::short(m.created_at)}
                        </time>
                        {edited}
                    </div>
                    {quote}
                }
            })
            .into_any()
    };
    let body = move || {
        if thread.editing.get() == Some(id) {
            view! { <EditBox id message /> }.into_any()
        } else if deleted() {
            view! { <p class="body deleted-text" data-testid="body">"Message deleted"</p> }
                .into_any()
        } else {
            let (content, files) = message.with(|m| {
                m.as_ref()
                    .map(|m| (m.content.clone(), m.attachments.clone()))
                    .unwrap_or_default()
            });
            let text = (!content.is_empty()).then(|| {
                let names = markdown::Names {
                    me,
                    nicknames: store.state.with(|s| {
                        s.conversation(conversation)
                            .map(|c| {
                                c.conversation
                                    .members
                                    .iter()
                                    .map(|m| (m.user.id, m.user.nickname.clone()))
                                    .collect()
                            })
                            .unwrap_or_default()
                    }),
                };
                view! { <div class="body" data-testid="body">{markdown::render(&content, &names)}</div> }
            });
            let files = (!files.is_empty()).then(|| view! { <Attachments files /> });
            view! { {text} {files} }.into_any()
        }
    };
    let reactions = move || {
        message
            .get()
            .filter(|m| !m.deleted)
            .map(|m| view! { <Reactions message=m closed toggle /> })
            .into_any()
    };
    let actions = move || {
        let deleted = deleted();
        let count = message.with(|m| m.as_ref().map_or(0, |m| m.seen_by.len()));
        view! {
            <div class="actions">
                {(!closed.get() && !deleted).then(|| view! {
                    <button
                        type="button"
                        class="ghost small"
                        data-testid="add-reaction"
                        aria-label="Add a reaction"
                        aria-expanded=move || picker_open.get().to_string()
                        on:click=move |_| picker_open.update(|o| *o = !*o)
                    >
                        {icons::smile()}
                    </button>
                })}
                <button
                    type="button"
                    class="ghost small"
                    data-testid="show-receipts"
                    aria-expanded=move || receipts_open.get().to_string()
                    on:click=move |_| receipts_open.update(|o| *o = !*o)
                >
                    {format!("Seen by {count}")}
                </button>
                {(!deleted).then(|| view! {
                    <button
                        type="button"
                        class="ghost small"
                        data-testid="message-menu"
                        node_ref=menu_button
                        aria-label="Message actions"
                        aria-haspopup="menu"
                        aria-expanded=move || menu_open.get().to_string()
                        on:click=move |_| menu_open.update(|o| *o = !*o)
                    >
                        "⋯"
                    </button>
                })}
            </div>
        }
        .into_any()
    };
    let menu = move || {
        if !menu_open.get() {
            return ().into_any();
        }
        let reply = (!closed.get()).then(|| {
            view! {
                <button
                    type="button"
                    role="menuitem"
                    data-testid="reply"
                    node_ref=first_item
                    on:click=move |_| {
                        menu_open.set(false);
                        thread.editing.set(None);
                        thread.replying_to.set(Some(id));
                        thread.focus_composer();
                    }
                >
                    "Reply"
                </button>
            }
        });
        let edit = can_edit().then(|| {
            view! {
                <button
                    type="button"
                    role="menuitem"
                    data-testid="edit"
                    on:click=move |_| {
                        menu_open.set(false);
                        thread.editing.set(Some(id));
                    }
                >
                    "Edit"
                </button>
            }
        });
        // Marking unread leaves the conversation, so that reading it does not mark it
        // read again at once.
        let navigate = navigate.clone();
        let unread = view! {
            <button
                type="button"
                role="menuitem"
                data-testid="mark-unread"
                on:click=move |_| {
                    menu_open.set(false);
                    let navigate = navigate.clone();
                    spawn_local(async move {
                        match api::mark_unread(conversation, id).await {
                            Ok(state) => {
                                store.set_read_state(conversation, state);
                                navigate("/", NavigateOptions::default());
                            }
                            Err(e) => error.set(Some(e.to_string())),
                        }
                    });
                }
            >
                "Mark unread from here"
            </button>
        };
        let delete = can_delete().then(|| {
            view! {
                <button
                    type="button"
                    role="menuitem"
                    class="danger"
                    data-testid="delete"
                    on:click=move |_| {
                        menu_open.set(false);
                        confirming.set(true);
                    }
                >
                    "Delete"
                </button>
            }
        });
        view! {
            <div class="message-menu" role="menu" aria-label="Message actions" data-testid="menu">
                {reply}
                {edit}
                {delete}
                {unread}
            </div>
        }
        .into_any()
    };
    let confirm = move || {
        confirming
            .get()
            .then(|| view! {
                <div class="confirm" role="group" aria-label="Delete this message?" data-testid="confirm">
                    <span>"Delete this message for everyone?"</span>
                    <button type="button" class="danger" data-testid="confirm-delete" node_ref=confirm_button on:click=move |_| delete()>
                        "Delete"
                    </button>
                    <button type="button" class="ghost" on:click=move |_| {
                        confirming.set(false);
                        close_menu();
                    }>
                        "Cancel"
                    </button>
                </div>
            })
            .into_any()
    };
    let picker = move || {
        picker_open
            .get()
            .then(|| {
                view! {
                    <EmojiPicker on_pick=move |key: String| {
                        let on = message.with_untracked(|m| {
                            m.as_ref().is_none_or(|m| {
                                !m.reactions.iter().any(|r| r.emoji == key && r.reacted_by_me)
                            })
                        });
                        toggle(key, on);
                    } />
                }
            })
            .into_any()
    };
    let receipts = move || {
        if !receipts_open.get() {
            return ().into_any();
        }
        let seen = message.with(|m| m.as_ref().map(|m| m.seen_by.clone()).unwrap_or_default());
        let items = if seen.is_empty() {
            view! { <li class="muted">"Nobody has seen it yet."</li> }.into_any()
        } else {
            seen.into_iter()
                .map(|s| {
                    view! {
                        <li>
                            <span>{s.user.nickname}</span>
                            " "
                            <time class="muted" datetime=time::iso(s.first_seen_at)>
                                {time::full(s.first_seen_at)}
                            </time>
                        </li>
                    }
                })
                .collect_view()
                .into_any()
        };
        view! {
            <ul class="receipts" data-testid="receipts" aria-label="Who has seen this message">
                {items}
            </ul>
        }
        .into_any()
    };
    let footer = move || {
        let seen = last_mine
            .get()
            .then(|| message.with(|m| m.as_ref().map(seen_line)))
            .flatten()
            .map(|line| view! { <p class="seen-line muted" data-testid="seen-by">{line}</p> });
        let error = error
            .get()
            .map(|e| view! { <p class="error" role="alert">{e}</p> });
        view! { {seen} {error} }.into_any()
    };

    view! {
        <li
            class="message"
            class:mine=mine
            class:deleted=deleted
            class:highlighted=move || thread.highlighted.get() == Some(id)
            tabindex="-1"
            data-message-id=id.get()
            data-testid="message"
            // A long press (or a right click) opens the menu.
            on:contextmenu=move |ev| {
                if !deleted() {
                    ev.prevent_default();
                    menu_open.set(true);
                }
            }
            on:keydown=move |ev| {
                if ev.key() == "Escape" && (menu_open.get_untracked() || confirming.get_untracked()) {
                    ev.stop_propagation();
                    confirming.set(false);
                    close_menu();
                }
            }
        >
            {header}
            {body}
            {reactions}
            {actions}
            {menu}
            {confirm}
            {picker}
            {receipts}
            {footer}
        </li>
    }
}

/// Editing in place: Enter saves, Shift+Enter starts a new line, Esc cancels.
#[component]
fn EditBox(id: MessageId, message: Memo<Option<Message>>) -> impl IntoView {
    let store = use_store();
    let thread = use_thread();
    let original = message.with_untracked(|m| m.as_ref().map(|m| (m.content.clone(), m.version)));
    let (content, version) = original.unwrap_or_default();
    let text = RwSignal::new(content.clone());
    let content = StoredValue::new(content);
    let version = RwSignal::new(version);
    let error = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Textarea>::new();
    let cancel = move || {
        thread.editing.set(None);
        thread.focus_composer();
    };
    let save = move || {
        let new = text.get_untracked();
        // A message of files may be left without text.
        let has_files =
            message.with_untracked(|m| m.as_ref().is_some_and(|m| !m.attachments.is_empty()));
        let parsed = if has_files {
            MessageBody::parse_caption(&new)
        } else {
            MessageBody::parse(&new)
        };
        if let Err(problem) = parsed {
            error.set(Some(format!("This message {problem}.")));
            return;
        }
        if content.with_value(|content| new.trim() == content.trim()) {
            cancel();
            return;
        }
        spawn_local(async move {
            match api::edit_message(id, new, version.get_untracked()).await {
                Ok(edited) => {
                    store.edited(edited);
                    cancel();
                }
                Err(ApiError::Server { body, .. })
                    if body.error.code == ErrorCode::VersionConflict =>
                {
                    // Edited elsewhere meanwhile: show that, and edit from it.
                    if let Some(current) = body.current {
                        version.set(current.version);
                        store.edited(*current);
                    }
                    error.set(Some(
                        "This message was edited elsewhere meanwhile. Save again to replace that."
                            .into(),
                    ));
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    Effect::new(move |_| {
        if let Some(input) = input.get() {
            let _ = input.focus();
            let end = u32::try_from(input.value().len()).unwrap_or(0);
            let _ = input.set_selection_range(end, end);
        }
    });
    view! {
        <form class="edit" on:submit=move |ev| {
            ev.prevent_default();
            save();
        }>
            <label for=format!("edit-{id}") class="sr-only">"Edit the message"</label>
            <textarea
                id=format!("edit-{id}")
                data-testid="edit-input"
                node_ref=input
                rows="2"
                prop:value=text
                on:input=move |ev| text.set(event_target_value(&ev))
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        ev.prevent_default();
                        ev.stop_propagation();
                        cancel();
                    } else if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        save();
                    }
                }
            ></textarea>
            <div class="edit-actions">
                <button type="submit" class="primary small" data-testid="save-edit">"Save"</button>
                <button type="button" class="ghost small" on:click=move |_| cancel()>"Cancel"</button>
                <span class="muted">"Enter saves, Esc cancels"</span>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}

fn seen_line(message: &Message) -> String {
    if message.seen_by.is_empty() {
        return "Sent".to_owned();
    }
    let names = message
        .seen_by
        .iter()
        .map(|s| s.user.nickname.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    format!("Seen by {names}")
}

#[component]
fn Reactions(
    message: Message,
    closed: Memo<bool>,
    toggle: impl Fn(String, bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    message
        .reactions
        .into_iter()
        .map(|r: ReactionSummary| {
            let who = r
                .users
                .iter()
                .map(|u| u.nickname.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let label = format!("{} {}: {who}", r.unicode, r.emoji.replace('_', " "));
            let (key, mine) = (r.emoji.clone(), r.reacted_by_me);
            view! {
                <button
                    type="button"
                    class="reaction"
                    class:mine=mine
                    data-testid="reaction"
                    data-emoji=r.emoji.clone()
                    aria-pressed=mine.to_string()
                    aria-label=label.clone()
                    title=label
                    disabled=closed
                    on:click=move |_| toggle(key.clone(), !mine)
                >
                    <span aria-hidden="true">{r.unicode}</span>
                    <span class="count" data-testid="reaction-count">{r.count}</span>
                </button>
            }
        })
        .collect_view()
}

#[component]
fn EmojiPicker(on_pick: impl Fn(String) + Copy + Send + Sync + 'static) -> impl IntoView {
    let store = use_store();
    let emojis = Memo::new(move |_| store.state.with(|s| s.emojis.clone()));
    view! {
        <div class="emoji-picker" role="group" aria-label="Pick a reaction" data-testid="emoji-picker">
            <For each=move || emojis.get() key=|e| e.key.clone() let:emoji>
                <button
                    type="button"
                    data-emoji=emoji.key.clone()
                    title=emoji.key.replace('_', " ")
                    aria-label=emoji.key.replace('_', " ")
                    on:click={
                        let key = emoji.key.clone();
                        move |_| on_pick(key.clone())
                    }
                >
                    {emoji.unicode}
                </button>
            </For>
        </div>
    }
}
