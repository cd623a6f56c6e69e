//! Prometheus metrics, served at `/metrics` on `--metrics-listen` (off by default).
//!
//! Series are recorded through the `metrics` facade where the work happens; with no
//! `--metrics-listen` there is no recorder and each record is a no-op. Routes are
//! labelled by their pattern (`/api/conversations/{id}`), never by raw path or id, so
//! the series stay few whatever the traffic.

use std::net::SocketAddr;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::db::Db;

pub const HTTP_REQUESTS: &str = "natter_http_requests_total";
pub const HTTP_DURATION: &str = "natter_http_request_duration_seconds";
pub const STREAMS_OPEN: &str = "natter_event_streams_open";
pub const EVENTS_DISPATCHED: &str = "natter_events_dispatched_total";
pub const STAMPER_LAG: &str = "natter_stamper_lag_seconds";
pub const SEND_BATCH: &str = "natter_sends_per_batch";
pub const POOL_CONNECTIONS: &str = "natter_db_pool_connections";
pub const POOL_WAIT: &str = "natter_db_pool_wait_seconds";
pub const POOL_TIMEOUTS: &str = "natter_db_pool_timeouts_total";
pub const RATE_LIMITED: &str = "natter_rate_limited_total";
pub const PASSWORD_QUEUE: &str = "natter_password_queue_depth";
pub const PASSWORD_REFUSED: &str = "natter_password_queue_refused_total";

/// Seconds, from half a millisecond to ten seconds.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Sends committed together.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the process's recorder; answers the handle that renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(SECONDS)?
        .set_buckets_for_metric(Matcher::Full(SEND_BATCH.to_owned()), BATCH)?
        .install_recorder()
        .context("installing the metrics recorder")?;
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route pattern and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer (to the first byte of an event stream), by method and route pattern"
    );
    describe_gauge!(STREAMS_OPEN, "Event streams open on this node");
    describe_counter!(EVENTS_DISPATCHED, "Events handed to this node's streams");
    describe_histogram!(
        STAMPER_LAG,
        Unit::Seconds,
        "From an event's write to its stream position (PostgreSQL's stamper)"
    );
    describe_histogram!(SEND_BATCH, "Sends committed together by the send writer");
    describe_gauge!(
        POOL_CONNECTIONS,
        "Database pool connections, by state (in_use, idle)"
    );
    describe_histogram!(
        POOL_WAIT,
        Unit::Seconds,
        "Time waiting for a pooled database connection"
    );
    describe_counter!(
        POOL_TIMEOUTS,
        "Waits for a pooled connection that timed out (answered 503)"
    );
    describe_counter!(RATE_LIMITED, "Requests refused by a rate limit, by action");
    describe_gauge!(
        PASSWORD_QUEUE,
        "Password hashes and checks waiting for a hashing thread"
    );
    describe_counter!(
        PASSWORD_REFUSED,
        "Sign-ups and sign-ins refused because the password queue was full"
    );
    Ok(handle)
}

/// Middleware: counts and times each request by its route's pattern.
pub async fn track(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route = route_of(&request);
    let response = next.call(request).await?;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}

/// The route label of a request: `/api` and the documented path it is an instance of
/// (`/api/conversations/{id}`), `/api/unmatched` for any other API path, and `web`
/// for the web client's files.
fn route_of(request: &ServiceRequest) -> String {
    let Some(path) = request.path().strip_prefix("/api") else {
        return "web".to_owned();
    };
    request
        .app_data::<web::Data<crate::routes::AllowedMethods>>()
        .and_then(|allowed| {
            allowed
                .template(path)
                .map(|template| format!("/api{template}"))
        })
        .unwrap_or_else(|| "/api/unmatched".to_owned())
}

/// Serves `/metrics` on `address`; answers the server (to be awaited or spawned) and
/// the address it listens on.
pub fn serve(
    address: SocketAddr,
    handle: PrometheusHandle,
    db: Db,
) -> anyhow::Result<(Server, SocketAddr)> {
    let listener = std::net::TcpListener::bind(address)
        .with_context(|| format!("cannot listen for metrics on {address}"))?;
    let bound = listener.local_addr()?;
    let handle = web::Data::new(handle);
    let db = web::Data::new(db);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .app_data(db.clone())
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok((server, bound))
}

async fn scrape(handle: web::Data<PrometheusHandle>, db: web::Data<Db>) -> HttpResponse {
    let (connections, idle) = db.pool_state();
    let in_use = connections.saturating_sub(idle);
    metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}
