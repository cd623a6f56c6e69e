use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_domain::api::{Message, ReactionSummary};
use natter_domain::{ConversationId, MessageId};

use crate::api;
use crate::components::icons;
use crate::store::use_store;
use crate::time;

/// One message: sender, time, text, reactions and who has seen it.
#[component]
pub fn MessageItem(
    conversation: ConversationId,
    id: MessageId,
    /// Whether this is my newest message, which shows "Seen by …" under it.
    last_mine: Signal<bool>,
) -> impl IntoView {
    let store = use_store();
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
    let mine = move || message.with(|m| m.as_ref().is_some_and(|m| m.sent_by(me)));
    let picker_open = RwSignal::new(false);
    let receipts_open = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let toggle = move |emoji: String, on: bool| {
        picker_open.set(false);
        spawn_local(async move {
            match api::react(id, &emoji, on).await {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };

    view! {
        <li class="message" class:mine=mine data-message-id=id.get() data-testid="message">
            {move || {
                message
                    .get()
                    .map(|m| {
                        view! {
                            <div class="meta">
                                <span class="sender" class:deleted=m.sender.is_none() data-testid="sender">{m.sender_name().to_owned()}</span>
                                <time datetime=time::iso(m.created_at) title=time::full(m.created_at)>
                                    {time::short(m.created_at)}
                                </time>
                            </div>
                            <p class="body" data-testid="body">{m.content.clone()}</p>
                            <Reactions message=m.clone() closed toggle />
                        }
                    })
            }}
            <div class="actions">
                <Show when=move || !closed.get()>
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
                </Show>
                <button
                    type="button"
                    class="ghost small"
                    data-testid="show-receipts"
                    aria-expanded=move || receipts_open.get().to_string()
                    on:click=move |_| receipts_open.update(|o| *o = !*o)
                >
                    {move || {
                        let count = message.with(|m| m.as_ref().map_or(0, |m| m.seen_by.len()));
                        format!("Seen by {count}")
                    }}
                </button>
            </div>
            <Show when=move || picker_open.get()>
                <EmojiPicker on_pick=move |key: String| {
                    let on = message
                        .with_untracked(|m| {
                            m.as_ref()
                                .is_none_or(|m| {
                                    !m.reactions.iter().any(|r| r.emoji == key && r.reacted_by_me)
                                })
                        });
                    toggle(key, on);
                } />
            </Show>
            <Show when=move || receipts_open.get()>
                <ul class="receipts" data-testid="receipts" aria-label="Who has seen this message">
                    {move || {
                        let seen = message.with(|m| m.as_ref().map(|m| m.seen_by.clone()).unwrap_or_default());
                        if seen.is_empty() {
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
                        }
                    }}
                </ul>
            </Show>
            <Show when=move || last_mine.get()>
                <p class="seen-line muted" data-testid="seen-by">
                    {move || message.with(|m| m.as_ref().map(seen_line))}
                </p>
            </Show>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </li>
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
