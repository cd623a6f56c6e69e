//! Who is around: a dot per person (online, away, offline), and the prompt that
//! offers notifications.

use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_domain::UserId;
use natter_domain::api::Presence;

use crate::notify;
use crate::store::use_store;

/// A dot for `user`'s presence, with its name for screen readers.
#[component]
pub fn PresenceDot(user: UserId) -> impl IntoView {
    let store = use_store();
    let presence = Memo::new(move |_| store.state.with(|s| s.presence_of(user)));
    move || {
        let presence = presence.get();
        let label = match presence {
            Presence::Online => "online",
            Presence::Away => "away",
            Presence::Offline => "offline",
        };
        view! {
            <span
                class=format!("presence {label}")
                role="img"
                aria-label=label
                title=label
                data-testid="presence"
                data-presence=label
            ></span>
        }
    }
}

/// "Get notified?": shown until answered, and only where the browser has not been
/// asked yet. The browser asks only from a click here, never by itself.
#[component]
pub fn NotificationPrompt() -> impl IntoView {
    let shown = RwSignal::new(notify::should_ask());
    view! {
        <Show when=move || shown.get()>
            <div class="notification-prompt" role="region" aria-label="Notifications" data-testid="notification-prompt">
                <p>"Get a notification when a message comes in while Natter is in the background?"</p>
                <div class="actions">
                    <button
                        type="button"
                        class="primary small"
                        data-testid="notifications-allow"
                        on:click=move |_| {
                            spawn_local(async move {
                                notify::ask().await;
                                shown.try_set(notify::should_ask());
                            });
                        }
                    >
                        "Turn on"
                    </button>
                    <button
                        type="button"
                        class="ghost small"
                        data-testid="notifications-later"
                        on:click=move |_| {
                            notify::put_off();
                            shown.set(false);
                        }
                    >
                        "Not now"
                    </button>
                </div>
            </div>
        </Show>
    }
}
