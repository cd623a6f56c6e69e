//! Rate limits on every writing route and on user search: one GCRA bucket per person
//! (per address when signed out) and kind of action, kept in this node's memory
//! (several nodes each count their own). A refusal is 429 `rate_limited` with
//! `Retry-After`. `--rate-limits off` lifts them all.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use natter_domain::UserId;

use crate::config::{Rate, RateFlags, Switch};
use crate::error::ApiError;

/// Whose bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Caller {
    Person(i64),
    Address(IpAddr),
}

impl From<UserId> for Caller {
    fn from(user: UserId) -> Self {
        Self::Person(user.get())
    }
}

impl From<IpAddr> for Caller {
    fn from(address: IpAddr) -> Self {
        Self::Address(address)
    }
}

/// The kinds of action limited, each with its own flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Register,
    SignIn,
    CreateConversation,
    Change,
    Send,
    React,
    MarkSeen,
    Search,
    Upload,
}

impl Action {
    const ALL: [Self; 9] = [
        Self::Register,
        Self::SignIn,
        Self::CreateConversation,
        Self::Change,
        Self::Send,
        Self::React,
        Self::MarkSeen,
        Self::Search,
        Self::Upload,
    ];

    fn rate(self, flags: &RateFlags) -> Rate {
        match self {
            Self::Register => flags.rate_register,
            Self::SignIn => flags.rate_sign_in,
            Self::CreateConversation => flags.rate_conversations,
            Self::Change => flags.rate_changes,
            Self::Send => flags.rate_sends,
            Self::React => flags.rate_reactions,
            Self::MarkSeen => flags.rate_seen,
            Self::Search => flags.rate_search,
            Self::Upload => flags.rate_uploads,
        }
    }

    /// Its label in metrics.
    fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignIn => "sign_in",
            Self::CreateConversation => "create_conversation",
            Self::Change => "change",
            Self::Send => "send",
            Self::React => "react",
            Self::MarkSeen => "mark_seen",
            Self::Search => "search",
            Self::Upload => "upload",
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Self::Register => "too many sign-ups from this address; try again later",
            Self::SignIn => "too many sign-ins from this address; try again shortly",
            Self::CreateConversation => "too many new conversations; try again later",
            Self::Change => "too many changes; try again shortly",
            Self::Send => "too many messages at once; try again shortly",
            Self::React => "too many reactions at once; try again shortly",
            Self::MarkSeen => "too many read receipts at once; try again shortly",
            Self::Search => "too many searches at once; try again shortly",
            Self::Upload => "too many uploads at once; try again shortly",
        }
    }
}

/// This node's buckets, or none when `--rate-limits off`.
pub struct RateLimits {
    limiters: Option<Vec<DefaultKeyedRateLimiter<Caller>>>,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn new(flags: &RateFlags) -> Self {
        let limiters = (flags.rate_limits == Switch::On).then(|| {
            Action::ALL
                .iter()
                .map(|action| {
                    let rate = action.rate(flags);
                    let quota = Quota::with_period(rate.per / rate.count.get())
                        .unwrap_or_else(|| Quota::per_second(rate.count))
                        .allow_burst(rate.count);
                    DefaultKeyedRateLimiter::keyed(quota)
                })
                .collect()
        });
        Self {
            limiters,
            clock: DefaultClock::default(),
        }
    }

    /// Takes one from `caller`'s bucket for `action`, or answers 429 with how long to
    /// wait.
    pub fn check(&self, action: Action, caller: impl Into<Caller>) -> Result<(), ApiError> {
        let Some(limiter) = self.limiter(action) else {
            return Ok(());
        };
        limiter.check_key(&caller.into()).map_err(|not_until| {
            metrics::counter!(crate::metrics::RATE_LIMITED, "action" => action.name()).increment(1);
            ApiError::RateLimited {
                retry_after: not_until.wait_time_from(self.clock.now()),
                message: action.refusal(),
            }
        })
    }

    fn limiter(&self, action: Action) -> Option<&DefaultKeyedRateLimiter<Caller>> {
        let index = Action::ALL.iter().position(|a| *a == action)?;
        self.limiters.as_ref()?.get(index)
    }

    /// Forgets buckets that are full again (their callers have been quiet), so memory
    /// follows the callers of the last period, not all callers ever.
    pub fn forget_idle(&self) {
        for limiter in self.limiters.iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How often [`Self::forget_idle`] should run.
    pub const FORGET_EVERY: Duration = Duration::from_mins(1);
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::Config;

    fn limits(args: &[&str]) -> RateLimits {
        let config = Config::try_parse_from(std::iter::once("natter").chain(args.iter().copied()))
            .expect("flags parse");
        RateLimits::new(&config.rates)
    }

    #[test]
    fn a_burst_then_refusals_with_a_wait_per_caller() {
        let limits = limits(&["--rate-sends", "3/m"]);
        let alice = Caller::Person(1);
        for _ in 0..3 {
            assert!(limits.check(Action::Send, alice).is_ok());
        }
        match limits.check(Action::Send, alice) {
            Err(ApiError::RateLimited { retry_after, .. }) => {
                assert!(retry_after > Duration::from_secs(15), "{retry_after:?}");
                assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Someone else, and another kind of action, have their own buckets.
        assert!(limits.check(Action::Send, Caller::Person(2)).is_ok());
        assert!(limits.check(Action::React, alice).is_ok());
    }

    #[test]
    fn off_lifts_every_limit() {
        let limits = limits(&["--rate-limits", "off", "--rate-sends", "1/h"]);
        for _ in 0..100 {
            assert!(limits.check(Action::Send, Caller::Person(1)).is_ok());
        }
    }
}
