//! Serves the built web client: its files as they are, and `index.html` for any other
//! path so that the client's router can take over (history-API fallback).
//!
//! Files the build compressed ahead of time (`app.wasm.br`, `app.wasm.gz` beside
//! `app.wasm`, at the strongest settings) are sent in those encodings to browsers that
//! accept them; everything else is compressed on the fly by the caller's middleware.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_files::{Files, NamedFile, file_extension_to_mime};
use actix_web::dev::{ServiceRequest, ServiceResponse, fn_service};
use actix_web::http::header::{
    self, AcceptEncoding, CACHE_CONTROL, CacheControl, CacheDirective, ContentEncoding, Encoding,
    Header,
};
use actix_web::{HttpRequest, HttpResponse, web};

/// Where the built client lives, checked once at start-up.
#[derive(Debug, Clone)]
pub struct WebClient {
    dir: PathBuf,
    built: bool,
    /// URL path (`/app.wasm`) → the file and its precompressed siblings.
    precompressed: BTreeMap<String, Arc<Variants>>,
}

#[derive(Debug)]
struct Variants {
    plain: PathBuf,
    /// Best first.
    encoded: Vec<Encoded>,
}

#[derive(Debug)]
struct Encoded {
    /// As `Accept-Encoding` names it.
    token: Encoding,
    encoding: ContentEncoding,
    path: PathBuf,
}

impl WebClient {
    pub fn new(dir: &Path) -> Self {
        let built = dir.join("index.html").is_file();
        if built {
            tracing::info!(web_dir = %dir.display(), "serving the web client");
        } else {
            tracing::warn!(
                web_dir = %dir.display(),
                "the web client is not built (no index.html in the web directory): build it with scripts/build-web.sh; serving the API only"
            );
        }
        Self {
            dir: dir.to_owned(),
            built,
            precompressed: if built {
                precompressed_files(dir)
            } else {
                BTreeMap::new()
            },
        }
    }

    /// Routes for the client: its precompressed files first, then every other file,
    /// with `index.html` for any path that is none (history-API fallback). When the
    /// client has not been built, every path answers a page that says how to build it.
    pub fn configure(&self, config: &mut web::ServiceConfig) {
        if !self.built {
            config.default_service(web::to(not_built));
            return;
        }
        for (path, variants) in &self.precompressed {
            let variants = variants.clone();
            config.route(
                path,
                web::get()
                    .to(move |request: HttpRequest| serve_negotiated(request, variants.clone())),
            );
        }
        let index = self.dir.join("index.html");
        config.service(
            Files::new("/", &self.dir)
                .index_file("index.html")
                .default_handler(fn_service(move |request: ServiceRequest| {
                    spa_fallback(request, index.clone())
                })),
        );
    }
}

/// What is shown in place of the web client when it has not been built.
const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Natter: the web client is not built</title></head><body>\
<h1>The Natter web client is not built</h1>\
<p>Build it with <code>scripts/build-web.sh</code> (or start everything with \
<code>scripts/run.sh</code>), then restart natter. The API answers under \
<a href=\"/api/openapi.json\"><code>/api</code></a> meanwhile.</p></body></html>\n";

async fn not_built() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body(NOT_BUILT)
}

/// The top-level files of `dir` that have a `.br` or `.gz` sibling (Trunk's output is
/// flat, so only the top level is looked at).
fn precompressed_files(dir: &Path) -> BTreeMap<String, Arc<Variants>> {
    let mut found = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let plain = entry.path();
        let Some(name) = plain.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let is_variant = plain
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("br") || e.eq_ignore_ascii_case("gz"));
        if !plain.is_file() || is_variant {
            continue;
        }
        let encoded: Vec<_> = [
            (Encoding::brotli(), ContentEncoding::Brotli, "br"),
            (Encoding::gzip(), ContentEncoding::Gzip, "gz"),
        ]
        .into_iter()
        .map(|(token, encoding, suffix)| Encoded {
            token,
            encoding,
            path: dir.join(format!("{name}.{suffix}")),
        })
        .filter(|encoded| encoded.path.is_file())
        .collect();
        if !encoded.is_empty() {
            found.insert(format!("/{name}"), Arc::new(Variants { plain, encoded }));
        }
    }
    if !found.is_empty() {
        tracing::info!(
            files = found.len(),
            "serving precompressed web client files"
        );
    }
    found
}

/// Sends the best precompressed variant the browser accepts, else the plain file.
async fn serve_negotiated(
    request: HttpRequest,
    variants: Arc<Variants>,
) -> actix_web::Result<HttpResponse> {
    let identity = Encoding::identity();
    let offered = variants
        .encoded
        .iter()
        .map(|encoded| &encoded.token)
        .chain([&identity]);
    let chosen = AcceptEncoding::parse(&request)
        .ok()
        .and_then(|accepted| accepted.negotiate(offered));
    let pick = variants
        .encoded
        .iter()
        .find(|encoded| chosen.as_ref() == Some(&encoded.token));
    let content_type = file_extension_to_mime(
        variants
            .plain
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default(),
    );
    // Without an encoding the plain file is sent, and the compression middleware can
    // still pick one the browser accepts.
    let (path, encoding) = pick.map_or((variants.plain.clone(), None), |encoded| {
        (encoded.path.clone(), Some(encoded.encoding))
    });
    let mut file = web::block(move || NamedFile::open(path)).await??;
    if let Some(encoding) = encoding {
        file = file.set_content_encoding(encoding);
    }
    let mut response = file
        .set_content_type(content_type)
        .disable_content_disposition()
        .into_response(&request);
    response.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    Ok(response)
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
            HttpResponse::NotFound()
                .content_type("text/plain; charset=utf-8")
                .body("Not found\n"),
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
