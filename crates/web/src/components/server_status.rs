use leptos::prelude::*;
use natter_domain::api::ComponentStatus;

use crate::api;

/// The server's state as `/api/health` reports it, checked when the app starts.
#[component]
pub fn ServerStatus() -> impl IntoView {
    let health = LocalResource::new(api::health);
    let state = move || match health.get() {
        None => ("checking", "Connecting…".to_owned()),
        Some(Ok(health)) if health.database == ComponentStatus::Ok => {
            ("ok", format!("Server online · v{}", health.version))
        }
        Some(Ok(_)) => (
            "degraded",
            "Server online · database unavailable".to_owned(),
        ),
        Some(Err(error)) => ("offline", error.to_string()),
    };
    view! {
        <p class="server-status" data-testid="server-status" data-state=move || state().0 role="status">
            <span class="dot" aria-hidden="true"></span>
            {move || state().1}
        </p>
    }
}
