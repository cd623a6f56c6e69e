//! Hand-written PostgreSQL statements that are prepared once per connection.
//!
//! Diesel prepares and caches the statements of its query DSL, but never those of
//! `sql_query`; for the few hot statements the DSL cannot say (data-modifying CTEs),
//! parsing and planning each time was most of their cost (the stamper's pass: 0.9 of
//! 1.1 ms). [`PreparedSql`] is a fixed statement with `?` where each parameter goes,
//! which diesel's statement cache keys by its SQL and parameter types.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Nullable, Text, Untyped};

/// One parameter of a [`PreparedSql`] statement.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    BigInt(i64),
    NullableBigInt(Option<i64>),
    Text(&'a str),
    NullableText(Option<&'a str>),
    /// Arrays, for statements that `unnest` a batch.
    BigInts(&'a [i64]),
    NullableBigInts(&'a [Option<i64>]),
    Texts(&'a [&'a str]),
    NullableTexts(&'a [Option<&'a str>]),
}

/// A fixed statement and its parameters, in order of their `?`s.
pub struct PreparedSql<'a, const N: usize> {
    pub sql: &'static str,
    pub params: [Param<'a>; N],
}

impl<const N: usize> QueryFragment<Pg> for PreparedSql<'_, N> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let mut parts = self.sql.split('?');
        out.push_sql(parts.next().unwrap_or_default());
        for (param, part) in self.params.iter().zip(parts) {
            match param {
                Param::BigInt(value) => out.push_bind_param::<BigInt, i64>(value)?,
                Param::NullableBigInt(value) => {
                    out.push_bind_param::<Nullable<BigInt>, Option<i64>>(value)?;
                }
                Param::Text(value) => out.push_bind_param::<Text, &str>(value)?,
                Param::NullableText(value) => {
                    out.push_bind_param::<Nullable<Text>, Option<&str>>(value)?;
                }
                Param::BigInts(values) => out.push_bind_param::<Array<BigInt>, [i64]>(values)?,
                Param::NullableBigInts(values) => {
                    out.push_bind_param::<Array<Nullable<BigInt>>, [Option<i64>]>(values)?;
                }
                Param::Texts(values) => out.push_bind_param::<Array<Text>, [&str]>(values)?,
                Param::NullableTexts(values) => {
                    out.push_bind_param::<Array<Nullable<Text>>, [Option<&str>]>(values)?;
                }
            }
            out.push_sql(part);
        }
        Ok(())
    }
}

impl<const N: usize> QueryId for PreparedSql<'_, N> {
    // No static id: the statement cache keys it by its SQL.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<const N: usize> Query for PreparedSql<'_, N> {
    type SqlType = Untyped;
}

impl<const N: usize, C> RunQueryDsl<C> for PreparedSql<'_, N> {}
