//! Sign-in throttling in the database, so that it holds across every node. Each
//! attempt is counted *before* its password is checked, in one locked step per key,
//! so that concurrent guesses cannot all slip in under the limit; a right password
//! takes its attempt back.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use crate::db::{DbConnection, clock, per_backend};
use crate::schema::auth_sign_in_throttle as throttle;

/// Attempts a key may make within [`WINDOW`]; the next ones are refused.
pub const LIMIT: i64 = 10;
/// How long failures are remembered after a key's last attempt.
pub const WINDOW: Duration = Duration::minutes(15);
/// The first block, doubled with every further attempt up to [`MAX_BLOCK`].
const FIRST_BLOCK: Duration = Duration::minutes(1);
const MAX_BLOCK: Duration = Duration::hours(1);

/// One key's state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = throttle)]
#[diesel(treat_none_as_null = true)]
struct Counted {
    failures: i64,
    last_attempt_at: NaiveDateTime,
    blocked_until: Option<NaiveDateTime>,
}

/// How long a key is blocked once it has made `failures` attempts (over [`LIMIT`]).
fn block_for(failures: i64) -> Duration {
    let doublings = u32::try_from((failures - LIMIT - 1).clamp(0, 16)).unwrap_or(16);
    (FIRST_BLOCK * 2_i32.pow(doublings)).min(MAX_BLOCK)
}

/// A key's state after one more attempt at `now`, and how long to wait if the
/// attempt is refused.
fn count(previous: Option<Counted>, now: NaiveDateTime) -> (Counted, Option<Duration>) {
    let blocked = previous
        .and_then(|p| p.blocked_until)
        .filter(|until| *until > now);
    let remembered = previous.filter(|p| blocked.is_some() || p.last_attempt_at > now - WINDOW);
    let failures = remembered.map_or(0, |p| p.failures) + 1;
    if failures <= LIMIT && blocked.is_none() {
        let counted = Counted {
            failures,
            last_attempt_at: now,
            blocked_until: None,
        };
        return (counted, None);
    }
    let until = now + block_for(failures);
    let counted = Counted {
        failures,
        last_attempt_at: now,
        blocked_until: Some(until),
    };
    (counted, Some(until - now))
}

/// Counts one attempt against each of `keys` and answers how long to wait when any
/// of them is over its limit (the attempt is then refused, and still counted: the
/// wait grows while the guessing goes on). Call inside a write transaction; each row
/// is locked from its read to its write.
pub fn attempt(conn: &mut DbConnection, keys: &[String]) -> QueryResult<Option<Duration>> {
    conn.transaction(|conn| attempt_in_transaction(conn, keys))
}

fn attempt_in_transaction(
    conn: &mut DbConnection,
    keys: &[String],
) -> QueryResult<Option<Duration>> {
    let now = clock::now();
    let mut wait: Option<Duration> = None;
    for key in keys {
        let previous: Option<Counted> = per_backend!(conn, c => {
            diesel::insert_into(throttle::table)
                .values((
                    throttle::key.eq(key),
                    throttle::failures.eq(0),
                    throttle::last_attempt_at.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(c)?;
            select_locked(c, key)
        })?;
        let previous = previous.filter(|p| p.failures > 0);
        let (counted, refused) = count(previous, now);
        diesel::update(throttle::table.find(key))
            .set(counted)
            .execute(conn)?;
        if let Some(refused) = refused {
            wait = Some(wait.map_or(refused, |w| w.max(refused)));
        }
    }
    Ok(wait)
}

/// The row for `key`, locked until the transaction ends (SQLite's writer holds the
/// whole database already).
fn select_locked<C: LockingSelect>(conn: &mut C, key: &str) -> QueryResult<Option<Counted>> {
    conn.select_locked(key)
}

trait LockingSelect {
    fn select_locked(&mut self, key: &str) -> QueryResult<Option<Counted>>;
}

impl LockingSelect for PgConnection {
    fn select_locked(&mut self, key: &str) -> QueryResult<Option<Counted>> {
        throttle::table
            .find(key)
            .select(Counted::as_select())
            .for_update()
            .first(self)
            .optional()
    }
}

impl LockingSelect for SqliteConnection {
    fn select_locked(&mut self, key: &str) -> QueryResult<Option<Counted>> {
        throttle::table
            .find(key)
            .select(Counted::as_select())
            .first(self)
            .optional()
    }
}

/// The right password: forgets `account_key`'s failures, and takes back the attempt
/// counted against each of `other_keys` (an address that signs many people in is
/// not failing).
pub fn succeeded(
    conn: &mut DbConnection,
    account_key: &str,
    other_keys: &[String],
) -> QueryResult<()> {
    diesel::delete(throttle::table.find(account_key)).execute(conn)?;
    settle(conn, other_keys)
}

/// Takes back one attempt from each of `keys` (one that was counted but never
/// checked, or that turned out right).
pub fn settle(conn: &mut DbConnection, keys: &[String]) -> QueryResult<()> {
    diesel::update(
        throttle::table
            .filter(throttle::key.eq_any(keys))
            .filter(throttle::failures.gt(0))
            .filter(throttle::blocked_until.is_null()),
    )
    .set(throttle::failures.eq(throttle::failures - 1))
    .execute(conn)?;
    Ok(())
}

/// Deletes the rows whose window and block have both passed; answers how many.
pub fn prune(conn: &mut DbConnection) -> QueryResult<usize> {
    let now = clock::now();
    diesel::delete(
        throttle::table
            .filter(throttle::last_attempt_at.lt(now - WINDOW))
            .filter(
                throttle::blocked_until
                    .is_null()
                    .or(throttle::blocked_until.lt(now)),
            ),
    )
    .execute(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> NaiveDateTime {
        chrono::DateTime::UNIX_EPOCH.naive_utc() + Duration::minutes(minute)
    }

    #[test]
    fn ten_attempts_then_a_block_that_grows() {
        let mut state = None;
        for n in 1..=LIMIT {
            let (counted, refused) = count(state, at(0));
            assert_eq!((counted.failures, refused), (n, None));
            state = Some(counted);
        }
        let (counted, refused) = count(state, at(0));
        assert_eq!(refused, Some(Duration::minutes(1)));
        let (counted, refused) = count(Some(counted), at(0));
        assert_eq!(refused, Some(Duration::minutes(2)));
        // Still blocked after the window, since the block is longer.
        let (_, refused) = count(Some(counted), at(1));
        assert_eq!(refused, Some(Duration::minutes(4)));
        assert_eq!(block_for(1_000), MAX_BLOCK);
    }

    #[test]
    fn failures_are_forgotten_after_the_window() {
        let (mut counted, _) = count(None, at(0));
        counted.failures = LIMIT;
        let (again, refused) = count(Some(counted), at(16));
        assert_eq!((again.failures, refused), (1, None));
        let blocked = Counted {
            failures: LIMIT + 3,
            last_attempt_at: at(0),
            blocked_until: Some(at(8)),
        };
        let (after, refused) = count(Some(blocked), at(30));
        assert_eq!((after.failures, refused), (1, None));
    }
}
