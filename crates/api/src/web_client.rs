//! Serves the built web client: its files as they are, and `index.html` for any other
//! path so that the client's router can take over (history-API fallback).

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::dev::{HttpServiceFactory, ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header::{CACHE_CONTROL, CacheControl, CacheDirective};
use actix_web::{HttpResponse, web};

/// Where the built client lives, checked once at start-up.
#[derive(Debug, Clone)]
pub struct WebClient {
    dir: PathBuf,
    built: bool,
}

impl WebClient {
    pub fn new(dir: &Path) -> Self {
        let built = dir.join("index.html").is_file();
        if built {
            tracing::info!(web_dir = %dir.display(), "serving the web client");
        } else {
            tracing::warn!(
                web_dir = %dir.display(),
                "no index.html in the web directory: the web client is not built (run scripts/build-web.sh); serving the API only"
            );
        }
        Self {
            dir: dir.to_owned(),
            built,
        }
    }

    /// The service for `/`. When the client has not been built, `/` explains how to.
    pub fn service(&self) -> impl HttpServiceFactory + use<> {
        if self.built {
            let index = self.dir.join("index.html");
            Files::new("/", &self.dir)
                .index_file("index.html")
                .default_handler(fn_service(move |request: ServiceRequest| {
                    spa_fallback(request, index.clone())
                }))
        } else {
            Files::new("/", &self.dir).default_handler(fn_service(|request: ServiceRequest| async {
                let response = HttpResponse::NotFound()
                    .content_type("text/plain; charset=utf-8")
                    .body("The Natter web client is not built. Run scripts/build-web.sh, or use the API under /api.\n");
                Ok(request.into_response(response))
            }))
        }
    }
}

/// Paths that look like files (a dot in the last segment) get a real 404; everything
/// else is a client-side route and gets `index.html`.
async fn spa_fallback(
    request: ServiceRequest,
    index: PathBuf,
) -> Result<ServiceResponse, actix_web::Error> {
    let looks_like_a_file = request
        .path()
        .rsplit('/')
        .next()
        .is_some_and(|segment| segment.contains('.'));
    let (request, _) = request.into_parts();
    if looks_like_a_file {
        return Ok(ServiceResponse::new(
            request,
            HttpResponse::NotFound().finish(),
        ));
    }
    let file = web::block(move || NamedFile::open(index)).await??;
    let mut response = file.into_response(&request);
    // The page names hashed assets; it must be revalidated so a new build shows up.
    response.headers_mut().insert(
        CACHE_CONTROL,
        CacheControl(vec![CacheDirective::NoCache])
            .to_string()
            .parse()
            .map_err(actix_web::error::ErrorInternalServerError)?,
    );
    Ok(ServiceResponse::new(request, response))
}
