//! The search box in the top bar: messages of my conversations as I type, moved
//! through with the keyboard, each opening its conversation at that message.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_location, use_navigate};
use natter_domain::api::{SearchHit, SearchQuery, TextRange, User};
use natter_domain::{ConversationId, MessageId, UserId};
use wasm_bindgen::JsCast;

use crate::store::use_store;
use crate::time;
use crate::util::sleep;

/// Characters of a long message shown around its first match.
const SNIPPET_CHARS: usize = 160;
/// Characters shown before the first match.
const SNIPPET_LEAD: usize = 40;

#[component]
pub fn MessageSearch() -> impl IntoView {
    let store = use_store();
    let navigate = StoredValue::new(use_navigate());
    let location = use_location();
    let input = NodeRef::<leptos::html::Input>::new();
    let text = RwSignal::new(String::new());
    let here_only = RwSignal::new(false);
    let from = RwSignal::new(None::<UserId>);
    let results = RwSignal::new(Vec::<SearchHit>::new());
    let next_before = RwSignal::new(None::<MessageId>);
    let searched = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let active = RwSignal::new(None::<usize>);
    let open = RwSignal::new(false);

    // The conversation on screen, for "in this conversation".
    let here = Memo::new(move |_| {
        location.pathname.with(|path| {
            path.strip_prefix("/conversations/")
                .and_then(|id| id.parse::<i64>().ok())
                .map(ConversationId)
        })
    });
    // Everyone in my conversations, for "from".
    let people = Memo::new(move |_| {
        let mut people: Vec<User> = store.state.with(|s| {
            s.conversations
                .iter()
                .flat_map(|c| c.conversation.members.iter().map(|m| m.user.clone()))
                .collect()
        });
        people.sort_by_key(|u| u.nickname.to_ascii_lowercase());
        people.dedup_by_key(|u| u.id);
        people
    });

    // Only the newest query's answer is shown, after a short pause in typing.
    let generation = StoredValue::new(0u32);
    let run = move |before: Option<MessageId>, pause: i32| {
        generation.update_value(|g| *g += 1);
        let mine = generation.get_value();
        let query = SearchQuery {
            q: text.get_untracked(),
            conversation_id: here.get_untracked().filter(|_| here_only.get_untracked()),
            sender_id: from.get_untracked(),
            before,
            limit: None,
        };
        spawn_local(async move {
            sleep(pause).await;
            if generation.try_get_value() != Some(mine) {
                return;
            }
            // The server says what is wrong with a query; here only whether to ask.
            if query.q.trim().is_empty() {
                results.try_set(Vec::new());
                searched.try_set(false);
                return;
            }
            let answer = crate::api::search(&query).await;
            if generation.try_get_value() != Some(mine) {
                return;
            }
            match answer {
                Ok(page) => {
                    if before.is_none() {
                        results.try_set(page.results);
                        active.try_set(None);
                    } else {
                        results.try_update(|r| r.extend(page.results));
                    }
                    next_before.try_set(page.next_before);
                    searched.try_set(true);
                    error.try_set(None);
                }
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    let refresh = move || {
        open.set(true);
        run(None, 200);
    };

    let choose = move |index: usize| {
        let Some((conversation, message)) = results.with_untracked(|r| {
            r.get(index)
                .map(|hit| (hit.conversation_id, hit.message.id))
        }) else {
            return;
        };
        open.set(false);
        navigate.with_value(|navigate| {
            navigate(
                &format!("/conversations/{conversation}?message={message}"),
                NavigateOptions::default(),
            );
        });
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let count = results.with_untracked(Vec::len);
        match ev.key().as_str() {
            "ArrowDown" | "ArrowUp" if count > 0 => {
                ev.prevent_default();
                open.set(true);
                let down = ev.key() == "ArrowDown";
                active.update(|a| {
                    *a = Some(match (*a, down) {
                        (None, true) => 0,
                        (None, false) => count - 1,
                        (Some(i), true) => (i + 1) % count,
                        (Some(i), false) => (i + count - 1) % count,
                    });
                });
            }
            "Enter" if count > 0 => {
                ev.prevent_default();
                choose(active.get_untracked().unwrap_or(0));
            }
            "Escape" => {
                open.set(false);
                active.set(None);
            }
            _ => {}
        }
    };
    // `/` (outside a text field) or Ctrl+K / ⌘K: to the search box.
    let shortcut = window_event_listener(leptos::ev::keydown, move |ev| {
        let typing = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|t| matches!(t.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        let ctrl_k = (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("k");
        if (ctrl_k || (ev.key() == "/" && !typing))
            && let Some(input) = input.get_untracked()
        {
            ev.prevent_default();
            let _ = input.focus();
            input.select();
        }
    });
    on_cleanup(move || shortcut.remove());

    let option_id = |i: usize| format!("search-result-{i}");
    view! {
        <div
            role="search"
            class="message-search"
            on:focusout=move |ev: leptos::ev::FocusEvent| {
                let inside = ev
                    .related_target()
                    .and_then(|t| t.dyn_into::<web_sys::Node>().ok())
                    .zip(ev.current_target().and_then(|t| t.dyn_into::<web_sys::Node>().ok()))
                    .is_some_and(|(to, this)| this.contains(Some(&to)));
                if !inside {
                    open.set(false);
                }
            }
        >
            <input
                node_ref=input
                type="search"
                role="combobox"
                data-testid="message-search"
                aria-label="Search messages"
                aria-controls="search-results"
                aria-autocomplete="list"
                aria-expanded=move || open.get().to_string()
                aria-activedescendant=move || active.get().map(option_id)
                autocomplete="off"
                placeholder="Search messages  /"
                maxlength="200"
                prop:value=text
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    refresh();
                }
                on:focus=move |_| open.set(!text.with(String::is_empty))
                on:keydown=on_keydown
            />
            <Show when=move || open.get()>
                <div class="search-panel">
                    <div class="search-filters">
                        <label class:disabled=move || here.get().is_none()>
                            <input
                                type="checkbox"
                                data-testid="search-here"
                                prop:checked=here_only
                                prop:disabled=move || here.get().is_none()
                                on:change=move |ev| {
                                    here_only.set(event_target_checked(&ev));
                                    refresh();
                                }
                            />
                            "In this conversation"
                        </label>
                        <label>
                            "From "
                            <select
                                data-testid="search-from"
                                on:change=move |ev| {
                                    from.set(event_target_value(&ev).parse().ok().map(UserId));
                                    refresh();
                                }
                            >
                                <option value="">"anyone"</option>
                                {move || {
                                    people
                                        .get()
                                        .into_iter()
                                        .map(|person| {
                                            view! {
                                                <option
                                                    value=person.id.get().to_string()
                                                    selected=from.get_untracked() == Some(person.id)
                                                >
                                                    {person.nickname}
                                                </option>
                                            }
                                        })
                                        .collect_view()
                                }}
                            </select>
                        </label>
                    </div>
                    {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                    <ul id="search-results" role="listbox" aria-label="Messages found">
                        {move || {
                            results
                                .get()
                                .into_iter()
                                .enumerate()
                                .map(|(i, hit)| {
                                    view! {
                                        <li
                                            id=option_id(i)
                                            role="option"
                                            class="search-hit"
                                            data-testid="search-hit"
                                            data-message-id=hit.message.id.get().to_string()
                                            aria-selected=move || (active.get() == Some(i)).to_string()
                                            on:mousedown=|ev| ev.prevent_default()
                                            on:click=move |_| choose(i)
                                        >
                                            <span class="search-hit-head">
                                                <strong>{hit.conversation_title.clone()}</strong>
                                                " · "
                                                {hit.message.sender_name().to_owned()}
                                                <time datetime=time::iso(hit.message.created_at)>
                                                    {time::short(hit.message.created_at)}
                                                </time>
                                            </span>
                                            <span class="search-snippet">
                                                {snippet(&hit.message.content, &hit.highlights)}
                                            </span>
                                        </li>
                                    }
                                })
                                .collect_view()
                        }}
                    </ul>
                    <Show when=move || searched.get() && results.with(Vec::is_empty)>
                        <p class="muted" role="status">"No messages found."</p>
                    </Show>
                    <Show when=move || next_before.get().is_some()>
                        <button
                            type="button"
                            class="ghost"
                            data-testid="search-more"
                            on:click=move |_| run(next_before.get_untracked(), 0)
                        >
                            "More results"
                        </button>
                    </Show>
                </div>
            </Show>
        </div>
    }
}

/// The text around the first match (all of it when short), the matches marked.
fn snippet(content: &str, highlights: &[TextRange]) -> Vec<AnyView> {
    let chars: Vec<char> = content.chars().collect();
    let start = highlights
        .first()
        .map_or(0, |h| h.start.saturating_sub(SNIPPET_LEAD))
        .min(chars.len().saturating_sub(SNIPPET_CHARS));
    let end = (start + SNIPPET_CHARS).min(chars.len());
    let text = |from: usize, to: usize| chars[from..to].iter().collect::<String>();
    let mut pieces = Vec::new();
    if start > 0 {
        pieces.push("…".into_any());
    }
    let mut at = start;
    for range in highlights {
        let (from, to) = (range.start.max(at), range.end.min(end));
        if from >= to {
            continue;
        }
        pieces.push(text(at, from).into_any());
        pieces.push(view! { <mark>{text(from, to)}</mark> }.into_any());
        at = to;
    }
    pieces.push(text(at, end).into_any());
    if end < chars.len() {
        pieces.push("…".into_any());
    }
    pieces
}
