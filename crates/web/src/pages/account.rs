//! My account: my password, the sessions signed in as me (each of which I can end),
//! and deleting the account for good.

use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_domain::SessionId;
use natter_domain::api::{ChangePasswordRequest, DeleteAccountRequest, SessionInfo};

use crate::session::{self, Session};
use crate::{api, time};

#[component]
pub fn AccountPage() -> impl IntoView {
    let session = session::use_session();
    let sessions = RwSignal::new(None::<Vec<SessionInfo>>);
    let error = RwSignal::new(None::<String>);
    let load = move || {
        spawn_local(async move {
            match api::sessions().await {
                Ok(list) => {
                    sessions.try_set(Some(list));
                    error.try_set(None);
                }
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    load();
    let end = move |id: SessionId, current: bool| {
        spawn_local(async move {
            match api::end_session(id).await {
                Ok(()) if current => session.set(Session::SignedOut { notice: None }),
                Ok(()) => load(),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    let everywhere = move |_| {
        spawn_local(async move {
            crate::notify::unsubscribe().await;
            match api::sign_out_everywhere().await {
                Ok(()) => session.set(Session::SignedOut { notice: None }),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <section class="account" data-testid="account">
            <ChangePassword on_changed=load />
            <h1>"Your sessions"</h1>
            <p>"Everywhere you are signed in. End any you do not recognise."</p>
            {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <ul class="sessions">
                {move || {
                    sessions
                        .get()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| {
                            let (id, current) = (s.id, s.current);
                            let agent = s.user_agent.clone().unwrap_or_else(|| "Unknown".into());
                            view! {
                                <li class="session" data-testid="session">
                                    <span class="agent">{agent}</span>
                                    {current.then(|| view! { <strong>" (this one)"</strong> })}
                                    <span class="when">
                                        "Signed in " {time::full(s.created_at)} ", last used "
                                        {time::full(s.last_used_at)}
                                    </span>
                                    <button
                                        type="button"
                                        class="ghost"
                                        on:click=move |_| end(id, current)
                                    >
                                        "End"
                                    </button>
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
            <button type="button" class="danger" data-testid="sign-out-everywhere" on:click=everywhere>
                "Sign out everywhere"
            </button>
            <DeleteAccount />
        </section>
    }
}

/// Change my password: my other sessions end, this one stays.
#[component]
fn ChangePassword(on_changed: impl Fn() + Copy + 'static) -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let said = RwSignal::new(None::<(bool, String)>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = ChangePasswordRequest {
            current_password: current.get(),
            new_password: new.get(),
        };
        if let Err(error) = request.validate() {
            said.set(Some((false, api::sentence(&error.to_string()))));
            return;
        }
        spawn_local(async move {
            match api::change_password(&request).await {
                Ok(()) => {
                    current.try_set(String::new());
                    new.try_set(String::new());
                    said.try_set(Some((
                        true,
                        "Password changed; your other sessions are signed out.".to_owned(),
                    )));
                    on_changed();
                }
                Err(e) => {
                    said.try_set(Some((false, e.to_string())));
                }
            }
        });
    };
    view! {
        <h1>"Password"</h1>
        <form class="card" aria-label="Change password" data-testid="change-password" on:submit=submit>
            <label for="current-password">"Current password"</label>
            <input
                id="current-password"
                type="password"
                autocomplete="current-password"
                prop:value=current
                on:input=move |ev| current.set(event_target_value(&ev))
            />
            <label for="new-password">"New password"</label>
            <input
                id="new-password"
                type="password"
                autocomplete="new-password"
                prop:value=new
                on:input=move |ev| new.set(event_target_value(&ev))
            />
            {move || {
                said.get()
                    .map(|(ok, text)| {
                        view! {
                            <p class=if ok { "notice" } else { "form-error" } role="alert" data-testid="password-said">
                                {text}
                            </p>
                        }
                    })
            }}
            <button type="submit" class="primary">"Change password"</button>
        </form>
    }
}

/// Delete my account, after typing my password: my messages stay, from "Deleted
/// account".
#[component]
fn DeleteAccount() -> impl IntoView {
    let session = session::use_session();
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = DeleteAccountRequest {
            password: password.get(),
        };
        spawn_local(async move {
            match api::delete_account(&request).await {
                Ok(()) => session.set(Session::SignedOut {
                    notice: Some("Your account is deleted.".to_owned()),
                }),
                Err(e) => {
                    error.try_set(Some(e.to_string()));
                }
            }
        });
    };
    view! {
        <h1>"Delete account"</h1>
        <form class="card" aria-label="Delete account" data-testid="delete-account" on:submit=submit>
            <p>
                "Your messages stay in their conversations, shown as from \"Deleted account\". "
                "Your reactions, read receipts and sessions go, and your nickname becomes free."
            </p>
            <label for="delete-password">"Your password"</label>
            <input
                id="delete-password"
                type="password"
                autocomplete="current-password"
                prop:value=password
                on:input=move |ev| password.set(event_target_value(&ev))
            />
            {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            <button type="submit" class="danger" data-testid="delete-account-submit">
                "Delete my account for good"
            </button>
        </form>
    }
}
