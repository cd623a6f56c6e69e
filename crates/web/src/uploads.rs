//! Uploading a file with its progress shown and a way to cancel it: through
//! XMLHttpRequest, since `fetch` reports no upload progress. The file goes as the
//! request's body, streamed by the browser; the server finds its type itself.

use std::cell::RefCell;
use std::rc::Rc;

use natter_domain::ErrorBody;
use natter_domain::api::Attachment;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{File, ProgressEvent, XmlHttpRequest};

use crate::api;

/// An upload under way.
pub struct Upload {
    request: XmlHttpRequest,
}

impl Upload {
    /// Stops it; its `done` is called with "Cancelled".
    pub fn cancel(&self) {
        let _ = self.request.abort();
    }
}

type Done = Rc<RefCell<Option<Box<dyn FnOnce(Result<Attachment, String>)>>>>;

/// Starts uploading `file`: `progress` hears the share sent (0 to 1), and `done`
/// the stored file or why not, once.
pub fn start(
    file: &File,
    progress: impl Fn(f64) + 'static,
    done: impl FnOnce(Result<Attachment, String>) + 'static,
) -> Result<Upload, String> {
    let failed = |_| "The upload could not start.".to_owned();
    let request = XmlHttpRequest::new().map_err(failed)?;
    let url = format!(
        "/api/uploads?filename={}",
        js_sys::encode_uri_component(&file.name())
    );
    request
        .open_with_async("POST", &url, true)
        .map_err(failed)?;
    request
        .set_request_header("X-Requested-With", "natter-web")
        .map_err(failed)?;
    let done: Done = Rc::new(RefCell::new(Some(Box::new(done))));
    let finish = move |done: &Done, result| {
        if let Some(done) = done.borrow_mut().take() {
            done(result);
        }
    };

    let on_progress = Closure::<dyn Fn(ProgressEvent)>::new(move |event: ProgressEvent| {
        if event.length_computable() && event.total() > 0.0 {
            progress(event.loaded() / event.total());
        }
    });
    request
        .upload()
        .map_err(failed)?
        .set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    on_progress.forget();

    let (answered, on_done) = (request.clone(), done.clone());
    let on_load = Closure::once_into_js(move || {
        let status = answered.status().unwrap_or(0);
        let text = answered.response_text().ok().flatten().unwrap_or_default();
        let result = if status == 201 {
            serde_json::from_str::<Attachment>(&text)
                .map_err(|_| "The server answered unexpectedly.".to_owned())
        } else {
            Err(serde_json::from_str::<ErrorBody>(&text).map_or_else(
                |_| format!("The server answered unexpectedly ({status})."),
                |body| api::sentence(&body.error.message),
            ))
        };
        finish(&on_done, result);
    });
    request.set_onload(Some(on_load.unchecked_ref()));
    let on_done = done.clone();
    let on_error = Closure::once_into_js(move || {
        finish(
            &on_done,
            Err("The server cannot be reached. Check your connection.".to_owned()),
        );
    });
    request.set_onerror(Some(on_error.unchecked_ref()));
    let on_abort = Closure::once_into_js(move || finish(&done, Err("Cancelled.".to_owned())));
    request.set_onabort(Some(on_abort.unchecked_ref()));

    request.send_with_opt_blob(Some(file)).map_err(failed)?;
    Ok(Upload { request })
}
