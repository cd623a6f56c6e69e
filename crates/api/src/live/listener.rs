//! The node's one listener thread: it stamps (when this node leads), reads and
//! dispatches events, hears revocations, and prunes the log. One method per duty;
//! [`Listener::turn`] runs each in order, every [`POLL`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::Hub;
use super::presence::{self, NodePresence};
use crate::db::events::{self, WROTE_EVENTS};
use crate::db::{Db, DbConnection, channels, throttle, users};

/// How often the listener looks for notifications. diesel reads them without a
/// blocking wait (PQconsumeInput, no round trip), so this is the wake-up latency.
const POLL: Duration = Duration::from_millis(2);
/// Stamping and reading also run this often, in case a wake-up was missed (a node
/// died between commit and stamping, or an older transaction held events back).
const TICK: Duration = Duration::from_millis(200);
/// Events read from the log at a time.
const READ_BATCH: i64 = 1000;
/// While events wait for an older transaction, try again this soon.
const RETRY: Duration = Duration::from_millis(10);
/// How often open streams' sessions are checked against the database, for sessions
/// ended where no NOTIFY reaches: by `natter admin disable` on SQLite, at once; and,
/// as a backstop, a NOTIFY lost with a connection on PostgreSQL.
const SWEEP_SQLITE: Duration = Duration::from_secs(1);
const SWEEP_POSTGRES: Duration = Duration::from_secs(30);
/// After losing its connection, the listener tries again this soon.
const RECONNECT: Duration = Duration::from_millis(500);

/// Starts this node's listener thread, which reconnects whenever it loses the
/// database.
pub fn start(db: Db, retention: Duration, hub: Arc<Hub>) {
    let spawned = std::thread::Builder::new()
        .name("natter-events".into())
        .spawn(move || {
            loop {
                let run = Listener::connect(&db, retention, &hub).and_then(Listener::run);
                if let Err(error) = run {
                    tracing::warn!(%error, "event listener lost its database connection; reconnecting");
                }
                std::thread::sleep(RECONNECT);
            }
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start the event listener thread");
    }
}

/// One connection's worth of listening: built on connecting, dropped when the
/// connection fails.
struct Listener<'a> {
    db: &'a Db,
    hub: &'a Hub,
    conn: DbConnection,
    /// This connection's backend on PostgreSQL: our own NOTIFY comes back to us, and
    /// what it announces was dispatched already.
    own_pid: Option<i32>,
    /// Whether this node is the one that stamps (see `events::lead`); the others try
    /// again every tick, so a node that dies is replaced within one.
    leader: bool,
    next_leader_attempt: Instant,
    next_stamp: Instant,
    /// Where the next stamping pass starts looking (see `events::stamp`).
    complete_below: i64,
    next_read: Instant,
    retention: Duration,
    /// Pruning is idempotent, so every node may do it; a tenth of the retention apart.
    prune_every: Duration,
    next_prune: Instant,
    sweep_every: Duration,
    next_sweep: Instant,
    presence: NodePresence,
    next_presence: Instant,
}

impl<'a> Listener<'a> {
    fn connect(db: &'a Db, retention: Duration, hub: &'a Hub) -> anyhow::Result<Self> {
        #[derive(QueryableByName)]
        struct Backend {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            pid: i32,
        }
        let mut conn = db.establish()?;
        let mut own_pid = None;
        if let DbConnection::Pg(pg) = &mut conn {
            for channel in channels::ALL {
                diesel::sql_query(format!("LISTEN {channel}")).execute(pg)?;
            }
            let backend =
                diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result::<Backend>(pg)?;
            own_pid = Some(backend.pid);
        }
        hub.start_at(events::head(&mut conn)?);
        // Revocations announced while this node was not listening were not heard:
        // end the streams of every session that ended meanwhile.
        end_ended_sessions(&mut conn, hub)?;
        hub.set_leading(false);
        let presence = NodePresence::restart(&mut conn, hub)?;
        let now = Instant::now();
        let sweep_every = match conn {
            DbConnection::Pg(_) => SWEEP_POSTGRES,
            DbConnection::Sqlite(_) => SWEEP_SQLITE,
        };
        Ok(Self {
            db,
            hub,
            conn,
            own_pid,
            leader: false,
            next_leader_attempt: now,
            next_stamp: now,
            complete_below: 0,
            next_read: now,
            retention,
            prune_every: (retention / 10).clamp(Duration::from_secs(1), Duration::from_mins(10)),
            next_prune: now,
            sweep_every,
            next_sweep: now + sweep_every,
            presence,
            next_presence: now,
        })
    }

    /// Turns until the connection fails.
    fn run(mut self) -> anyhow::Result<()> {
        loop {
            self.turn()?;
            std::thread::sleep(POLL);
        }
    }

    fn turn(&mut self) -> anyhow::Result<()> {
        let stamp_requested = self.hear()?;
        let now = Instant::now();
        let wrote = WROTE_EVENTS.swap(false, Ordering::AcqRel);
        self.try_to_lead(now)?;
        if self.leader {
            self.stamp(now, wrote || stamp_requested)?;
        } else if wrote {
            events::request_stamp(&mut self.conn)?;
        }
        if wrote && matches!(self.conn, DbConnection::Sqlite(_)) {
            // SQLite's events are stamped as written: read them now.
            self.next_read = now;
        }
        self.read(now)?;
        self.sweep(now)?;
        self.presence(now)?;
        self.prune(now)
    }

    /// Writes who has a stream open here; as the leader, announces what changed.
    fn presence(&mut self, now: Instant) -> anyhow::Result<()> {
        if now < self.next_presence {
            return Ok(());
        }
        self.next_presence = now + presence::EVERY;
        let (hub, state) = (self.hub, &mut self.presence);
        self.db
            .write_blocking(&mut self.conn, |conn| state.flush(conn, hub))?;
        if self.leader {
            let changes = self.db.write_blocking(&mut self.conn, presence::announce)?;
            for notice in presence::notices(&changes) {
                channels::notify(&mut self.conn, channels::PRESENCE, &notice)?;
            }
            presence::deliver(&mut self.conn, self.hub, &changes)?;
        }
        Ok(())
    }

    /// Ends the streams of sessions that ended without a word to this node.
    fn sweep(&mut self, now: Instant) -> anyhow::Result<()> {
        if now >= self.next_sweep {
            self.next_sweep = now + self.sweep_every;
            end_ended_sessions(&mut self.conn, self.hub)?;
        }
        Ok(())
    }

    /// Takes the notifications that arrived (PostgreSQL): schedules a read for new
    /// events, ends revoked sessions' streams, and answers whether another node asked
    /// for a stamping pass.
    fn hear(&mut self) -> anyhow::Result<bool> {
        let DbConnection::Pg(pg) = &mut self.conn else {
            return Ok(false);
        };
        let mut stamp_requested = false;
        let mut presence_changes = Vec::new();
        for notification in pg.notifications_iter() {
            let notification = notification?;
            match notification.channel.as_str() {
                channels::EVENTS if Some(notification.process_id) != self.own_pid => {
                    self.next_read = Instant::now();
                }
                channels::STAMP => stamp_requested = true,
                channels::REVOKED => {
                    if let Ok(session) = notification.payload.parse() {
                        self.hub.revoke_session(session);
                    }
                }
                channels::TYPING if Some(notification.process_id) != self.own_pid => {
                    if let Some((event, from)) = super::ephemeral(&notification.payload) {
                        self.hub.dispatch_ephemeral(event, from);
                    }
                }
                channels::PRESENCE if Some(notification.process_id) != self.own_pid => {
                    presence_changes.extend(presence::from_notice(&notification.payload));
                }
                _ => {}
            }
        }
        presence::deliver(&mut self.conn, self.hub, &presence_changes)?;
        Ok(stamp_requested)
    }

    fn try_to_lead(&mut self, now: Instant) -> anyhow::Result<()> {
        if !self.leader && now >= self.next_leader_attempt {
            self.leader = events::lead(&mut self.conn)?;
            self.hub.set_leading(self.leader);
            self.next_leader_attempt = now + TICK;
        }
        Ok(())
    }

    /// As the stamping node: a pass when one is due (or `asked`), whose events go
    /// straight to this node's streams when they follow what it delivered.
    fn stamp(&mut self, now: Instant, asked: bool) -> anyhow::Result<()> {
        if asked {
            self.next_stamp = now;
        }
        if now < self.next_stamp {
            return Ok(());
        }
        let pass = events::stamp(&mut self.conn, self.complete_below, self.hub.delivered())?;
        self.complete_below = pass.complete_below;
        let follows = pass
            .stamped
            .first()
            .is_some_and(|first| first.position == self.hub.delivered() + 1);
        if follows {
            self.hub.dispatch(pass.stamped);
        } else if !pass.stamped.is_empty() {
            // Another stamper's events came first: read from the log.
            self.next_read = now;
        }
        self.next_stamp = now + if pass.more { RETRY } else { TICK };
        Ok(())
    }

    /// Reads what is new in the log, when a read is due, and dispatches it.
    fn read(&mut self, now: Instant) -> anyhow::Result<()> {
        if now < self.next_read {
            return Ok(());
        }
        loop {
            let batch = events::after(&mut self.conn, self.hub.delivered(), READ_BATCH)?;
            // A short batch is the end of the log: no query to learn it again.
            let more = batch.len() == usize::try_from(READ_BATCH).unwrap_or(usize::MAX);
            self.hub.dispatch(batch);
            if !more {
                break;
            }
        }
        self.next_read = now + TICK;
        Ok(())
    }

    /// Deletes events past retention, when a pruning is due.
    fn prune(&mut self, now: Instant) -> anyhow::Result<()> {
        if now < self.next_prune {
            return Ok(());
        }
        let retention = self.retention;
        let pruned = self
            .db
            .write_blocking(&mut self.conn, |conn| events::prune(conn, retention))?;
        if pruned > 0 {
            tracing::info!(pruned, "pruned events past retention");
        }
        let (sessions, throttled) = self.db.write_blocking(&mut self.conn, |conn| {
            Ok::<_, diesel::result::Error>((users::prune_sessions(conn)?, throttle::prune(conn)?))
        })?;
        if sessions + throttled > 0 {
            tracing::info!(
                sessions,
                throttled,
                "pruned ended sessions and sign-in throttles"
            );
        }
        self.next_prune = now + self.prune_every;
        Ok(())
    }
}

/// Ends the streams of every open session that has ended: revoked, expired, or its
/// person disabled.
fn end_ended_sessions(conn: &mut DbConnection, hub: &Hub) -> anyhow::Result<()> {
    let open = hub.session_ids();
    if !open.is_empty() {
        for session in users::ended_sessions(conn, &open)? {
            hub.revoke_session(session);
        }
    }
    Ok(())
}
