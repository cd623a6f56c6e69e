use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{use_location, use_params_map};
use natter_domain::api::{Attachment, User};
use natter_domain::state::PendingStatus;
use natter_domain::{
    ClientId, ConversationId, ErrorCode, MessageBody, MessageId, UserId, mentions,
};
use wasm_bindgen::JsCast;

use crate::api;
use crate::components::attachments::{ImageViewer, human_size};
use crate::components::icons;
use crate::components::members_panel::MembersPanel;
use crate::components::message_item::{MessageItem, Thread, editable, use_thread};
use crate::pages::not_found::NotFound;
use crate::store::{Page, use_store};
use crate::uploads::{self, Upload};
use crate::util::{after_layout, page_visible};

/// How close to the top (px) scrolling loads the page of older messages.
const LOAD_OLDER_AT: i32 = 120;
/// How close to the bottom (px) counts as "at the newest", so new messages scroll in.
const STICK_WITHIN: i32 = 48;
/// From this length on, the composer shows how much room is left.
const SHOW_COUNT_FROM: usize = MessageBody::MAX_CHARS - 500;

#[component]
pub fn ConversationPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok())));
    // A fresh view per conversation: its own scroll position, draft and panels.
    move || match id.get() {
        Some(id) => view! { <Conversation id=ConversationId(id) /> }.into_any(),
        None => view! { <NotFound /> }.into_any(),
    }
}

#[component]
fn Conversation(id: ConversationId) -> impl IntoView {
    let store = use_store();
    let thread = Thread::new();
    provide_context(thread);
    let summary = Memo::new(move |_| store.state.with(|s| s.conversation(id).cloned()));
    let exists = Memo::new(move |_| summary.with(Option::is_some));
    let members_open = RwSignal::new(false);
    // `?message=ID` (a search result) opens the conversation at that message.
    let location = use_location();
    let target = Memo::new(move |_| {
        location.search.with(|search| {
            search
                .trim_start_matches('?')
                .split('&')
                .find_map(|pair| pair.strip_prefix("message="))
                .and_then(|id| id.parse::<i64>().ok())
                .map(MessageId)
        })
    });

    Effect::new(move |_| {
        let history = store
            .histories
            .with(|h| h.get(&id).copied().unwrap_or_default());
        if !(store.ready.get() && exists.get()) || history.loaded || history.loading {
            return;
        }
        match target.get_untracked() {
            Some(message) => thread.jump.set(Some(message)),
            None => store.load_page(id, Page::Newest),
        }
    });
    Effect::new(move |previous: Option<Option<MessageId>>| {
        let message = target.get();
        if previous.is_some_and(|previous| previous != message) && message.is_some() {
            thread.jump.set(message);
        }
        message
    });

    view! {
        <Show
            when=move || !store.ready.get() || exists.get()
            fallback=|| {
                view! {
                    <section class="placeholder" data-testid="conversation-gone">
                        <h1>"Conversation not available"</h1>
                        <p>"You are not a member of this conversation (any more)."</p>
                        <A href="/">"Back to your conversations"</A>
                    </section>
                }
            }
        >
            <section class="conversation" aria-labelledby="conversation-title">
                <header class="conversation-head">
                    <A href="/" attr:class="back" attr:aria-label="Back to conversations">
                        {icons::back()}
                    </A>
                    <div class="heading">
                        <h1 id="conversation-title" data-testid="open-title">
                            {move || summary.with(|s| s.as_ref().map(|s| s.conversation.title.clone()))}
                        </h1>
                        <p class="muted">
                            {move || {
                                summary
                                    .with(|s| {
                                        s.as_ref()
                                            .map(|s| {
                                                s.conversation
                                                    .members
                                                    .iter()
                                                    .map(|m| m.user.nickname.as_str())
                                                    .collect::<Vec<_>>()
                                                    .join(", ")
                                            })
                                    })
                            }}
                        </p>
                    </div>
                    <button
                        type="button"
                        class="ghost"
                        data-testid="toggle-members"
                        aria-expanded=move || members_open.get().to_string()
                        aria-controls="members-panel"
                        on:click=move |_| members_open.update(|open| *open = !*open)
                    >
                        {icons::people()}
                        {move || {
                            summary.with(|s| s.as_ref().map_or(0, |s| s.conversation.members.len()))
                        }}
                        <span class="sr-only">" members"</span>
                    </button>
                </header>
                <div class="conversation-body">
                    <div class="timeline-column">
                        <Timeline id />
                        <TypingLine id />
                        <Show
                            when=move || summary.with(|s| s.as_ref().is_some_and(|s| s.conversation.closed_at.is_some()))
                            fallback=move || view! { <Composer id /> }
                        >
                            <p class="closed-notice" role="status" data-testid="closed-notice">
                                "This conversation is closed. You can read it, but nothing new can be added."
                            </p>
                        </Show>
                    </div>
                    <Show when=move || members_open.get()>
                        <MembersPanel id on_close=move || members_open.set(false) />
                    </Show>
                </div>
                <ImageViewer />
            </section>
        </Show>
    }
}

/// The messages, loading older pages when scrolled to the top and marking what is on
/// screen as seen.
#[component]
fn Timeline(id: ConversationId) -> impl IntoView {
    let store = use_store();
    let list = NodeRef::<html::Ol>::new();
    let history = Memo::new(move |_| {
        store
            .histories
            .with(|h| h.get(&id).copied().unwrap_or_default())
    });
    // Opened at an older message, the messages after the loaded window wait unseen.
    let ids = Memo::new(move |_| {
        let end = history.with(|h| h.window_end);
        store.state.with(|s| {
            s.messages
                .get(&id)
                .map(|m| {
                    m.iter()
                        .map(|m| m.id)
                        .filter(|m| end.is_none_or(|end| *m <= end))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let pending = Memo::new(move |_| {
        store
            .state
            .with(|s| s.pending_in(id).map(|p| p.client_id).collect::<Vec<_>>())
    });
    let me = store.me_id();
    let last_mine = Memo::new(move |_| {
        store.state.with(|s| {
            s.messages
                .get(&id)
                .and_then(|m| m.iter().rev().find(|m| m.sent_by(me)))
                .map(|m| m.id)
        })
    });
    // Whether the view follows the newest message, and the scroll anchor kept while an
    // older page is inserted above.
    let stick = StoredValue::new(true);
    let anchor = StoredValue::new(None::<(i32, i32)>);

    let mark_seen = move || {
        let Some(list) = list.get_untracked() else {
            return;
        };
        if !page_visible() {
            return;
        }
        if let Some(newest) = newest_shown(&list) {
            store.mark_seen(id, newest);
        }
    };
    let load_older = move || {
        let Some(list) = list.get_untracked() else {
            return;
        };
        if history.get_untracked().has_older && !history.get_untracked().loading {
            anchor.set_value(Some((list.scroll_height(), list.scroll_top())));
            store.load_page(id, Page::Older);
        }
    };

    // After every change of the list: keep the reader's place, then mark seen.
    Effect::new(move |_| {
        ids.track();
        pending.track();
        let history = history.get();
        after_layout(move || {
            let Some(list) = list.get_untracked() else {
                return;
            };
            if let Some((height, top)) = anchor.get_value()
                && !history.loading
            {
                list.set_scroll_top(list.scroll_height() - height + top);
                anchor.set_value(None);
            } else if stick.get_value() {
                list.set_scroll_top(list.scroll_height());
            }
            // A first page too short to scroll cannot be scrolled up to load more.
            if history.loaded
                && history.has_older
                && !history.loading
                && list.scroll_height() <= list.client_height()
            {
                load_older();
            }
            mark_seen();
        });
    });

    let on_scroll = move |_| {
        let Some(list) = list.get_untracked() else {
            return;
        };
        stick.set_value(
            list.scroll_height() - list.scroll_top() - list.client_height() < STICK_WITHIN
                && history.get_untracked().window_end.is_none(),
        );
        if list.scroll_top() < LOAD_OLDER_AT {
            load_older();
        }
        if list.scroll_height() - list.scroll_top() - list.client_height() < LOAD_OLDER_AT {
            store.load_page(id, Page::Newer);
        }
        mark_seen();
    };
    // Whenever the history starts again from the newest page, follow the newest.
    Effect::new(move |_| {
        if !history.with(|h| h.loaded) {
            stick.set_value(true);
        }
    });
    // Jumping to a message (a reply's original, a search result): load the history
    // around it unless it is there, then bring it into view and highlight it.
    let thread = use_thread();
    Effect::new(move |_| {
        let Some(target) = thread.jump.get() else {
            return;
        };
        thread.jump.set(None);
        stick.set_value(false);
        spawn_local(async move {
            if !store.open_at(id, target).await {
                if !store.history(id).loaded {
                    store.load_page(id, Page::Newest);
                }
                return;
            }
            after_layout(move || {
                let Some(list) = list.get_untracked() else {
                    return;
                };
                let selector = format!("[data-message-id=\"{target}\"]");
                if let Ok(Some(item)) = list.query_selector(&selector) {
                    item.scroll_into_view();
                    if let Some(item) = item.dyn_ref::<web_sys::HtmlElement>() {
                        let _ = item.focus();
                    }
                    thread.highlighted.set(Some(target));
                    crate::util::after(2_500, move || {
                        thread
                            .highlighted
                            .try_update(|h| (*h == Some(target)).then(|| *h = None));
                    });
                }
            });
        });
    });
    let visibility = window_event_listener_untyped("visibilitychange", move |_| mark_seen());
    let focus = window_event_listener(leptos::ev::focus, move |_| mark_seen());
    on_cleanup(move || {
        visibility.remove();
        focus.remove();
    });

    view! {
        <ol class="timeline" node_ref=list on:scroll=on_scroll aria-label="Messages" data-testid="timeline">
            <li class="edge muted">
                {move || {
                    let history = history.get();
                    if !history.loaded || history.loading {
                        "Loading messages…"
                    } else if history.has_older {
                        "Scroll up for older messages"
                    } else if ids.with(Vec::is_empty) {
                        "No messages yet. Say hello!"
                    } else {
                        "The beginning of this conversation"
                    }
                }}
            </li>
            <For each=move || ids.get() key=|id| *id let:message>
                <MessageItem
                    conversation=id
                    id=message
                    last_mine=Signal::derive(move || last_mine.get() == Some(message))
                />
            </For>
            <Show when=move || history.with(|h| h.window_end.is_some())>
                <li class="edge muted">"Scroll down for newer messages"</li>
            </Show>
            <For each=move || pending.get() key=|id| *id let:client_id>
                <PendingItem client_id />
            </For>
        </ol>
    }
}

/// The `@word` being typed at `caret` (in UTF-16 units, as the textarea counts):
/// where its `@` is (a byte offset) and what follows it.
fn mention_at(value: &str, caret: usize) -> Option<(usize, String)> {
    let mut units = 0;
    let end = value
        .char_indices()
        .find_map(|(at, c)| {
            let reached = units >= caret;
            units += c.len_utf16();
            reached.then_some(at)
        })
        .unwrap_or(value.len());
    let before = &value[..end];
    let at = before.rfind('@')?;
    let query = &before[at + 1..];
    let starts_word = before[..at]
        .chars()
        .next_back()
        .is_none_or(char::is_whitespace);
    (starts_word && query.chars().count() <= 32 && !query.contains(char::is_whitespace))
        .then(|| (at, query.to_owned()))
}

/// The newest message whose end is on screen in `list`.
fn newest_shown(list: &web_sys::HtmlElement) -> Option<MessageId> {
    let bounds = list.get_bounding_client_rect();
    let items = list.query_selector_all("[data-message-id]").ok()?;
    (0..items.length()).rev().find_map(|i| {
        let item = items.item(i)?.dyn_into::<web_sys::Element>().ok()?;
        let rect = item.get_bounding_client_rect();
        let shown = rect.bottom() <= bounds.bottom() + 2.0 && rect.bottom() > bounds.top();
        shown
            .then(|| item.get_attribute("data-message-id")?.parse().ok())
            .flatten()
            .map(MessageId)
    })
}

#[component]
fn PendingItem(client_id: ClientId) -> impl IntoView {
    let store = use_store();
    let pending = Memo::new(move |_| {
        store
            .state
            .with(|s| s.pending.iter().find(|p| p.client_id == client_id).cloned())
    });
    move || {
        pending.get().map(|p| {
            let failed = match p.status {
                PendingStatus::Sending => None,
                PendingStatus::Failed(reason) => Some(reason),
            };
            let state = if failed.is_some() { "failed" } else { "sending" };
            view! {
                <li class="message mine pending" data-testid="pending" data-state=state>
                    <p class="body">{p.content}</p>
                    {(!p.attachments.is_empty()).then(|| {
                        let names: Vec<String> = p.attachments.iter().map(|f| f.filename.clone()).collect();
                        view! { <p class="muted">{format!("📎 {}", names.join(", "))}</p> }
                    })}
                    {match failed {
                        None => view! { <p class="status muted">"Sending…"</p> }.into_any(),
                        Some(reason) => {
                            view! {
                                <p class="status error" role="alert">
                                    {reason}
                                    " "
                                    <button type="button" class="link" data-testid="retry" on:click=move |_| store.retry(client_id)>
                                        "Retry"
                                    </button>
                                    " "
                                    <button type="button" class="link" on:click=move |_| store.discard(client_id)>
                                        "Discard"
                                    </button>
                                </p>
                            }
                                .into_any()
                        }
                    }}
                </li>
            }
        })
    }
}

/// "alice is typing…", "alice and bob are typing…" or "3 people are typing…".
#[component]
fn TypingLine(id: ConversationId) -> impl IntoView {
    let store = use_store();
    let line = Memo::new(move |_| {
        store.state.with(|s| {
            let names: Vec<String> = s
                .typing
                .iter()
                .filter(|t| t.conversation_id == id)
                .map(|t| t.user.nickname.clone())
                .collect();
            match names.as_slice() {
                [] => String::new(),
                [one] => format!("{one} is typing…"),
                [one, two] => format!("{one} and {two} are typing…"),
                more => format!("{} people are typing…", more.len()),
            }
        })
    });
    view! {
        <p class="typing-line muted" aria-live="polite" data-testid="typing">
            {move || line.get()}
        </p>
    }
}

/// A file being uploaded from the composer, then waiting to be sent.
#[derive(Clone)]
struct FileItem {
    key: u64,
    name: String,
    size: i64,
    /// The share sent so far, 0 to 1.
    progress: RwSignal<f64>,
    /// `None` while uploading; then the stored file, or why not.
    result: RwSignal<Option<Result<Attachment, String>>>,
    upload: StoredValue<Option<Upload>, LocalStorage>,
}

/// The files picked, dropped or pasted into the composer, each uploading at once.
#[derive(Clone, Copy)]
struct ComposerFiles {
    items: RwSignal<Vec<FileItem>>,
    next_key: StoredValue<u64>,
}

impl ComposerFiles {
    fn new() -> Self {
        Self {
            items: RwSignal::new(Vec::new()),
            next_key: StoredValue::new(0),
        }
    }

    fn add(self, files: &web_sys::FileList) {
        for file in (0..files.length()).filter_map(|i| files.get(i)) {
            let key = self.next_key.get_value();
            self.next_key.set_value(key + 1);
            #[allow(clippy::cast_possible_truncation)] // a file's size in bytes
            let item = FileItem {
                key,
                name: file.name(),
                size: file.size() as i64,
                progress: RwSignal::new(0.0),
                result: RwSignal::new(None),
                upload: StoredValue::new_local(None),
            };
            let (progress, result) = (item.progress, item.result);
            let started = uploads::start(
                &file,
                move |share| progress.set(share),
                move |outcome| result.set(Some(outcome)),
            );
            match started {
                Ok(upload) => item.upload.set_value(Some(upload)),
                Err(reason) => result.set(Some(Err(reason))),
            }
            self.items.update(|items| items.push(item));
        }
    }

    /// Cancels (if still uploading) and removes a file.
    fn remove(self, key: u64) {
        self.items.update(|items| {
            if let Some(at) = items.iter().position(|item| item.key == key) {
                let item = items.remove(at);
                if item.result.get_untracked().is_none() {
                    item.upload.with_value(|upload| {
                        if let Some(upload) = upload {
                            upload.cancel();
                        }
                    });
                }
            }
        });
    }

    fn uploading(self) -> bool {
        self.items
            .with(|items| items.iter().any(|item| item.result.with(Option::is_none)))
    }

    /// The files stored and ready to send.
    fn ready(self) -> Vec<Attachment> {
        self.items.with(|items| {
            items
                .iter()
                .filter_map(|item| item.result.with(|r| r.clone().and_then(Result::ok)))
                .collect()
        })
    }
}

/// Enter sends, Shift+Enter starts a new line; the limit shows before the server
/// would refuse. ↑ in an empty composer edits my last message; Esc stops replying.
/// Files come by the attach button, by dropping them on it or by pasting them, and
/// upload at once, each with its progress and a way to cancel.
#[component]
fn Composer(id: ConversationId) -> impl IntoView {
    let store = use_store();
    let thread = use_thread();
    let files = ComposerFiles::new();
    let file_input = NodeRef::<html::Input>::new();
    let dragging = RwSignal::new(false);
    let text = RwSignal::new(String::new());
    let length = Memo::new(move |_| text.with(|t| t.trim().chars().count()));
    let problem = Memo::new(move |_| {
        text.with(|t| {
            if t.trim().is_empty() {
                return None;
            }
            MessageBody::parse(t)
                .err()
                .map(|e| format!("This message {e}."))
        })
    });
    let replying = Memo::new(move |_| {
        let target = thread.replying_to.get()?;
        store.state.with(|s| {
            s.messages
                .get(&id)?
                .iter()
                .find(|m| m.id == target)
                .map(natter_domain::api::Message::as_reply_target)
        })
    });
    let input = thread.composer;
    // Typing `@` offers the conversation's members; a pick is written `@nickname` here
    // and sent as their token.
    let picking = RwSignal::new(None::<(usize, String)>);
    let picked = StoredValue::new(Vec::<(String, UserId)>::new());
    let active = RwSignal::new(0_usize);
    let me = store.me_id();
    let options = Memo::new(move |_| {
        let Some((_, query)) = picking.get() else {
            return Vec::new();
        };
        let query = query.to_lowercase();
        store.state.with(|s| {
            s.conversation(id)
                .map(|c| {
                    c.conversation
                        .members
                        .iter()
                        .filter(|m| m.user.id != me)
                        .filter(|m| m.user.nickname.to_lowercase().starts_with(&query))
                        .take(6)
                        .map(|m| m.user.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let look_for_mention = move || {
        let Some(area) = input.get_untracked() else {
            return;
        };
        let value = area.value();
        let caret = area.selection_start().ok().flatten().unwrap_or(0);
        picking.set(mention_at(&value, caret as usize));
        active.set(0);
    };
    let choose = move |user: User| {
        let Some((at, query)) = picking.get_untracked() else {
            return;
        };
        let value = text.get_untracked();
        let end = (at + 1 + query.len()).min(value.len());
        let written = format!("@{} ", user.nickname);
        text.set(format!("{}{written}{}", &value[..at], &value[end..]));
        picked.update_value(|p| p.push((user.nickname.clone(), user.id)));
        picking.set(None);
        thread.focus_composer();
    };
    // While I type, the others hear so, at most every 2.5 s (the server takes one
    // per 2 s).
    let last_typing = StoredValue::new(0.0_f64);
    let say_typing = move || {
        let now = js_sys::Date::now();
        if text.with_untracked(|t| t.trim().is_empty()) || now - last_typing.get_value() < 2_500.0 {
            return;
        }
        last_typing.set_value(now);
        spawn_local(async move {
            // Too soon after the last notice: say it once more when it may be taken,
            // if there is still something typed.
            if let Err(error) = api::typing(id).await
                && error.code() == Some(ErrorCode::RateLimited)
            {
                crate::util::sleep(2_000).await;
                if text.try_with_untracked(|t| !t.trim().is_empty()) == Some(true) {
                    let _ = api::typing(id).await;
                }
            }
        });
    };
    let can_send = move || {
        let ready = files.ready();
        problem.with(Option::is_none)
            && !files.uploading()
            && (!ready.is_empty() || text.with(|t| !t.trim().is_empty()))
    };
    let submit = move || {
        if !untrack(can_send) {
            return;
        }
        let content = picked.with_value(|p| mentions::tokenize(&text.get_untracked(), p));
        picked.set_value(Vec::new());
        picking.set(None);
        let reply_to = thread.replying_to.get_untracked();
        store.send(id, content, reply_to, untrack(|| files.ready()));
        // My message ends my typing notice; the next keystroke starts a new one.
        last_typing.set_value(0.0);
        files.items.set(Vec::new());
        thread.replying_to.set(None);
        text.set(String::new());
        thread.focus_composer();
    };
    let file_list = move || {
        files
            .items
            .get()
            .into_iter()
            .map(|item| {
                let FileItem { key, name, size, progress, result, .. } = item;
                let label = name.clone();
                view! {
                    <li class="upload" data-testid="upload">
                        <span class="file-name">{name.clone()}</span>
                        <span class="file-size">{human_size(size)}</span>
                        {move || match result.get() {
                            None => view! {
                                <progress max="1" value=move || progress.get() aria-label=format!("Uploading {label}")></progress>
                            }.into_any(),
                            Some(Ok(_)) => view! { <span class="muted" data-testid="upload-ready">"Ready"</span> }.into_any(),
                            Some(Err(reason)) => view! { <span class="error" role="alert">{reason}</span> }.into_any(),
                        }}
                        <button
                            type="button"
                            class="ghost small"
                            data-testid="remove-upload"
                            aria-label=format!("Remove {name}")
                            on:click=move |_| files.remove(key)
                        >
                            "×"
                        </button>
                    </li>
                }
            })
            .collect_view()
    };
    let edit_last = move || {
        let me = store.me_id();
        let window = store.edit_window.get_untracked();
        let last = store.state.with_untracked(|s| {
            s.messages
                .get(&id)?
                .iter()
                .rev()
                .find(|m| m.sent_by(me) && !m.deleted)
                .filter(|m| editable(m, me, window))
                .map(|m| m.id)
        });
        if last.is_some() {
            thread.replying_to.set(None);
            thread.editing.set(last);
        }
        last.is_some()
    };
    view! {
        <form
            class="composer"
            class:dragging=move || dragging.get()
            on:submit=move |ev| {
                ev.prevent_default();
                submit();
            }
            on:dragover=move |ev| {
                ev.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |ev| {
                ev.prevent_default();
                dragging.set(false);
                if let Some(dropped) = ev.data_transfer().and_then(|t| t.files()) {
                    files.add(&dropped);
                }
            }
        >
            <ul class="uploads" data-testid="uploads">{file_list}</ul>
            {move || {
                replying
                    .get()
                    .map(|to| {
                        let label = if to.deleted { "Message deleted".to_owned() } else { to.excerpt };
                        view! {
                            <div class="replying" data-testid="replying-to">
                                <span>
                                    "Replying to "
                                    <strong>{natter_domain::api::sender_name(to.sender.as_ref()).to_owned()}</strong>
                                    ": "
                                    <span class="quote-text">{label}</span>
                                </span>
                                <button
                                    type="button"
                                    class="ghost small"
                                    aria-label="Cancel the reply"
                                    data-testid="cancel-reply"
                                    on:click=move |_| {
                                        thread.replying_to.set(None);
                                        thread.focus_composer();
                                    }
                                >
                                    "×"
                                </button>
                            </div>
                        }
                    })
            }}
            {move || {
                let shown = options.get();
                (!shown.is_empty())
                    .then(|| {
                        let items = shown
                            .into_iter()
                            .enumerate()
                            .map(|(i, user)| {
                                let name = user.nickname.clone();
                                view! {
                                    <li
                                        role="option"
                                        id=format!("mention-option-{i}")
                                        class="mention-option"
                                        data-testid="mention-option"
                                        aria-selected=move || (active.get() == i).to_string()
                                        on:mousedown=move |ev| {
                                            ev.prevent_default();
                                            choose(user.clone());
                                        }
                                    >
                                        {name}
                                    </li>
                                }
                            })
                            .collect_view();
                        view! {
                            <ul class="mention-picker" role="listbox" id="mention-options" aria-label="People to mention" data-testid="mention-options">
                                {items}
                            </ul>
                        }
                    })
            }}
            <label for="composer-input" class="sr-only">"Message"</label>
            <textarea
                id="composer-input"
                data-testid="composer"
                node_ref=input
                rows="2"
                placeholder="Write a message… (Enter sends, Shift+Enter for a new line, ↑ edits your last)"
                prop:value=text
                aria-invalid=move || problem.with(Option::is_some).to_string()
                aria-describedby="composer-hint"
                aria-autocomplete="list"
                aria-controls=move || (!options.with(Vec::is_empty)).then_some("mention-options")
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    look_for_mention();
                    say_typing();
                }
                on:paste=move |ev| {
                    if let Some(pasted) = ev.clipboard_data().and_then(|d| d.files())
                        && pasted.length() > 0
                    {
                        ev.prevent_default();
                        files.add(&pasted);
                    }
                }
                on:keydown=move |ev| {
                    let count = options.with_untracked(Vec::len);
                    if count > 0 {
                        match ev.key().as_str() {
                            "ArrowDown" => {
                                ev.prevent_default();
                                active.update(|a| *a = (*a + 1) % count);
                                return;
                            }
                            "ArrowUp" => {
                                ev.prevent_default();
                                active.update(|a| *a = (*a + count - 1) % count);
                                return;
                            }
                            "Enter" | "Tab" => {
                                ev.prevent_default();
                                if let Some(user) = options.with_untracked(|o| o.get(active.get_untracked()).cloned()) {
                                    choose(user);
                                }
                                return;
                            }
                            "Escape" => {
                                ev.prevent_default();
                                picking.set(None);
                                return;
                            }
                            _ => {}
                        }
                    }
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        submit();
                    } else if ev.key() == "ArrowUp" && text.with_untracked(String::is_empty) {
                        if edit_last() {
                            ev.prevent_default();
                        }
                    } else if ev.key() == "Escape" && thread.replying_to.get_untracked().is_some() {
                        ev.prevent_default();
                        thread.replying_to.set(None);
                    }
                }
            ></textarea>
            <input
                type="file"
                multiple
                class="sr-only"
                tabindex="-1"
                aria-hidden="true"
                data-testid="attach-input"
                node_ref=file_input
                on:change=move |_| {
                    if let Some(input) = file_input.get_untracked() {
                        if let Some(picked) = input.files() {
                            files.add(&picked);
                        }
                        input.set_value("");
                    }
                }
            />
            <button
                type="button"
                class="ghost"
                data-testid="attach"
                aria-label="Attach files"
                title="Attach files (or drop or paste them here)"
                on:click=move |_| {
                    if let Some(input) = file_input.get_untracked() {
                        input.click();
                    }
                }
            >
                "📎"
            </button>
            <button
                type="submit"
                class="primary"
                data-testid="send"
                disabled=move || !can_send()
            >
                "Send"
            </button>
            <p id="composer-hint" class="composer-hint" aria-live="polite">
                {move || problem.get().map(|p| view! { <span class="error" data-testid="composer-error">{p}</span> })}
                {move || {
                    (length.get() >= SHOW_COUNT_FROM)
                        .then(|| {
                            view! {
                                <span class="count" class:over=move || { length.get() > MessageBody::MAX_CHARS }>
                                    {move || format!("{} / {}", length.get(), MessageBody::MAX_CHARS)}
                                </span>
                            }
                        })
                }}
            </p>
        </form>
    }
}
