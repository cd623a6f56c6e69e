//! Who is signed in. The server keeps the session in an HttpOnly cookie, so the app
//! asks `/api/me` at start and learns of an ended session from any call that gets 401.

use leptos::prelude::*;
use leptos::task::spawn_local;
use natter_domain::api::User;

use crate::api;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Session {
    /// Asking the server whether the cookie is still good.
    Checking,
    /// Not signed in; `notice` says why, when it was not the person's own doing.
    SignedOut {
        notice: Option<String>,
    },
    SignedIn(User),
}

/// Provides the session signal and keeps it in step with the server.
pub fn provide() -> RwSignal<Session> {
    let session = RwSignal::new(Session::Checking);
    provide_context(session);
    spawn_local(async move {
        let next = match api::me().await {
            Ok(user) => Session::SignedIn(user),
            Err(error) if error.code().is_some() => Session::SignedOut { notice: None },
            Err(error) => Session::SignedOut {
                notice: Some(error.to_string()),
            },
        };
        session.set(next);
    });
    let handle = window_event_listener_untyped(api::SESSION_ENDED_EVENT, move |_| {
        if matches!(session.get_untracked(), Session::SignedIn(_)) {
            session.set(Session::SignedOut {
                notice: Some("Your session has ended. Please log in again.".to_owned()),
            });
        }
    });
    on_cleanup(move || handle.remove());
    session
}

pub fn use_session() -> RwSignal<Session> {
    expect_context()
}
