//! Presence: `online` while a person has a stream open on some node and was active
//! (made a request) in the last 10 minutes, `away` while a stream is open but they
//! are idle, `offline` otherwise, or always when they do not share it.
//!
//! Each node writes, every second, which people have a stream open on it and when
//! they were last active (its listener thread, [`NodePresence::flush`]); the leading
//! node compares what those rows make of each person with what was last announced
//! and announces the changes ([`announce`]), at most one per person per 10 s, so a
//! flapping connection costs one event, not dozens. Every node hands each change to
//! its streams of people who share a conversation with that person ([`deliver`]).
//! Nothing of it is in the event log.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use natter_domain::api::Presence;

use super::Hub;
use crate::db::{DbConnection, clock, presence};

/// Idle this long with a stream open: away.
pub const IDLE_AFTER: Duration = Duration::from_mins(10);
/// At most one change announced per person in this long.
pub const MERGE: Duration = Duration::from_secs(10);
/// How often a node writes its rows, and the leader announces.
pub const EVERY: Duration = Duration::from_secs(1);
/// A node silent this long counts as gone: its streams are not counted.
pub const NODE_SILENT: Duration = Duration::from_secs(15);
/// A node silent this long is removed with its rows.
const NODE_GONE: Duration = Duration::from_mins(1);
/// A person's activity is written again only when it moved on by this much: a
/// request per second costs no write per second.
const ACTIVITY_GRAIN: Duration = Duration::from_mins(1);
/// Presence changes per NOTIFY (PostgreSQL takes payloads under 8000 bytes).
const PER_NOTICE: usize = 200;

/// Streams on nodes heard from since then count.
pub fn alive_since() -> NaiveDateTime {
    ago(clock::now(), NODE_SILENT)
}

fn ago(now: NaiveDateTime, span: Duration) -> NaiveDateTime {
    now - clock::span(span)
}

/// How often a node says it is alive when nothing else changed: well within
/// [`NODE_SILENT`].
const HEARTBEAT: Duration = Duration::from_secs(5);

/// What this node last wrote of its streams' people.
#[derive(Debug, Default)]
pub struct NodePresence {
    written: HashMap<i64, NaiveDateTime>,
    /// When this node last said it is alive (`None`: not since it (re)connected).
    alive_at: Option<NaiveDateTime>,
}

impl NodePresence {
    /// Starts over on a new connection: this node's old rows go, and the next flush
    /// writes all it holds.
    pub fn restart(conn: &mut DbConnection, hub: &Hub) -> diesel::QueryResult<Self> {
        presence::forget_node(conn, hub.node())?;
        Ok(Self::default())
    }

    /// Writes who has a stream open on this node now, and this node's heartbeat.
    pub fn flush(&mut self, conn: &mut DbConnection, hub: &Hub) -> diesel::QueryResult<()> {
        let now = clock::now();
        let idle_since = ago(now, IDLE_AFTER);
        let open = hub.people_with_streams();
        let activity = hub.activity_since(idle_since);
        let grain = clock::span(ACTIVITY_GRAIN);
        let mut active = Vec::new();
        for &person in &open {
            let at = activity.get(&person).copied().unwrap_or(idle_since);
            let due = self
                .written
                .get(&person)
                .is_none_or(|&written| at > written + grain);
            if due {
                active.push((person, at));
            }
        }
        let gone: Vec<i64> = self
            .written
            .keys()
            .copied()
            .filter(|person| !open.contains(person))
            .collect();
        let heartbeat_due = self
            .alive_at
            .is_none_or(|at| now - at >= clock::span(HEARTBEAT));
        if active.is_empty() && gone.is_empty() && !heartbeat_due {
            // Nothing to say: no write (on SQLite every write is a commit to disk).
            return Ok(());
        }
        presence::write_node(conn, hub.node(), now, &active, &gone)?;
        self.alive_at = Some(now);
        for person in gone {
            self.written.remove(&person);
        }
        self.written.extend(active);
        Ok(())
    }
}

/// As the leading node: the people whose presence changed since it was last
/// announced (and not in the last [`MERGE`]), recorded as announced now.
pub fn announce(conn: &mut DbConnection) -> diesel::QueryResult<Vec<(i64, Presence)>> {
    let now = clock::now();
    presence::forget_silent_nodes(conn, ago(now, NODE_GONE))?;
    let idle_since = ago(now, IDLE_AFTER);
    let mut wanted: HashMap<i64, Presence> = presence::open_streams(conn, ago(now, NODE_SILENT))?
        .into_iter()
        .map(|(person, active_at)| {
            let state = if active_at.is_some_and(|at| at > idle_since) {
                Presence::Online
            } else {
                Presence::Away
            };
            (person, state)
        })
        .collect();
    let merge_since = ago(now, MERGE);
    let mut changes = Vec::new();
    for (person, said, at) in presence::announced(conn, merge_since)? {
        let said = Presence::parse(&said).unwrap_or_default();
        let now_is = wanted.remove(&person).unwrap_or_default();
        if now_is != said && at <= merge_since {
            changes.push((person, now_is));
        }
    }
    // The rest were offline (long enough) when last announced, or never announced.
    changes.extend(wanted);
    changes.sort_unstable_by_key(|&(person, _)| person);
    if !changes.is_empty() {
        presence::record_announced(conn, &changes, now)?;
    }
    Ok(changes)
}

/// `changes` as NOTIFY payloads, each under PostgreSQL's limit.
pub fn notices(changes: &[(i64, Presence)]) -> Vec<String> {
    changes
        .chunks(PER_NOTICE)
        .map(|chunk| {
            let pairs: Vec<(i64, &str)> = chunk.iter().map(|&(p, s)| (p, s.as_str())).collect();
            serde_json::to_string(&pairs).unwrap_or_default()
        })
        .collect()
}

/// The changes one notice carries.
pub fn from_notice(payload: &str) -> Vec<(i64, Presence)> {
    serde_json::from_str::<Vec<(i64, String)>>(payload)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(person, state)| Some((person, Presence::parse(&state)?)))
        .collect()
}

/// Hands `changes` to this node's streams of the people who share a conversation
/// with each person changed.
pub fn deliver(
    conn: &mut DbConnection,
    hub: &Hub,
    changes: &[(i64, Presence)],
) -> diesel::QueryResult<()> {
    if changes.is_empty() || hub.people_with_streams().is_empty() {
        return Ok(());
    }
    let people: Vec<i64> = changes.iter().map(|&(person, _)| person).collect();
    let memberships = presence::memberships(conn, &people)?;
    hub.dispatch_presence(changes, &memberships);
    Ok(())
}
