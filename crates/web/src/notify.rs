//! Browser notifications: asking once (from a prompt the app shows, never on its
//! own), notifications the page shows while its tab is hidden, and the push
//! subscription through which the server reaches this browser when no tab is open
//! (the service worker, `/sw.js`, shows those and opens the conversation on click).

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Notification, NotificationOptions, NotificationPermission, PushSubscription,
    PushSubscriptionOptionsInit, ServiceWorkerRegistration,
};

use crate::api;

/// Remembers, in this browser, that the prompt was answered "Not now".
const DISMISSED: &str = "natter.notifications.dismissed";

fn has(target: &JsValue, name: &str) -> bool {
    js_sys::Reflect::has(target, &JsValue::from_str(name)).unwrap_or(false)
}

/// Whether this browser can show notifications at all.
fn supported() -> bool {
    web_sys::window().is_some_and(|window| has(&window, "Notification"))
}

/// Whether notifications are allowed.
pub fn allowed() -> bool {
    supported() && Notification::permission() == NotificationPermission::Granted
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Whether to show the prompt: notifications are possible, not yet allowed or
/// refused, and the prompt was not put off here.
pub fn should_ask() -> bool {
    supported()
        && Notification::permission() == NotificationPermission::Default
        && storage()
            .and_then(|s| s.get_item(DISMISSED).ok().flatten())
            .is_none()
}

/// "Not now": the prompt stays away in this browser.
pub fn put_off() {
    if let Some(storage) = storage() {
        let _ = storage.set_item(DISMISSED, "1");
    }
}

/// Asks the browser for permission (from a click: browsers ignore it otherwise);
/// when given, subscribes this browser to pushes too.
pub async fn ask() {
    let Ok(asked) = Notification::request_permission() else {
        return;
    };
    let _ = JsFuture::from(asked).await;
    if allowed() {
        subscribe().await;
    }
}

/// Registers the service worker and gives the server this browser's push
/// subscription (again, when there is one: the server replaces it by endpoint).
/// Without push support (or a push service) the page's own notifications remain.
pub async fn subscribe() {
    if let Err(error) = try_subscribe().await {
        web_sys::console::warn_2(&"push notifications are not available:".into(), &error);
    }
}

async fn try_subscribe() -> Result<(), JsValue> {
    let registration = registration().await?;
    let manager = registration.push_manager()?;
    let key = api::push_key()
        .await
        .map_err(|error| JsValue::from_str(&error.to_string()))?;
    let options = PushSubscriptionOptionsInit::new();
    options.set_user_visible_only(true);
    options.set_application_server_key(&js_sys::Uint8Array::from(base64url(&key)?.as_slice()));
    let subscription = JsFuture::from(manager.subscribe_with_options(&options)?).await?;
    let json = js_sys::JSON::stringify(&subscription)?
        .as_string()
        .unwrap_or_default();
    api::push_subscribe(json)
        .await
        .map_err(|error| JsValue::from_str(&error.to_string()))
}

/// The service worker's registration, once it is active.
async fn registration() -> Result<ServiceWorkerRegistration, JsValue> {
    let navigator = web_sys::window().ok_or("no window")?.navigator();
    if !has(&navigator, "serviceWorker") {
        return Err("no service workers here (they need https or localhost)".into());
    }
    let workers = navigator.service_worker();
    JsFuture::from(workers.register("/sw.js")).await?;
    JsFuture::from(workers.ready()?).await?.dyn_into()
}

/// On signing out: the server forgets this browser's subscription, and the
/// browser drops it, so that nobody's messages are pushed to a signed-out browser.
pub async fn unsubscribe() {
    let ended = async {
        let registration = registration().await?;
        let found = JsFuture::from(registration.push_manager()?.get_subscription()?).await?;
        let Ok(subscription) = found.dyn_into::<PushSubscription>() else {
            return Ok::<(), JsValue>(());
        };
        let _ = api::push_unsubscribe(subscription.endpoint()).await;
        JsFuture::from(subscription.unsubscribe()?).await?;
        Ok(())
    };
    let _ = ended.await;
}

/// Unpadded base64url, as the server writes keys.
fn base64url(text: &str) -> Result<Vec<u8>, JsValue> {
    let mut standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    let binary = web_sys::window().ok_or("no window")?.atob(&standard)?;
    Ok(binary
        .chars()
        .map(|c| u8::try_from(c).unwrap_or(0))
        .collect())
}

/// Whether this tab is out of sight.
pub fn tab_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

/// Shows a notification (when allowed); a click focuses this tab and runs `open`.
pub fn show(title: &str, body: &str, tag: &str, open: impl FnOnce() + 'static) {
    if !allowed() {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    let Ok(notification) = Notification::new_with_options(title, &options) else {
        return;
    };
    let clicked = Closure::once_into_js(move || {
        if let Some(window) = web_sys::window() {
            let _ = window.focus();
        }
        open();
    });
    notification.set_onclick(Some(clicked.unchecked_ref()));
}
