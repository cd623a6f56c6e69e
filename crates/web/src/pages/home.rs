use leptos::prelude::*;

#[component]
pub fn Home() -> impl IntoView {
    view! {
        <section class="welcome">
            <h1>"Welcome to Natter"</h1>
            <p>"A self-hosted, real-time team messenger: conversations, reactions and read receipts, live in every tab."</p>
        </section>
    }
}
