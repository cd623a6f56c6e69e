//! For admins: the people of the instance (disable, enable) and invitations (create,
//! copy the link, revoke). Anyone else is told the page is not theirs (the API
//! answers them 403 all the same).

use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_domain::UserId;
use natter_domain::api::{AdminUser, Invite};

use wasm_bindgen::JsCast;

use crate::{api, time};

#[component]
pub fn AdminPage() -> impl IntoView {
    let people = RwSignal::new(Vec::<AdminUser>::new());
    let more = RwSignal::new(None::<UserId>);
    let invites = RwSignal::new(Vec::<Invite>::new());
    let error = RwSignal::new(None::<String>);
    let fail = move |e: api::ApiError| {
        error.try_set(Some(e.to_string()));
    };
    let load_people = move |after: Option<UserId>| {
        spawn_local(async move {
            match api::admin_users(after).await {
                Ok(page) => {
                    people.update(|list| {
                        if after.is_none() {
                            list.clear();
                        }
                        list.extend(page.users);
                    });
                    more.set(page.next_after);
                }
                Err(e) => fail(e),
            }
        });
    };
    let load_invites = move || {
        spawn_local(async move {
            match api::invites().await {
                Ok(list) => {
                    invites.try_set(list);
                }
                Err(e) => fail(e),
            }
        });
    };
    load_people(None);
    load_invites();

    let toggle = move |id: UserId, disable: bool| {
        spawn_local(async move {
            match api::set_disabled(id, disable).await {
                Ok(changed) => people.update(|list| {
                    if let Some(person) = list.iter_mut().find(|p| p.id == changed.id) {
                        *person = changed;
                    }
                }),
                Err(e) => fail(e),
            }
        });
    };
    let create = move |_| {
        spawn_local(async move {
            match api::create_invite().await {
                Ok(_) => load_invites(),
                Err(e) => fail(e),
            }
        });
    };
    let revoke = move |code: String| {
        spawn_local(async move {
            match api::revoke_invite(&code).await {
                Ok(()) => load_invites(),
                Err(e) => fail(e),
            }
        });
    };

    view! {
        <section class="account admin" data-testid="admin">
            <h1>"People"</h1>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <ul class="sessions">
                {move || {
                    people
                        .get()
                        .into_iter()
                        .map(|person| {
                            let (id, disabled) = (person.id, person.disabled);
                            let active = person
                                .last_active_at
                                .map_or_else(|| "never".to_owned(), time::full);
                            view! {
                                <li class="session" data-testid="person" data-nickname=person.nickname.clone()>
                                    <span class="agent">{person.nickname.clone()}</span>
                                    {person.admin.then(|| view! { <strong>" admin"</strong> })}
                                    {disabled.then(|| view! { <strong class="error">" disabled"</strong> })}
                                    <span class="when">
                                        "Joined " {time::full(person.created_at)} ", last active " {active}
                                    </span>
                                    <button
                                        type="button"
                                        class="ghost"
                                        data-testid=if disabled { "enable" } else { "disable" }
                                        on:click=move |_| toggle(id, !disabled)
                                    >
                                        {if disabled { "Enable" } else { "Disable" }}
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            {move || {
                more.get()
                    .map(|after| {
                        view! {
                            <button type="button" class="ghost" on:click=move |_| load_people(Some(after))>
                                "More people"
                            </button>
                        }
                    })
            }}
            <h1>"Invitations"</h1>
            <p>"An invitation lets one person create an account within a week, while registration is by invitation."</p>
            <button type="button" class="primary" data-testid="create-invite" on:click=create>
                "Create an invitation"
            </button>
            <ul class="sessions">
                {move || {
                    invites
                        .get()
                        .into_iter()
                        .map(|invite| {
                            let code = invite.code.clone();
                            let url = invite.url.clone();
                            let copied = RwSignal::new(false);
                            view! {
                                <li class="session" data-testid="invite">
                                    <input class="invite-url" readonly prop:value=invite.url.clone() data-testid="invite-url" />
                                    <span class="when">
                                        {invite.uses_left} " use(s) left, expires " {time::full(invite.expires_at)}
                                    </span>
                                    <button
                                        type="button"
                                        class="ghost"
                                        on:click=move |_| copied.set(copy_to_clipboard(&url))
                                    >
                                        {move || if copied.get() { "Copied" } else { "Copy link" }}
                                    </button>
                                    <button
                                        type="button"
                                        class="ghost"
                                        data-testid="revoke-invite"
                                        on:click=move |_| revoke(code.clone())
                                    >
                                        "Revoke"
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        </section>
    }
}

/// Puts `text` on the clipboard where the browser allows it (HTTPS or localhost);
/// answers whether it could. Elsewhere the link stays selectable in its field.
fn copy_to_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let clipboard = js_sys::Reflect::get(&window, &"navigator".into())
        .and_then(|navigator| js_sys::Reflect::get(&navigator, &"clipboard".into()))
        .ok()
        .filter(|c| !c.is_undefined());
    let write = clipboard.as_ref().and_then(|c| {
        js_sys::Reflect::get(c, &"writeText".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    });
    match (clipboard, write) {
        (Some(clipboard), Some(write)) => write.call1(&clipboard, &text.into()).is_ok(),
        _ => false,
    }
}
