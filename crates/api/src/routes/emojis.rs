use actix_web::{get, web};
use natter_domain::ErrorBody;
use natter_domain::api::Emoji;

use crate::auth::CurrentUser;
use crate::db::{self, Db, emojis};
use crate::error::ApiError;

/// The emojis people can react with.
#[utoipa::path(
    tag = "reactions",
    responses(
        (status = 200, description = "The emoji set", body = Vec<Emoji>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = []))
)]
#[get("/emojis")]
pub async fn list_emojis(
    _user: CurrentUser,
    db: web::Data<Db>,
) -> Result<web::Json<Vec<Emoji>>, ApiError> {
    let rows = db::read(&db, |conn| Ok(emojis::all(conn)?)).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|row| Emoji {
                key: row.key,
                unicode: row.unicode,
            })
            .collect(),
    ))
}
