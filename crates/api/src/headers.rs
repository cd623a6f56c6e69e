//! Security headers: what browsers may do with what natter sends.

use actix_web::middleware::DefaultHeaders;

/// The web client's Content Security Policy: its own files only, WebAssembly
/// compiled from them, no inline script or style, and no framing by other sites.
pub const WEB_CLIENT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// JSON and event streams are never documents: nothing may load or frame them.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// HSTS when natter is reached over HTTPS (`--public-url https://…`): a year.
pub const HSTS: &str = "max-age=31536000";

#[derive(Debug, Clone, Copy)]
pub struct SecurityHeaders {
    https: bool,
}

impl SecurityHeaders {
    pub fn new(https: bool) -> Self {
        Self { https }
    }

    /// On every answer: no MIME sniffing, no referrer, and HSTS over HTTPS.
    pub fn everywhere(self) -> DefaultHeaders {
        let headers = DefaultHeaders::new()
            .add(("X-Content-Type-Options", "nosniff"))
            .add(("Referrer-Policy", "no-referrer"));
        if self.https {
            headers.add(("Strict-Transport-Security", HSTS))
        } else {
            headers
        }
    }

    /// On the API's answers.
    pub fn api() -> DefaultHeaders {
        DefaultHeaders::new().add(("Content-Security-Policy", API_CSP))
    }

    /// On the web client's files (`X-Frame-Options` for browsers that predate
    /// `frame-ancestors`).
    pub fn web_client() -> DefaultHeaders {
        DefaultHeaders::new()
            .add(("Content-Security-Policy", WEB_CLIENT_CSP))
            .add(("X-Frame-Options", "DENY"))
    }
}
