use diesel::prelude::*;

use crate::db::DbConnection;
use diesel::sql_types::Integer;

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = Integer)]
    one: i32,
}

/// A round trip to the database.
pub fn ping(conn: &mut DbConnection) -> QueryResult<bool> {
    let row: One = diesel::sql_query("SELECT 1 AS one").get_result(conn)?;
    Ok(row.one == 1)
}
