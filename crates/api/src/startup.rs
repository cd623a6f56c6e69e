//! Start-up as a function: `main` and the tests use the same path.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

use crate::auth::{TokenKeys, password};
use crate::client::ClientPath;
use crate::config::{Config, DatabaseUrl};
use crate::files::FileStore;
use crate::files::purge::Purge;
use crate::headers::SecurityHeaders;
use crate::live::typing::TypingGate;
use crate::live::{self, Hub, StreamCaps};
use crate::push::Outbox;
use crate::push::crypto::Vapid;
use crate::rate::RateLimits;
use crate::shed::{self, InFlight};
use crate::{db, routes, web_client};

pub struct Application {
    address: SocketAddr,
    server: Server,
}

impl Application {
    /// Opens the database (PostgreSQL, or the SQLite file), applies migrations, binds
    /// the listener and starts serving. Fails with the cause when the database is
    /// unreachable.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let database = config.database();
        if let DatabaseUrl::Sqlite(path) = &database {
            tracing::info!(
                path = %path.display(),
                "storing everything in SQLite (one node; set DATABASE_URL=postgres://… to use PostgreSQL)"
            );
        }
        let url = database.clone();
        let (pool_size, timeout) = (config.db_pool_size, config.db_timeout);
        let pool = actix_web::rt::task::spawn_blocking(move || {
            db::pool::connect_and_migrate(&url, pool_size, timeout)
        })
        .await
        .context("database start-up task failed")??;

        let (secret, vapid) = prepare(&pool, config).await?;
        let (store, purge) = open_files(config, &pool).await?;
        let keys = web::Data::new(TokenKeys::new(secret.as_bytes()));
        let document = routes::openapi();
        let allowed = web::Data::new(routes::AllowedMethods::new(&document));
        let openapi = web::Data::new(routes::OpenApiJson(
            document
                .to_json()
                .context("serialising the OpenAPI document")?,
        ));

        let (hub, vapid) = start_live(&pool, config, vapid)?;
        password::set_queue_limit(config.password_queue);
        let (rates, typing) = rate_limits(config);

        let limits = web::Data::new(config.limits());
        let client_path = web::Data::new(ClientPath::new(config));
        let in_flight = web::Data::new(InFlight::new(config.max_in_flight));
        let headers = SecurityHeaders::new(client_path.public_https());

        let measured = match config.metrics_listen {
            Some(address) => {
                let handle = crate::metrics::install()?;
                let (server, bound) = crate::metrics::serve(address, handle, pool.clone())?;
                actix_web::rt::spawn(server);
                tracing::info!("serving metrics on http://{bound}/metrics");
                true
            }
            None => false,
        };

        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let address = listener.local_addr()?;
        let pool = web::Data::new(pool);
        let web_client = web_client::WebClient::new(&config.web_dir);
        let mut server = HttpServer::new(move || {
            let (app, _) = App::new()
                .wrap(middleware::Condition::new(
                    measured,
                    middleware::from_fn(crate::metrics::track),
                ))
                .wrap(headers.everywhere())
                .wrap(TracingLogger::default())
                .app_data(pool.clone())
                .app_data(keys.clone())
                .app_data(openapi.clone())
                .app_data(allowed.clone())
                .app_data(hub.clone())
                .app_data(rates.clone())
                .app_data(limits.clone())
                .app_data(client_path.clone())
                .app_data(in_flight.clone())
                .app_data(store.clone())
                .app_data(purge.clone())
                .app_data(typing.clone())
                .app_data(vapid.clone())
                .configure(routes::extractor_configs)
                .into_utoipa_app()
                .service(
                    routes::api_scope()
                        .wrap(middleware::from_fn(shed::shed))
                        .wrap(SecurityHeaders::api()),
                )
                .split_for_parts();
            // The client's files go out compressed (the wasm shrinks to about a
            // third): precompressed where the build made siblings, else on the fly.
            // Not the API, since a compressing encoder would hold back SSE frames.
            app.service(
                web::scope("")
                    .wrap(SecurityHeaders::web_client())
                    .wrap(middleware::Compress::default())
                    .configure(|config| web_client.configure(config)),
            )
        })
        .listen(listener)?;
        // Open event streams would hold a graceful shutdown for its whole timeout;
        // clients reconnect (to another node) and resume from their cursor.
        server = server.shutdown_timeout(2);
        // A client that closed its side is gone (browsers and curl never half-close a
        // request): end its stream at once and free its subscription, rather than at
        // the next keep-alive write finding the socket dead.
        server = server.h1_allow_half_closed(false);
        // Events are small writes that must leave at once: without TCP_NODELAY, Nagle
        // holds a write while an earlier one is unacknowledged, and the client's
        // delayed ACK makes that up to 40 ms.
        server = server.tcp_nodelay(true);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        let files = raise_open_file_limit();
        // Each worker may hold as many connections as there are descriptors, rather
        // than actix's default of 25,000: idle streams cost little else.
        server = server.max_connections(usize::try_from(files).unwrap_or(usize::MAX));
        let server = server.run();
        tracing::info!(%database, storage = %config.storage(), open_files = files, "listening on http://{address}");
        Ok(Self { address, server })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until a shutdown signal (SIGINT/SIGTERM) arrives.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

type SharedHub = web::Data<Arc<Hub>>;

/// This node's hub of streams with its listener thread, and its part in Web Push.
fn start_live(
    pool: &db::Db,
    config: &Config,
    vapid: Vapid,
) -> anyhow::Result<(SharedHub, web::Data<Arc<Vapid>>)> {
    let hub = Arc::new(Hub::new(StreamCaps {
        per_session: config.max_streams_per_session,
        per_user: config.max_streams_per_user,
    }));
    live::start(pool.clone(), config.event_retention, hub.clone());
    let vapid = Arc::new(vapid);
    Outbox::start(pool.clone(), hub.clone(), vapid.clone())?;
    Ok((web::Data::new(hub), web::Data::new(vapid)))
}

/// The file store, checked, and this node's purge of it.
async fn open_files(
    config: &Config,
    pool: &db::Db,
) -> anyhow::Result<(web::Data<FileStore>, web::Data<Purge>)> {
    let store = FileStore::open(&config.storage())?;
    store.check().await?;
    let purge = Purge::start(pool.clone(), store.clone(), config.keep_unattached);
    Ok((web::Data::new(store), web::Data::new(purge)))
}

/// Start-up work on the migrated database: the token signing key and the VAPID key
/// (each the configured one, or the one kept in the database), and skeletons for
/// nicknames from before they were kept.
async fn prepare(pool: &db::Db, config: &Config) -> anyhow::Result<(String, Vapid)> {
    let secret = match &config.token_secret {
        Some(secret) => secret.expose().to_owned(),
        None => kept_setting(pool, "token_signing_key", random_secret).await?,
    };
    let vapid_key = match &config.vapid_private_key {
        Some(key) => key.expose().to_owned(),
        None => kept_setting(pool, "vapid_private_key", Vapid::generate).await?,
    };
    let subject = config.vapid_subject.clone().unwrap_or_else(|| {
        config.public_url.as_ref().map_or_else(
            || "mailto:admin@localhost".to_owned(),
            |url| url.as_str().to_owned(),
        )
    });
    let vapid = Vapid::new(&vapid_key, subject).context("--vapid-private-key")?;
    let filling = pool.clone();
    actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut conn = filling.get()?;
        filling.write_blocking(&mut conn, db::push::start_cursor)?;
        let filled = filling.write_blocking(&mut conn, db::users::fill_skeletons)?;
        if filled > 0 {
            tracing::info!(
                filled,
                "noted the confusable skeletons of earlier nicknames"
            );
        }
        Ok(())
    })
    .await
    .context("nickname skeleton task failed")??;
    Ok((secret, vapid))
}

/// The setting `name` every node shares, generated by the first node to start.
async fn kept_setting(
    pool: &db::Db,
    name: &'static str,
    generate: fn() -> String,
) -> anyhow::Result<String> {
    let pool = pool.clone();
    actix_web::rt::task::spawn_blocking(move || -> anyhow::Result<String> {
        let mut conn = pool.get()?;
        Ok(pool.write_blocking(&mut conn, |conn| {
            db::settings::get_or_init(conn, name, generate)
        })?)
    })
    .await
    .with_context(|| format!("{name} task failed"))?
}

/// Forgets idle rate-limit buckets now and then, for as long as the process lives.
/// The rate limits and the typing gate, each forgetting its idle callers.
fn rate_limits(config: &Config) -> (web::Data<RateLimits>, web::Data<TypingGate>) {
    let rates = web::Data::new(RateLimits::new(&config.rates));
    let typing = web::Data::new(TypingGate::default());
    forget_idle_callers(rates.clone().into_inner(), typing.clone().into_inner());
    (rates, typing)
}

fn forget_idle_callers(rates: Arc<RateLimits>, typing: Arc<TypingGate>) {
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(RateLimits::FORGET_EVERY);
        loop {
            ticks.tick().await;
            rates.forget_idle();
            typing.forget_idle();
        }
    });
}

/// Every open event stream is a socket: raise the soft open-file limit to the hard
/// one, as most servers do. Answers the limit in force.
fn raise_open_file_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot raise the open-file limit");
        rlimit::Resource::NOFILE
            .get()
            .map_or(1_024, |(soft, _)| soft)
    })
}

/// 48 random bytes as hex: the token signing key when none is configured.
fn random_secret() -> String {
    crate::auth::random_hex(48)
}
