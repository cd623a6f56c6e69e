//! `natter`: the JSON REST API under `/api`, the live event stream and the built web
//! client at `/`, in one binary backed by SQLite (one node, the default) or PostgreSQL
//! (one or several nodes).

pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod files;
pub mod headers;
pub mod live;
pub mod metrics;
pub mod push;
pub mod rate;
pub mod routes;
pub mod schema;
pub mod shed;
pub mod startup;
pub mod telemetry;
pub mod web_client;

pub use config::Config;
pub use startup::Application;
