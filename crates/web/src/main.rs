//! Natter in the browser: a Leptos client-side app talking to `/api` and following
//! `/api/events`.

mod api;
mod app;
mod components;
mod markdown;
mod notify;
mod pages;
mod session;
mod store;
mod time;
mod uploads;
mod util;

fn main() {
    leptos::mount::mount_to_body(app::App);
}
