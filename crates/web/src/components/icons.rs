//! Inline SVG icons: no icon font or image requests.

use leptos::prelude::*;

pub fn person() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true">
            <circle cx="12" cy="8" r="4" />
            <path d="M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7" />
        </svg>
    }
}

pub fn smile() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true">
            <circle cx="12" cy="12" r="9" />
            <path d="M8 14c1 1.5 2.3 2.2 4 2.2s3-.7 4-2.2" />
            <circle cx="9" cy="10" r="1" class="fill" />
            <circle cx="15" cy="10" r="1" class="fill" />
        </svg>
    }
}

pub fn people() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true">
            <circle cx="9" cy="8" r="3.5" />
            <path d="M2.5 20c0-3.6 2.9-6 6.5-6s6.5 2.4 6.5 6" />
            <circle cx="17" cy="9" r="2.5" />
            <path d="M16 14.2c3 .2 5.5 2.2 5.5 5.3" />
        </svg>
    }
}

pub fn back() -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" aria-hidden="true">
            <path d="M15 5l-7 7 7 7" />
        </svg>
    }
}
