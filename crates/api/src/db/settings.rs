//! Settings every node shares, kept in the database.

use diesel::prelude::*;

use crate::db::{DbConnection, per_backend};
use crate::schema::natter_settings;

/// The value stored under `name`, storing `generate()` first if there is none. Safe
/// when several nodes start at once: the first insert wins and all read it.
pub fn get_or_init(
    conn: &mut DbConnection,
    name: &str,
    generate: impl FnOnce() -> String,
) -> QueryResult<String> {
    let value = generate();
    per_backend!(conn, c => diesel::insert_into(natter_settings::table)
        .values((
            natter_settings::name.eq(name),
            natter_settings::value.eq(&value),
        ))
        .on_conflict_do_nothing()
        .execute(c))?;
    natter_settings::table
        .find(name)
        .select(natter_settings::value)
        .first(conn)
}
