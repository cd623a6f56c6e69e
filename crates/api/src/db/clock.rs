//! Time, one way everywhere: timestamps are stored as naive UTC at microsecond
//! precision (the portable `TIMESTAMP` column), made either by this process
//! ([`now`]) or by the database's own clock in SQL ([`DatabaseNow`]), and shown to
//! clients as UTC ([`utc`]).

use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeZone, Utc};
use diesel::prelude::*;

/// The current time at the database's precision (microseconds), so that what an
/// event says and what a later read returns are the same instant.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// A span of the standard library's as chrono's, for timestamp arithmetic (the
/// spans used are minutes and hours, far within range; saturating beyond it).
pub fn span(span: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX)
}

/// A stored timestamp as the UTC instant it is.
pub fn utc(at: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&at)
}

/// The database's clock as a UTC timestamp, written as the columns' defaults are.
pub trait DatabaseNow {
    const NOW: &'static str;
}

impl DatabaseNow for PgConnection {
    const NOW: &'static str = "(now() AT TIME ZONE 'UTC')";
}

impl DatabaseNow for SqliteConnection {
    const NOW: &'static str = "(strftime('%Y-%m-%d %H:%M:%f', 'now'))";
}

/// `now` in the SQL of `conn`'s backend (for use inside [`crate::db::per_backend!`]).
pub fn database_now<C: DatabaseNow>(
    _conn: &mut C,
) -> diesel::expression::SqlLiteral<diesel::sql_types::Timestamp> {
    diesel::dsl::sql(C::NOW)
}
