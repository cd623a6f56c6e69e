//! `GET /api/search`: messages of my conversations that hold a query.

use actix_web::{get, web};
use natter_domain::ErrorBody;
use natter_domain::api::{SearchPage, SearchQuery};

use crate::auth::CurrentUser;
use crate::config::Limits;
use crate::db::messages::search::{self, Scope};
use crate::db::{self, Db};
use crate::error::ApiError;
use crate::rate::{Action, RateLimits};

/// Search the messages of the conversations I am a member of now: the newest matches
/// first, a page at a time (`before` = the previous page's `next_before`), those
/// holding the whole query as typed first within their page. Deleted messages never
/// match; an edit is found by its new text at once. A query shorter than three
/// characters looks through a bounded number of recent messages per page.
#[utoipa::path(
    tag = "messages",
    params(SearchQuery),
    responses(
        (status = 200, description = "A page of results", body = SearchPage),
        (status = 400, description = "Bad query string", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "`conversation_id` names no conversation of mine", body = ErrorBody),
        (status = 422, description = "`q` empty or over 200 characters, a bad `limit` or a negative id", body = ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = ErrorBody),
        (status = 503, description = "The search ran past `--search-timeout` (field `q`): more or longer words find faster", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/search")]
pub async fn search_messages(
    user: CurrentUser,
    db: web::Data<Db>,
    rates: web::Data<RateLimits>,
    limits: web::Data<Limits>,
    query: web::Query<SearchQuery>,
) -> Result<web::Json<SearchPage>, ApiError> {
    rates.check(Action::Search, user.id)?;
    let (text, limit) = query.validate()?;
    let scope = Scope {
        conversation: query.conversation_id,
        sender: query.sender_id,
        before: query.before,
    };
    let (caller, timeout) = (user.id, limits.search_timeout);
    db::read(&db, move |conn| {
        search::search(conn, caller, &text, scope, limit, timeout)
    })
    .await
    .map(web::Json)
    .map_err(ApiError::from)
}
