//! A message's files: images as thumbnails that open full size in a viewer, other
//! files as a chip with their name and size that downloads them.

use leptos::ev;
use leptos::html;
use leptos::prelude::*;
use natter_domain::api::Attachment;

use crate::components::message_item::use_thread;

/// The largest side a thumbnail is shown at, in CSS pixels (the server makes them at
/// most 400 px, shown at half size for sharpness on dense screens).
const SHOWN_SIDE: i32 = 240;

#[component]
pub fn Attachments(files: Vec<Attachment>) -> impl IntoView {
    let thread = use_thread();
    let items = files
        .into_iter()
        .map(|file| {
            let name = file.filename.clone();
            if file.is_inline_image() && file.thumbnail {
                let (width, height) = shown_size(&file);
                let thumbnail = file.thumbnail_url();
                view! {
                    <li>
                        <button
                            type="button"
                            class="thumb"
                            data-testid="attachment-image"
                            aria-label=format!("Open {name}")
                            on:click=move |_| thread.viewing.set(Some(file.clone()))
                        >
                            <img src=thumbnail alt=name.clone() loading="lazy" width=width height=height />
                        </button>
                    </li>
                }
                .into_any()
            } else {
                let size = human_size(file.size);
                view! {
                    <li>
                        <a class="file-chip" data-testid="attachment-file" href=file.url() download=name.clone()>
                            <span class="file-name">{name.clone()}</span>
                            <span class="file-size">{size}</span>
                        </a>
                    </li>
                }
                .into_any()
            }
        })
        .collect_view();
    view! { <ul class="attachments" data-testid="attachments">{items}</ul> }
}

/// The image being looked at, full size, over the page: Esc, the close button or a
/// click beside it closes it.
#[component]
pub fn ImageViewer() -> impl IntoView {
    let thread = use_thread();
    let viewing = thread.viewing;
    let close_button = NodeRef::<html::Button>::new();
    let keys = window_event_listener(ev::keydown, move |event| {
        if event.key() == "Escape" && viewing.get_untracked().is_some() {
            event.prevent_default();
            viewing.set(None);
        }
    });
    on_cleanup(move || keys.remove());
    Effect::new(move |_| {
        if viewing.with(Option::is_some)
            && let Some(button) = close_button.get()
        {
            let _ = button.focus();
        }
    });
    move || {
        viewing.get().map(|file| {
            let name = file.filename.clone();
            view! {
                <div
                    class="viewer"
                    role="dialog"
                    aria-modal="true"
                    aria-label=name.clone()
                    data-testid="image-viewer"
                    on:click=move |_| viewing.set(None)
                >
                    <img src=file.url() alt=name.clone() on:click=|event| event.stop_propagation() />
                    <div class="viewer-bar" on:click=|event| event.stop_propagation()>
                        <span class="file-name">{name.clone()}</span>
                        <a href=file.url() download=file.filename.clone()>"Download"</a>
                        <button
                            type="button"
                            class="ghost"
                            node_ref=close_button
                            data-testid="close-viewer"
                            aria-label="Close"
                            on:click=move |_| viewing.set(None)
                        >
                            "×"
                        </button>
                    </div>
                </div>
            }
        })
    }
}

/// The size a thumbnail takes in the page, kept from its proportions so that the
/// list does not jump when it loads.
fn shown_size(file: &Attachment) -> (i32, i32) {
    match (file.width, file.height) {
        (Some(width), Some(height)) if width > 0 && height > 0 => {
            let longest = width.max(height);
            if longest <= SHOWN_SIDE {
                (width, height)
            } else {
                let scale = |side: i32| {
                    (i64::from(side) * i64::from(SHOWN_SIDE) / i64::from(longest)).max(1)
                };
                (
                    i32::try_from(scale(width)).unwrap_or(SHOWN_SIDE),
                    i32::try_from(scale(height)).unwrap_or(SHOWN_SIDE),
                )
            }
        }
        _ => (SHOWN_SIDE, SHOWN_SIDE),
    }
}

/// `512 B`, `12 KB`, `3.4 MB`.
pub fn human_size(bytes: i64) -> String {
    #[allow(clippy::cast_precision_loss)] // sizes, for reading
    let bytes = bytes as f64;
    if bytes < 1000.0 {
        format!("{bytes} B")
    } else if bytes < 1_000_000.0 {
        format!("{:.0} KB", bytes / 1000.0)
    } else {
        format!("{:.1} MB", bytes / 1_000_000.0)
    }
}
