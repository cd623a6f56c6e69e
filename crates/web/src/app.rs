use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::components::connection_status::ConnectionStatus;
use crate::components::conversation_list::ConversationList;
use crate::components::message_search::MessageSearch;
use crate::components::server_status::ServerStatus;
use crate::pages::account::AccountPage;
use crate::pages::admin::AdminPage;
use crate::pages::auth::AuthPage;
use crate::pages::conversation::ConversationPage;
use crate::pages::new_conversation::NewConversation;
use crate::pages::not_found::NotFound;
use crate::session::{self, Session};
use crate::store::Store;
use crate::{api, components::icons};

/// Signed out: the login page at whatever address was opened, so a deep link works
/// after logging in. Signed in: the messenger.
#[component]
pub fn App() -> impl IntoView {
    let session = session::provide();
    view! {
        <Router>
            {move || match session.get() {
                Session::Checking => {
                    view! { <p class="splash" role="status">"Loading Natter…"</p> }.into_any()
                }
                Session::SignedOut { notice } => {
                    view! {
                        <div class="shell">
                            <header class="topbar">
                                <span class="brand">"Natter"</span>
                                <ServerStatus />
                            </header>
                            <main class="page">
                                <AuthPage notice />
                            </main>
                        </div>
                    }
                        .into_any()
                }
                Session::SignedIn(user) => view! { <Messenger user /> }.into_any(),
            }}
        </Router>
    }
}

/// The signed-in app: a sidebar of conversations and a pane the router fills.
#[component]
fn Messenger(user: natter_domain::api::User) -> impl IntoView {
    let nickname = user.nickname.clone();
    Store::start(user);
    // Whether to offer the admin page (the API decides all the same).
    let admin = RwSignal::new(false);
    leptos::task::spawn_local(async move {
        if let Ok(yes) = api::am_admin().await {
            admin.try_set(yes);
        }
    });
    let location = use_location();
    let selected = move || location.pathname.get() != "/";
    view! {
        <div class="shell">
            <header class="topbar">
                <A href="/" attr:class="brand">
                    "Natter"
                </A>
                <MessageSearch />
                <ConnectionStatus />
                <Show when=move || admin.get()>
                    <A href="/admin" attr:class="whoami" attr:data-testid="admin-link">
                        "Admin"
                    </A>
                </Show>
                <A href="/account" attr:class="whoami" attr:data-testid="whoami">
                    {icons::person()}
                    {nickname}
                </A>
                <LogoutButton />
            </header>
            <div class="messenger" class:has-selection=selected>
                <aside class="sidebar" aria-label="Conversations">
                    <ConversationList />
                </aside>
                <main class="pane">
                    <Routes fallback=|| view! { <NotFound /> }>
                        <Route path=path!("/") view=Placeholder />
                        <Route path=path!("/conversations/new") view=NewConversation />
                        <Route path=path!("/account") view=AccountPage />
                        <Route path=path!("/admin") view=AdminPage />
                        <Route path=path!("/conversations/:id") view=ConversationPage />
                    </Routes>
                </main>
            </div>
        </div>
    }
}

#[component]
fn Placeholder() -> impl IntoView {
    view! {
        <section class="placeholder">
            <h1>"Welcome to Natter"</h1>
            <p>"Pick a conversation on the left, or start a new one."</p>
            <A href="/conversations/new" attr:class="button primary">
                "New conversation"
            </A>
        </section>
    }
}

#[component]
fn LogoutButton() -> impl IntoView {
    let session = session::use_session();
    let error = RwSignal::new(None::<String>);
    let logout = Action::new_local(move |(): &()| async move {
        // While still signed in: the server forgets this browser's push subscription.
        crate::notify::unsubscribe().await;
        match api::logout().await {
            Ok(()) => session.set(Session::SignedOut { notice: None }),
            Err(e) => error.set(Some(e.to_string())),
        }
    });
    view! {
        <button
            type="button"
            class="ghost"
            data-testid="logout"
            on:click=move |_| {
                logout.dispatch(());
            }
        >
            "Log out"
        </button>
        {move || error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
    }
}
