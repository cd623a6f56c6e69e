use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;
use natter_domain::api::{CreateConversationRequest, User};

use crate::api;
use crate::components::user_search::UserSearch;
use crate::store::use_store;

/// A title and the people to talk with; the creator becomes the owner.
#[component]
pub fn NewConversation() -> impl IntoView {
    let store = use_store();
    let navigate = use_navigate();
    let title = RwSignal::new(String::new());
    let members = RwSignal::new(Vec::<User>::new());
    let title_error = RwSignal::new(None::<String>);
    let members_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let me = store.me_id();

    let create = Action::new_local(move |(): &()| {
        let request = CreateConversationRequest {
            title: title.get_untracked(),
            member_ids: members.with_untracked(|m| m.iter().map(|u| u.id).collect()),
        };
        let navigate = navigate.clone();
        async move {
            title_error.set(None);
            members_error.set(None);
            form_error.set(None);
            if let Err(error) = request.validate() {
                title_error.set(Some(format!("The title {}.", error.error)));
                return;
            }
            if request.member_ids.is_empty() {
                members_error.set(Some("Add at least one other person.".to_owned()));
                return;
            }
            match api::create_conversation(&request).await {
                Ok(created) => navigate(
                    &format!("/conversations/{}", created.id),
                    NavigateOptions::default(),
                ),
                Err(error) => match error.field() {
                    Some("title") => title_error.set(Some(error.to_string())),
                    Some("member_ids") => members_error.set(Some(error.to_string())),
                    _ => form_error.set(Some(error.to_string())),
                },
            }
        }
    });

    view! {
        <section class="form-page">
            <h1>"New conversation"</h1>
            <form
                class="card"
                novalidate
                on:submit=move |ev| {
                    ev.prevent_default();
                    create.dispatch(());
                }
            >
                <label for="conversation-title-input">"Title"</label>
                <input
                    id="conversation-title-input"
                    data-testid="new-title"
                    required
                    maxlength="100"
                    prop:value=title
                    on:input=move |ev| title.set(event_target_value(&ev))
                    aria-invalid=move || title_error.with(Option::is_some).to_string()
                    aria-describedby="title-error"
                />
                <p class="field-error" id="title-error">{move || title_error.get()}</p>
                <UserSearch
                    label="Members"
                    exclude=Signal::derive(move || {
                        let mut ids: Vec<_> = members.with(|m| m.iter().map(|u| u.id).collect());
                        ids.push(me);
                        ids
                    })
                    on_pick=move |user| members.update(|m| m.push(user))
                />
                <ul class="chips" aria-label="Chosen members" data-testid="chosen-members">
                    <For each=move || members.get() key=|u| u.id let:user>
                        <li class="chip">
                            {user.nickname.clone()}
                            <button
                                type="button"
                                class="link"
                                aria-label=format!("Remove {}", user.nickname)
                                on:click=move |_| members.update(|m| m.retain(|u| u.id != user.id))
                            >
                                "×"
                            </button>
                        </li>
                    </For>
                </ul>
                <p class="field-error">{move || members_error.get()}</p>
                <p class="form-error" role="alert">{move || form_error.get()}</p>
                <button type="submit" class="primary" data-testid="create-conversation" disabled=create.pending()>
                    "Create conversation"
                </button>
            </form>
        </section>
    }
}
