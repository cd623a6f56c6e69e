use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;
use natter_domain::ConversationId;
use natter_domain::api::{ConversationSummary, NotificationLevel};

use crate::components::presence::{NotificationPrompt, PresenceDot};
use crate::store::use_store;
use crate::time;

/// My conversations, most recent activity first; rows move as messages arrive.
#[component]
pub fn ConversationList() -> impl IntoView {
    let store = use_store();
    let ids = Memo::new(move |_| {
        store.state.with(|s| {
            s.conversations
                .iter()
                .map(|c| c.conversation.id)
                .collect::<Vec<_>>()
        })
    });
    // The tab's title counts what is unread, muted conversations aside: "(3) Natter".
    let total = Memo::new(move |_| {
        store.state.with(|s| {
            s.conversations
                .iter()
                .filter(|c| c.notification_level != NotificationLevel::None)
                .map(|c| c.unread_count)
                .sum::<i64>()
        })
    });
    Effect::new(move |_| {
        let total = total.get();
        let title = if total > 0 {
            format!("({total}) Natter")
        } else {
            "Natter".to_owned()
        };
        document().set_title(&title);
    });
    on_cleanup(|| document().set_title("Natter"));
    view! {
        <div class="sidebar-head">
            <h2>"Conversations"</h2>
            <A href="/conversations/new" attr:class="button primary small" attr:data-testid="new-conversation">
                "New"
            </A>
        </div>
        {move || {
            store
                .load_error
                .get()
                .map(|e| view! { <p class="error" role="alert">{e}</p> })
        }}
        <NotificationPrompt />
        <Show
            when=move || store.ready.get()
            fallback=|| view! { <p class="muted pad">"Loading conversations…"</p> }
        >
            <Show
                when=move || !ids.with(Vec::is_empty)
                fallback=|| view! { <p class="muted pad" data-testid="no-conversations">"No conversations yet."</p> }
            >
                <ul class="conversation-list" data-testid="conversation-list">
                    <For each=move || ids.get() key=|id| *id let:id>
                        <ConversationRow id />
                    </For>
                </ul>
            </Show>
        </Show>
    }
}

#[component]
fn ConversationRow(id: ConversationId) -> impl IntoView {
    let store = use_store();
    let location = use_location();
    let summary = Memo::new(move |_| store.state.with(|s| s.conversation(id).cloned()));
    let href = format!("/conversations/{id}");
    let active = Memo::new({
        let href = href.clone();
        move |_| location.pathname.with(|p| *p == href)
    });
    let me = store.me_id();
    move || {
        summary.get().map(|s| {
            let members = s
                .conversation
                .members
                .iter()
                .map(|m| m.user.nickname.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let preview = s.last_message.as_ref().map(|m| {
                let who = match &m.sender {
                    Some(sender) if sender.id == me => "You".to_owned(),
                    sender => natter_domain::api::sender_name(sender.as_ref()).to_owned(),
                };
                let text = if m.deleted {
                    "Message deleted"
                } else if m.content.is_empty() {
                    // A message without text carries files.
                    "📎 Files"
                } else {
                    m.content.as_str()
                };
                format!("{who}: {text}")
            });
            let unread = s.unread_count;
            let mentions = s.mention_count;
            let muted = s.notification_level == NotificationLevel::None;
            // Counts stop at 100 on the server: show "99+" from there.
            let shown = |count: i64| {
                if count >= ConversationSummary::MAX_COUNT {
                    "99+".to_owned()
                } else {
                    count.to_string()
                }
            };
            let closed = s.conversation.closed_at.is_some();
            // One to one: the other person's dot.
            let other = (s.conversation.members.len() == 2)
                .then(|| s.conversation.members.iter().find(|m| m.user.id != me))
                .flatten()
                .map(|m| m.user.id);
            view! {
                <li>
                    <A
                        href=href.clone()
                        attr:class=move || {
                            let mut class = "conversation-item".to_owned();
                            if active.get() {
                                class.push_str(" active");
                            }
                            if unread > 0 {
                                class.push_str(" unread");
                            }
                            if muted {
                                class.push_str(" muted");
                            }
                            class
                        }
                        attr:data-testid="conversation-item"
                        attr:data-conversation-id=id.get()
                    >
                        <span class="row">
                            {other.map(|user| view! { <PresenceDot user /> })}
                            <span class="title" data-testid="conversation-title">
                                {s.conversation.title.clone()}
                            </span>
                            <time class="when" datetime=time::iso(s.last_activity_at)>
                                {time::short(s.last_activity_at)}
                            </time>
                        </span>
                        <span class="row">
                            <span class="preview" data-testid="preview">
                                {preview.unwrap_or_else(|| members.clone())}
                            </span>
                            {closed.then(|| view! { <span class="tag">"Closed"</span> })}
                            {(mentions > 0)
                                .then(|| {
                                    view! {
                                        <span
                                            class="badge mention-badge"
                                            data-testid="mentions"
                                            aria-label=format!("{mentions} mentioning you")
                                        >
                                            {format!("@{}", shown(mentions))}
                                        </span>
                                    }
                                })}
                            {(unread > 0)
                                .then(|| {
                                    view! {
                                        <span
                                            class="badge"
                                            data-testid="unread"
                                            aria-label=format!("{unread} unread")
                                        >
                                            {shown(unread)}
                                        </span>
                                    }
                                })}
                        </span>
                        <span class="members">{members}</span>
                    </A>
                </li>
            }
        })
    }
}
