//! My account: the sessions signed in as me, each of which I can end.

use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_domain::SessionId;
use natter_domain::api::SessionInfo;

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
        </section>
    }
}
