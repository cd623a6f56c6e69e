//! Natter in the browser: a Leptos client-side app talking to `/api` and following
//! `/api/events`.

mod api;
mod app;
mod components;
mod pages;
mod session;
mod store;
mod time;
mod util;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
