//! Small browser helpers.

use natter_domain::ClientId;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Waits `ms` milliseconds without blocking the page.
pub async fn sleep(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Runs `f` once the browser has laid out the page after the current changes.
pub fn after_layout(f: impl FnOnce() + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let callback = Closure::once_into_js(f);
    let _ = window.request_animation_frame(callback.unchecked_ref());
}

/// A fresh random `client_id` (UUID v4) from the browser's CSPRNG, which works on
/// plain-HTTP origins too, unlike `crypto.randomUUID`.
pub fn new_client_id() -> ClientId {
    let mut bytes = [0u8; 16];
    if let Some(crypto) = web_sys::window().and_then(|w| w.crypto().ok()) {
        let _ = crypto.get_random_values_with_u8_array(&mut bytes);
    }
    if bytes == [0; 16] {
        // No CSPRNG: still unique enough to deduplicate one person's retries.
        let seed = js_sys::Math::random().to_bits() ^ js_sys::Date::now().to_bits();
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..].copy_from_slice(&js_sys::Math::random().to_bits().to_le_bytes());
    }
    ClientId::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// Names a moment on the page's performance timeline (`performance.mark`), where
/// `natter-bench web` reads how long a first load took.
pub fn performance_mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

/// Whether the page is on screen (not a background tab or a minimised window).
pub fn page_visible() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
}

/// Runs `f` once, `ms` milliseconds from now.
pub fn after(ms: i32, f: impl FnOnce() + 'static) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let callback = Closure::once_into_js(f);
    let _ =
        window.set_timeout_with_callback_and_timeout_and_arguments_0(callback.unchecked_ref(), ms);
}
