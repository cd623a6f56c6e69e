use std::future::Future;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;
use natter_domain::api::{NotificationLevel, RenameConversationRequest};
use natter_domain::{ConversationId, UserId};

use crate::api::{self, ApiError};
use crate::components::presence::PresenceDot;
use crate::components::user_search::UserSearch;
use crate::store::use_store;

/// Members and the owner; the owner manages the conversation here, others can leave.
/// Changes show through the live stream, so every tab agrees.
#[component]
pub fn MembersPanel(
    id: ConversationId,
    on_close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let store = use_store();
    let me = store.me_id();
    let summary = Memo::new(move |_| store.state.with(|s| s.conversation(id).cloned()));
    let am_owner = Memo::new(move |_| {
        summary.with(|s| s.as_ref().is_some_and(|s| s.conversation.owner_id == me))
    });
    let closed = Memo::new(move |_| {
        summary.with(|s| {
            s.as_ref()
                .is_some_and(|s| s.conversation.closed_at.is_some())
        })
    });
    let error = RwSignal::new(None::<String>);
    // Runs one change and shows what went wrong, if anything, in the panel.
    let run = move |change: std::pin::Pin<Box<dyn Future<Output = Result<(), ApiError>>>>| {
        error.set(None);
        spawn_local(async move {
            if let Err(e) = change.await {
                error.try_set(Some(e.to_string()));
            }
        });
    };

    let members = Memo::new(move |_| {
        summary.with(|s| {
            s.as_ref()
                .map(|s| s.conversation.members.clone())
                .unwrap_or_default()
        })
    });
    let navigate = use_navigate();
    let leave = move |_| {
        let navigate = navigate.clone();
        error.set(None);
        spawn_local(async move {
            match api::remove_member(id, me).await {
                Ok(()) => navigate("/", NavigateOptions::default()),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };

    view! {
        <aside class="members-panel" id="members-panel" aria-label="Members" data-testid="members-panel">
            <div class="panel-head">
                <h2>"Members"</h2>
                <button type="button" class="ghost small" aria-label="Close the members panel" on:click=move |_| on_close()>
                    "×"
                </button>
            </div>
            {move || error.get().map(|e| view! { <p class="error" role="alert" data-testid="panel-error">{e}</p> })}
            <label class="notify-level">
                "Notify me of "
                <select
                    data-testid="notification-level"
                    prop:value=move || summary.with(|s| s.as_ref().map_or("all", |s| s.notification_level.as_str()).to_owned())
                    on:change=move |ev| {
                        let Ok(level) = NotificationLevel::parse(&event_target_value(&ev)) else {
                            return;
                        };
                        run(Box::pin(async move {
                            api::set_notification_level(id, level).await?;
                            store.state.update(|s| s.set_notification_level(id, level));
                            Ok(())
                        }));
                    }
                >
                    <option value="all">"every message"</option>
                    <option value="mentions">"mentions of me"</option>
                    <option value="none">"nothing (muted)"</option>
                </select>
            </label>
            <ul class="member-list">
                <For each=move || members.get() key=|m| (m.user.id, m.owner) let:member>
                    <li data-testid="member" data-nickname=member.user.nickname.clone()>
                        <PresenceDot user=member.user.id />
                        <span class="name">
                            {member.user.nickname.clone()}
                            {(member.user.id == me).then_some(" (you)")}
                        </span>
                        {member.owner.then(|| view! { <span class="tag">"owner"</span> })}
                        <Show when=move || am_owner.get() && !closed.get() && member.user.id != me>
                            <span class="member-actions">
                                <button
                                    type="button"
                                    class="link"
                                    data-testid="make-owner"
                                    on:click=move |_| {
                                        run(Box::pin(async move {
                                            api::transfer_ownership(id, member.user.id).await.map(|_| ())
                                        }));
                                    }
                                >
                                    "Make owner"
                                </button>
                                <button
                                    type="button"
                                    class="link danger"
                                    data-testid="remove-member"
                                    on:click=move |_| {
                                        run(Box::pin(api::remove_member(id, member.user.id)));
                                    }
                                >
                                    "Remove"
                                </button>
                            </span>
                        </Show>
                    </li>
                </For>
            </ul>
            <Show when=move || am_owner.get() && !closed.get()>
                <UserSearch
                    label="Add someone"
                    exclude=Signal::derive(move || members.with(|m| m.iter().map(|m| m.user.id).collect::<Vec<UserId>>()))
                    on_pick=move |user| run(Box::pin(async move { api::add_member(id, user.id).await.map(|_| ()) }))
                />
                <RenameForm id current=Signal::derive(move || summary.with(|s| s.as_ref().map(|s| s.conversation.title.clone()).unwrap_or_default())) />
                <CloseButton id />
            </Show>
            <Show when=move || !am_owner.get()>
                <button type="button" class="danger" data-testid="leave" on:click=leave.clone()>
                    "Leave conversation"
                </button>
            </Show>
        </aside>
    }
}

#[component]
fn RenameForm(id: ConversationId, current: Signal<String>) -> impl IntoView {
    let title = RwSignal::new(current.get_untracked());
    let error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let rename = Action::new_local(move |(): &()| {
        let request = RenameConversationRequest {
            title: title.get_untracked(),
        };
        async move {
            saved.set(false);
            if let Err(e) = request.validate() {
                error.set(Some(format!("The title {}.", e.error)));
                return;
            }
            match api::rename(id, request.title).await {
                Ok(_) => {
                    error.set(None);
                    saved.set(true);
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        }
    });
    view! {
        <form
            class="inline-form"
            on:submit=move |ev| {
                ev.prevent_default();
                rename.dispatch(());
            }
        >
            <label for="rename-input">"Title"</label>
            <div class="row">
                <input
                    id="rename-input"
                    data-testid="rename-input"
                    maxlength="100"
                    prop:value=title
                    on:input=move |ev| title.set(event_target_value(&ev))
                    aria-invalid=move || error.with(Option::is_some).to_string()
                />
                <button type="submit" data-testid="rename">"Rename"</button>
            </div>
            <p class="field-error" role="alert">{move || error.get()}</p>
            <Show when=move || saved.get()>
                <p class="muted" role="status">"Renamed."</p>
            </Show>
        </form>
    }
}

/// Closing is final, so it takes a second click.
#[component]
fn CloseButton(id: ConversationId) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let close = move |_| {
        if !confirming.get_untracked() {
            confirming.set(true);
            return;
        }
        spawn_local(async move {
            if let Err(e) = api::close(id).await {
                error.try_set(Some(e.to_string()));
            }
        });
    };
    view! {
        <button type="button" class="danger" data-testid="close-conversation" on:click=close>
            {move || if confirming.get() { "Click again to close for good" } else { "Close conversation" }}
        </button>
        <p class="field-error" role="alert">{move || error.get()}</p>
    }
}
