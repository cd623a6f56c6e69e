//! "alice is typing…": a notice that is never stored and never replayed. The node
//! that takes it hands it to its own streams at once and, on PostgreSQL, to the other
//! nodes by NOTIFY; a node that misses it loses nothing that lasts.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// One notice per person per conversation in this long; more are refused (429).
pub const EVERY: Duration = Duration::from_secs(2);
/// Conversations with more members send no typing notices.
pub const MAX_MEMBERS: usize = 50;

/// At most one notice per person per conversation every [`EVERY`], on each node.
pub struct TypingGate {
    limiter: DefaultKeyedRateLimiter<(i64, i64)>,
    clock: DefaultClock,
}

impl Default for TypingGate {
    fn default() -> Self {
        let quota = Quota::with_period(EVERY)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }
}

impl TypingGate {
    /// Takes `user`'s notice in `conversation`, or answers how long until the next.
    pub fn check(&self, user: i64, conversation: i64) -> Result<(), Duration> {
        self.limiter
            .check_key(&(user, conversation))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets the people who have stopped typing.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}
