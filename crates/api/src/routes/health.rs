use actix_web::{HttpResponse, get, web};
use natter_domain::api::{ComponentStatus, Health};

use crate::db::{self, Db};

/// Liveness with a database round trip: 200 when the database (PostgreSQL or SQLite)
/// answers, 503 otherwise.
#[utoipa::path(
    tag = "server",
    responses(
        (status = 200, description = "Everything works", body = Health),
        (status = 503, description = "The database does not answer", body = Health),
    )
)]
#[get("/health")]
pub async fn health(db: web::Data<Db>) -> HttpResponse {
    let database = match db::read(&db, |conn| Ok(db::health::ping(conn)?)).await {
        Ok(true) => ComponentStatus::Ok,
        Ok(false) => ComponentStatus::Unavailable,
        Err(error) => {
            tracing::warn!(%error, "health check: database unavailable");
            ComponentStatus::Unavailable
        }
    };
    let body = Health {
        status: database,
        database,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    match database {
        ComponentStatus::Ok => HttpResponse::Ok().json(body),
        ComponentStatus::Unavailable => HttpResponse::ServiceUnavailable().json(body),
    }
}
