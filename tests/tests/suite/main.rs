//! Natter's black-box suite: one test binary (each file below was a binary of its own,
//! and linking 19 of them was most of the suite's time). Every test starts the real
//! `natter` on its own database, made from a template migrated once per run.

mod admin;
mod api;
mod authorization;
mod awareness;
mod bad_input;
mod bench;
mod browser;
mod changes;
mod copy;
mod events;
mod export;
mod files;
mod hostile;
mod metrics;
mod migrations;
mod openapi;
mod outage;
mod pagination;
mod presence;
mod push;
mod readme;
mod resilience;
mod schema;
mod search;
mod sends;
mod server;
mod sqlite;
mod state;
mod tokens;
