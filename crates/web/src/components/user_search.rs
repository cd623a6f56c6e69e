use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_domain::UserId;
use natter_domain::api::{User, UserSearchQuery};

use crate::api;
use crate::util::sleep;

/// Finds people by nickname prefix as one types; `exclude` hides those already
/// chosen. Picking one calls `on_pick`.
#[component]
pub fn UserSearch(
    #[prop(into)] exclude: Signal<Vec<UserId>>,
    on_pick: impl Fn(User) + Copy + Send + Sync + 'static,
    #[prop(into)] label: String,
) -> impl IntoView {
    let query = RwSignal::new(String::new());
    let results = RwSignal::new(Vec::<User>::new());
    let error = RwSignal::new(None::<String>);
    // Only the newest query's answer is shown, after a short pause in typing.
    let generation = StoredValue::new(0u32);
    let search = move |text: String| {
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        spawn_local(async move {
            sleep(150).await;
            if generation.try_get_value() != Some(mine) {
                return;
            }
            if text.trim().chars().count() < UserSearchQuery::MIN_CHARS {
                results.try_set(Vec::new());
                return;
            }
            let answer = api::search_users(text.trim()).await;
            if generation.try_get_value() != Some(mine) {
                return;
            }
            match answer {
                Ok(found) => {
                    results.try_set(found);
                    error.try_set(None);
                }
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    let shown = Memo::new(move |_| {
        let exclude = exclude.get();
        results.with(|r| {
            r.iter()
                .filter(|u| !exclude.contains(&u.id))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    view! {
        <div class="user-search">
            <label for="user-search">{label}</label>
            <input
                id="user-search"
                type="search"
                data-testid="user-search"
                autocomplete="off"
                placeholder="Start typing a nickname"
                prop:value=query
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    query.set(text.clone());
                    search(text);
                }
            />
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <Show when=move || !query.with(|q| q.trim().is_empty())>
                <ul class="search-results" data-testid="search-results">
                    <For each=move || shown.get() key=|u| u.id let:user>
                        <li>
                            <button
                                type="button"
                                class="ghost"
                                data-testid="search-result"
                                data-nickname=user.nickname.clone()
                                on:click={
                                    let user = user.clone();
                                    move |_| {
                                        on_pick(user.clone());
                                        query.set(String::new());
                                        results.set(Vec::new());
                                    }
                                }
                            >
                                {format!("Add {}", user.nickname)}
                            </button>
                        </li>
                    </For>
                    <Show when=move || shown.with(Vec::is_empty)>
                        <li class="muted">"Nobody found."</li>
                    </Show>
                </ul>
            </Show>
        </div>
    }
}
