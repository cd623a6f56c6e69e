//! Presence in the database: each node's rows for the people with a stream open on
//! it (`chat_presence_streams`, with when they were last active there), the nodes'
//! heartbeats (`natter_nodes`), and what was last announced of each person
//! (`chat_presence`). See `crate::live::presence` for who writes what when.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use natter_domain::UserId;
use natter_domain::api::{PersonPresence, Presence};

use crate::db::{DbConnection, per_backend};
use crate::schema::{
    auth_users, chat_conversation_members, chat_presence, chat_presence_streams, natter_nodes,
};

/// Binds one statement takes at most (SQLite allows 32,766).
const CHUNK: usize = 1000;

/// This node is alive at `now`; `active` people have a stream open here (last
/// active then), and `gone` people no longer have one. One transaction, so the
/// announcer never sees half of it.
pub fn write_node(
    conn: &mut DbConnection,
    node: &str,
    now: NaiveDateTime,
    active: &[(i64, NaiveDateTime)],
    gone: &[i64],
) -> QueryResult<()> {
    conn.transaction(|conn| {
        per_backend!(conn, c => diesel::insert_into(natter_nodes::table)
            .values((natter_nodes::id.eq(node), natter_nodes::alive_at.eq(now)))
            .on_conflict(natter_nodes::id)
            .do_update()
            .set(natter_nodes::alive_at.eq(now))
            .execute(c))?;
        for chunk in active.chunks(CHUNK) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|&(user, at)| {
                    (
                        chat_presence_streams::user_id.eq(user),
                        chat_presence_streams::node_id.eq(node),
                        chat_presence_streams::active_at.eq(at),
                    )
                })
                .collect();
            per_backend!(conn, c => diesel::insert_into(chat_presence_streams::table)
                .values(&rows)
                .on_conflict((chat_presence_streams::user_id, chat_presence_streams::node_id))
                .do_update()
                .set(chat_presence_streams::active_at.eq(diesel::upsert::excluded(
                    chat_presence_streams::active_at,
                )))
                .execute(c))?;
        }
        for chunk in gone.chunks(CHUNK) {
            diesel::delete(
                chat_presence_streams::table
                    .filter(chat_presence_streams::node_id.eq(node))
                    .filter(chat_presence_streams::user_id.eq_any(chunk)),
            )
            .execute(conn)?;
        }
        Ok(())
    })
}

/// Forgets this node's rows: it starts over (a new connection) from what it holds.
pub fn forget_node(conn: &mut DbConnection, node: &str) -> QueryResult<()> {
    diesel::delete(chat_presence_streams::table.filter(chat_presence_streams::node_id.eq(node)))
        .execute(conn)?;
    Ok(())
}

/// Removes nodes silent since `before`, and their rows with them.
pub fn forget_silent_nodes(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(natter_nodes::table.filter(natter_nodes::alive_at.lt(before))).execute(conn)
}

/// Each person sharing their presence with a stream open on a node alive since
/// `alive_since`, and when they were last active.
pub fn open_streams(
    conn: &mut DbConnection,
    alive_since: NaiveDateTime,
) -> QueryResult<Vec<(i64, Option<NaiveDateTime>)>> {
    chat_presence_streams::table
        .inner_join(natter_nodes::table)
        .inner_join(auth_users::table)
        .filter(natter_nodes::alive_at.gt(alive_since))
        .filter(auth_users::share_presence.eq(true))
        .group_by(chat_presence_streams::user_id)
        .select((
            chat_presence_streams::user_id,
            diesel::dsl::max(chat_presence_streams::active_at),
        ))
        .load(conn)
}

/// Whether `user` has a stream open on a node alive since `alive_since`.
pub fn has_open_stream(
    conn: &mut DbConnection,
    user: i64,
    alive_since: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        chat_presence_streams::table
            .inner_join(natter_nodes::table)
            .filter(chat_presence_streams::user_id.eq(user))
            .filter(natter_nodes::alive_at.gt(alive_since)),
    ))
    .get_result(conn)
}

/// What was announced of each person who is not offline, or who changed since
/// `changed_since`: (person, presence, when it was announced).
pub fn announced(
    conn: &mut DbConnection,
    changed_since: NaiveDateTime,
) -> QueryResult<Vec<(i64, String, NaiveDateTime)>> {
    chat_presence::table
        .filter(
            chat_presence::presence
                .ne(Presence::Offline.as_str())
                .or(chat_presence::changed_at.gt(changed_since)),
        )
        .select((
            chat_presence::user_id,
            chat_presence::presence,
            chat_presence::changed_at,
        ))
        .load(conn)
}

/// Records `changes` as announced at `now`.
pub fn record_announced(
    conn: &mut DbConnection,
    changes: &[(i64, Presence)],
    now: NaiveDateTime,
) -> QueryResult<()> {
    for chunk in changes.chunks(CHUNK) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|&(user, presence)| {
                (
                    chat_presence::user_id.eq(user),
                    chat_presence::presence.eq(presence.as_str()),
                    chat_presence::changed_at.eq(now),
                )
            })
            .collect();
        per_backend!(conn, c => diesel::insert_into(chat_presence::table)
            .values(&rows)
            .on_conflict(chat_presence::user_id)
            .do_update()
            .set((
                chat_presence::presence.eq(diesel::upsert::excluded(chat_presence::presence)),
                chat_presence::changed_at.eq(diesel::upsert::excluded(chat_presence::changed_at)),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// The conversations of each of `people`: (conversation, person).
pub fn memberships(conn: &mut DbConnection, people: &[i64]) -> QueryResult<Vec<(i64, i64)>> {
    let mut rows = Vec::new();
    for chunk in people.chunks(CHUNK) {
        rows.extend(
            chat_conversation_members::table
                .filter(chat_conversation_members::user_id.eq_any(chunk))
                .select((
                    chat_conversation_members::conversation_id,
                    chat_conversation_members::user_id,
                ))
                .load::<(i64, i64)>(conn)?,
        );
    }
    Ok(rows)
}

/// Everyone who shares a conversation with `me` (me included) and is not offline,
/// as last announced.
pub fn around(conn: &mut DbConnection, me: UserId) -> QueryResult<Vec<PersonPresence>> {
    let mine = chat_conversation_members::table
        .filter(chat_conversation_members::user_id.eq(me.get()))
        .select(chat_conversation_members::conversation_id);
    let alias = diesel::alias!(chat_conversation_members as others);
    let people = alias
        .filter(
            alias
                .field(chat_conversation_members::conversation_id)
                .eq_any(mine),
        )
        .select(alias.field(chat_conversation_members::user_id));
    let rows: Vec<(i64, String)> = chat_presence::table
        .filter(chat_presence::user_id.eq_any(people))
        .filter(chat_presence::presence.ne(Presence::Offline.as_str()))
        .select((chat_presence::user_id, chat_presence::presence))
        .order_by(chat_presence::user_id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(user, presence)| {
            Some(PersonPresence {
                user_id: UserId(user),
                presence: Presence::parse(&presence)?,
            })
        })
        .collect())
}
