use leptos::prelude::*;

use crate::store::{Connection, use_store};

/// Whether live updates are flowing; shown so a person knows when what they see
/// may be behind.
#[component]
pub fn ConnectionStatus() -> impl IntoView {
    let store = use_store();
    let state = move || match store.connection.get() {
        Connection::Connecting => ("connecting", "Connecting…"),
        Connection::Live => ("live", "Live"),
        Connection::Reconnecting => ("reconnecting", "Reconnecting…"),
    };
    view! {
        <p
            class="connection"
            data-testid="connection"
            data-state=move || state().0
            role="status"
            aria-live="polite"
        >
            <span class="dot" aria-hidden="true"></span>
            {move || state().1}
        </p>
    }
}
