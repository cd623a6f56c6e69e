use leptos::prelude::*;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use crate::components::server_status::ServerStatus;
use crate::pages::{home::Home, not_found::NotFound};

/// The shell: a header that is always there and a page area the router fills.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <Router>
            <div class="shell">
                <header class="topbar">
                    <A href="/" attr:class="brand">
                        "Natter"
                    </A>
                    <ServerStatus />
                </header>
                <main class="page">
                    <Routes fallback=|| view! { <NotFound /> }>
                        <Route path=path!("/") view=Home />
                    </Routes>
                </main>
            </div>
        </Router>
    }
}
