//! The route table: the map of the product. Every route registered here is also in
//! the OpenAPI document, because utoipa-actix-web collects them from this one place.

use actix_web::{HttpRequest, HttpResponse, get, web};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::error::ApiError;

mod accounts;
mod admin;
mod conversations;
mod emojis;
mod events;
mod export;
mod files;
mod health;
mod messages;
mod push;
mod search;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Natter API",
        description = "Natter's JSON REST API. Sign in with POST /api/sessions and send the token as `Authorization: Bearer <token>`; browsers get it as the `natter_session` cookie and must add an `X-Requested-With` header to requests that change something. Errors look like `{\"error\": {\"code\": \"not_found\", \"message\": \"…\", \"field\": \"…\"}}`."
    ),
    servers((url = "/api", description = "Every path below is under /api")),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// Every route under `/api`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::health)
        .service(openapi_json)
        .service(accounts::register)
        .service(accounts::login)
        .service(accounts::logout)
        .service(accounts::list_sessions)
        .service(accounts::sign_out_everywhere)
        .service(accounts::end_session)
        .service(accounts::me)
        .service(accounts::change_password)
        .service(accounts::reset_password)
        .service(accounts::delete_account)
        .service(admin::create_invite)
        .service(admin::list_invites)
        .service(admin::delete_invite)
        .service(admin::list_users)
        .service(admin::disable_user)
        .service(admin::enable_user)
        .service(accounts::search_users)
        .service(emojis::list_emojis)
        .service(conversations::list_conversations)
        .service(conversations::create_conversation)
        .service(conversations::show_conversation)
        .service(conversations::rename_conversation)
        .service(conversations::close_conversation)
        .service(conversations::add_member)
        .service(conversations::remove_member)
        .service(conversations::transfer_ownership)
        .service(export::export_conversation)
        .service(messages::message_history)
        .service(messages::send_message)
        .service(messages::edit_message)
        .service(messages::delete_message)
        .service(messages::message_edits)
        .service(messages::mark_seen)
        .service(messages::mark_unread)
        .service(messages::set_notifications)
        .service(accounts::update_settings)
        .service(messages::seen_by)
        .service(messages::add_reaction)
        .service(messages::remove_reaction)
        .service(search::search_messages)
        .service(files::upload_file)
        .service(files::download_attachment)
        .service(files::attachment_thumbnail)
        .service(events::event_stream)
        .service(events::say_typing)
        .service(events::presence)
        .service(push::push_key)
        .service(push::subscribe)
        .service(push::unsubscribe);
}

/// Anything else under `/api`: 405 with `Allow` for a path that exists with other
/// methods, 404 for any other.
pub async fn unrouted(
    request: HttpRequest,
    allowed: Option<web::Data<AllowedMethods>>,
) -> Result<HttpResponse, ApiError> {
    let path = request.path();
    let path = path.strip_prefix("/api").unwrap_or(path);
    match allowed.as_deref().and_then(|allowed| allowed.of(path)) {
        Some(methods) => Err(ApiError::MethodNotAllowed {
            allow: methods.to_owned(),
        }),
        None => Err(ApiError::NotFound),
    }
}

/// The methods each documented path answers (read from the OpenAPI document, which
/// the route table makes), for a 405 that says which.
pub struct AllowedMethods(Vec<(String, Vec<Option<String>>, String)>);

impl AllowedMethods {
    /// Each path of `document`, its `{parameters}` as wildcards, with its methods.
    pub fn new(document: &utoipa::openapi::OpenApi) -> Self {
        let paths = document
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template
                    .split('/')
                    .map(|segment| (!segment.starts_with('{')).then(|| segment.to_owned()))
                    .collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ];
                let allow: Vec<&str> = methods
                    .iter()
                    .filter(|(_, answered)| *answered)
                    .map(|(method, _)| *method)
                    .collect();
                (template.clone(), segments, allow.join(", "))
            })
            .collect();
        Self(paths)
    }

    /// The `Allow` value for `path` (under `/api`), if it is a documented path.
    fn of(&self, path: &str) -> Option<&str> {
        self.matching(path).map(|(_, allow)| allow)
    }

    /// The documented path `path` (under `/api`) is an instance of, e.g.
    /// `/conversations/{id}` for `/conversations/7`: literal segments win over
    /// parameters (`/sessions/current` is not `/sessions/{id}`).
    pub fn template(&self, path: &str) -> Option<&str> {
        self.matching(path).map(|(template, _)| template)
    }

    fn matching(&self, path: &str) -> Option<(&str, &str)> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .filter(|(_, template, _)| {
                template.len() == segments.len()
                    && template
                        .iter()
                        .zip(&segments)
                        .all(|(want, got)| want.as_deref().is_none_or(|want| want == *got))
            })
            .max_by_key(|(_, template, _)| template.iter().filter(|s| s.is_some()).count())
            .map(|(name, _, allow)| (name.as_str(), allow.as_str()))
    }
}

/// Bad query strings and path parameters answer in the API's error format.
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(crate::extract::BODY_LIMIT))
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            ApiError::BadRequest {
                message: format!("bad query string: {error}"),
                field: None,
            }
            .into()
        }))
        // A path id that is not a number names nothing the caller can see.
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()));
}

/// The `/api` scope with every route, and a JSON 404 or 405 for anything else in it.
pub fn api_scope() -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope(web::scope("/api").default_service(web::to(unrouted)))
        .configure(configure)
}

/// The OpenAPI document of [`api_scope`], built once at start-up.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(api_scope())
        .split_for_parts();
    api
}

/// The OpenAPI 3 document of this API.
#[utoipa::path(
    tag = "server",
    responses((status = 200, description = "This document", content_type = "application/json"))
)]
#[get("/openapi.json")]
pub async fn openapi_json(document: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(document.0.clone())
}

/// The serialised OpenAPI document, shared by the workers.
pub struct OpenApiJson(pub String);
