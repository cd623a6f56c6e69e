//! The PostgreSQL NOTIFY channels nodes speak on. Each is only a wake-up: the tables
//! are the truth, and a node that misses one finds the same at its next tick.

/// The stamper gave events their stream positions: read them (no payload).
pub const EVENTS: &str = "natter_events";
/// A node wrote events: the stamping node should pass now (no payload).
pub const STAMP: &str = "natter_stamp";
/// A session was revoked: end its streams (payload: the session id).
pub const REVOKED: &str = "natter_revoked";

/// Every channel a node listens on.
pub const ALL: [&str; 3] = [EVENTS, STAMP, REVOKED];
