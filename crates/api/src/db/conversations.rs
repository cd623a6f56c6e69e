//! Conversations and their members. Every conversation-scoped query starts from
//! [`require_member`], so a conversation the caller is not in does not exist for them.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamp};
use natter_domain::api::{
    Conversation, ConversationSummary, Member, MessagePreview, NotificationLevel, User,
};
use natter_domain::event::Event;
use natter_domain::{
    ConversationId, ConversationTitle, FieldError, MessageId, UserId, ValidationError,
};

use crate::db::clock::{self, utc};
use crate::db::models::{ConversationRow, MemberRow, NewConversation, NewMember, UserRow};
use crate::db::{DbConnection, DbResult, Refusal, events, per_backend, users};
use crate::schema::{auth_users, chat_conversation_members, chat_conversations};

/// The caller's membership, or 404: to a non-member the conversation does not exist.
/// How many members `conversation` has.
pub fn member_count(conn: &mut DbConnection, conversation: ConversationId) -> QueryResult<usize> {
    let count: i64 = chat_conversation_members::table
        .filter(chat_conversation_members::conversation_id.eq(conversation.get()))
        .count()
        .get_result(conn)?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}

pub fn require_member(
    conn: &mut DbConnection,
    conversation_id: ConversationId,
    user_id: UserId,
) -> DbResult<MemberRow> {
    chat_conversation_members::table
        .find((conversation_id.get(), user_id.get()))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Refusal::NotFound.into())
}

/// Like [`require_member`], and the caller must be the owner (403 otherwise).
pub fn require_owner(
    conn: &mut DbConnection,
    conversation_id: ConversationId,
    user_id: UserId,
) -> DbResult<MemberRow> {
    let member = require_member(conn, conversation_id, user_id)?;
    if member.owner {
        Ok(member)
    } else {
        Err(Refusal::NotOwner("only the conversation's owner may do this").into())
    }
}

fn row(conn: &mut DbConnection, id: ConversationId) -> QueryResult<ConversationRow> {
    chat_conversations::table
        .find(id.get())
        .select(ConversationRow::as_select())
        .first(conn)
}

/// Members of the given conversations with their people, by conversation.
fn members_of(
    conn: &mut DbConnection,
    ids: &[i64],
) -> QueryResult<HashMap<i64, Vec<(MemberRow, UserRow)>>> {
    let rows: Vec<(MemberRow, UserRow)> = chat_conversation_members::table
        .inner_join(auth_users::table)
        .filter(chat_conversation_members::conversation_id.eq_any(ids))
        // By person, so that a client applying events keeps the same order.
        .order((
            chat_conversation_members::conversation_id,
            chat_conversation_members::user_id,
        ))
        .select((MemberRow::as_select(), UserRow::as_select()))
        .load(conn)?;
    let mut by_conversation: HashMap<i64, Vec<(MemberRow, UserRow)>> = HashMap::new();
    for (member, user) in rows {
        by_conversation
            .entry(member.conversation_id)
            .or_default()
            .push((member, user));
    }
    Ok(by_conversation)
}

pub fn to_member(member: &MemberRow, user: &UserRow) -> Member {
    Member {
        user: users::to_user(user),
        owner: member.owner,
        last_seen_message_id: member.last_seen_message_id.map(MessageId),
    }
}

fn to_conversation(row: &ConversationRow, members: &[(MemberRow, UserRow)]) -> Conversation {
    Conversation {
        id: ConversationId(row.id),
        title: row.title.clone(),
        owner_id: members
            .iter()
            .find(|(member, _)| member.owner)
            .map_or(UserId(0), |(member, _)| UserId(member.user_id)),
        members: members.iter().map(|(m, u)| to_member(m, u)).collect(),
        created_at: utc(row.created_at),
        closed_at: row.closed_at.map(utc),
    }
}

/// One conversation with its members (the caller must be one).
pub fn show(conn: &mut DbConnection, id: ConversationId, caller: UserId) -> DbResult<Conversation> {
    require_member(conn, id, caller)?;
    load(conn, id)
}

fn load(conn: &mut DbConnection, id: ConversationId) -> DbResult<Conversation> {
    let row = row(conn, id)?;
    let members = members_of(conn, &[id.get()])?
        .remove(&id.get())
        .unwrap_or_default();
    Ok(to_conversation(&row, &members))
}

/// Starts a conversation owned by `creator` with the given others. Duplicates and the
/// creator's own id among `member_ids` are ignored; at least one other person is needed,
/// and at most `max_members` in all.
pub fn create(
    conn: &mut DbConnection,
    creator: UserId,
    title: &ConversationTitle,
    member_ids: &[UserId],
    max_members: usize,
) -> DbResult<Conversation> {
    let others: BTreeSet<i64> = member_ids
        .iter()
        .map(|id| id.get())
        .filter(|id| *id != creator.get())
        .collect();
    if others.is_empty() {
        return Err(
            FieldError::new("member_ids", ValidationError::TooFewMembers { min: 1 }).into(),
        );
    }
    if others.len() >= max_members {
        return Err(FieldError::new(
            "member_ids",
            ValidationError::TooManyMembers {
                max: max_members.saturating_sub(1),
            },
        )
        .into());
    }
    let others: Vec<i64> = others.into_iter().collect();
    conn.transaction(|conn| {
        let existing: BTreeSet<i64> = users::existing(conn, &others)?.into_iter().collect();
        if let Some(unknown) = others.iter().find(|id| !existing.contains(id)) {
            return Err(
                FieldError::new("member_ids", ValidationError::UnknownUser(*unknown)).into(),
            );
        }
        let id: i64 = diesel::insert_into(chat_conversations::table)
            .values(NewConversation {
                title: title.as_str(),
                created_by: creator.get(),
            })
            .returning(chat_conversations::id)
            .get_result(conn)?;
        let mut rows = vec![NewMember {
            conversation_id: id,
            user_id: creator.get(),
            owner: true,
        }];
        rows.extend(others.iter().map(|&user_id| NewMember {
            conversation_id: id,
            user_id,
            owner: false,
        }));
        // A multi-row insert is written differently per backend.
        per_backend!(conn, c => diesel::insert_into(chat_conversation_members::table)
            .values(&rows)
            .execute(c))?;
        let conversation = load(conn, ConversationId(id))?;
        let summary = summary_without_messages(&conversation);
        events::append(
            conn,
            id,
            None,
            &Event::AddedToConversation {
                conversation: Box::new(summary),
            },
        )?;
        Ok(conversation)
    })
}

fn summary_without_messages(conversation: &Conversation) -> ConversationSummary {
    ConversationSummary {
        conversation: conversation.clone(),
        last_message: None,
        unread_count: 0,
        mention_count: 0,
        notification_level: NotificationLevel::effective(None, conversation.members.len()),
        last_activity_at: conversation.created_at,
    }
}

#[derive(QueryableByName)]
struct LastMessage {
    #[diesel(sql_type = BigInt)]
    conversation_id: i64,
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    sender_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    sender_nickname: Option<String>,
    #[diesel(sql_type = Text)]
    content: String,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
    #[diesel(sql_type = Bool)]
    deleted: bool,
}

/// My read state in conversations: pointer, unread and mention counts (each capped
/// at [`ConversationSummary::MAX_COUNT`]), the level I chose. Computed, never
/// stored: unread are messages after my pointer, not mine, not deleted; mentions are
/// those of them that mention me.
#[derive(Debug, QueryableByName)]
pub struct ReadState {
    #[diesel(sql_type = BigInt)]
    pub conversation_id: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_seen_message_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    pub notification_level: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub unread: i64,
    #[diesel(sql_type = BigInt)]
    pub mentions: i64,
}

impl ReadState {
    pub fn chosen_level(&self) -> Option<NotificationLevel> {
        self.notification_level
            .as_deref()
            .and_then(|level| NotificationLevel::parse(level).ok())
    }
}

/// The read states of `me` in every conversation of mine (or in `only`): one
/// statement for the whole list.
pub fn read_states(
    conn: &mut DbConnection,
    me: UserId,
    only: Option<ConversationId>,
) -> QueryResult<Vec<ReadState>> {
    const SQL: &str = "SELECT mine.conversation_id, mine.last_seen_message_id, mine.notification_level, \
            (SELECT count(*) FROM (SELECT 1 FROM chat_messages m \
               WHERE m.conversation_id = mine.conversation_id \
                 AND m.id > coalesce(mine.last_seen_message_id, 0) \
                 AND (m.sender_id IS NULL OR m.sender_id <> mine.user_id) \
                 AND m.deleted_at IS NULL \
               LIMIT 100) AS u) AS unread, \
            (SELECT count(*) FROM (SELECT 1 FROM chat_mentions x \
               JOIN chat_messages m ON m.id = x.message_id \
               WHERE x.user_id = mine.user_id AND x.conversation_id = mine.conversation_id \
                 AND x.message_id > coalesce(mine.last_seen_message_id, 0) \
                 AND m.deleted_at IS NULL \
               LIMIT 100) AS n) AS mentions \
       FROM chat_conversation_members mine \
      WHERE mine.user_id = $1 AND ($2 = 0 OR mine.conversation_id = $2)";
    diesel::sql_query(SQL)
        .bind::<BigInt, _>(me.get())
        .bind::<BigInt, _>(only.map_or(0, ConversationId::get))
        .load(conn)
}

/// My conversations, most recent activity first, each with its last message and my
/// unread count (messages from others after my watermark).
pub fn list_for(conn: &mut DbConnection, me: UserId) -> DbResult<Vec<ConversationSummary>> {
    let rows: Vec<ConversationRow> = chat_conversations::table
        .inner_join(chat_conversation_members::table)
        .filter(chat_conversation_members::user_id.eq(me.get()))
        .order((
            chat_conversations::last_activity_at.desc(),
            chat_conversations::id.desc(),
        ))
        .select(ConversationRow::as_select())
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let mut members = members_of(conn, &ids)?;
    // Each conversation's newest message: one index probe per conversation of mine.
    let last: HashMap<i64, LastMessage> = diesel::sql_query(
        "SELECT m.conversation_id, m.id, m.sender_id, u.nickname AS sender_nickname, \
                m.content, m.created_at, m.deleted_at IS NOT NULL AS deleted \
           FROM chat_conversation_members mine \
           JOIN chat_messages m ON m.id = (SELECT max(l.id) FROM chat_messages l \
                                            WHERE l.conversation_id = mine.conversation_id) \
           LEFT JOIN auth_users u ON u.id = m.sender_id \
          WHERE mine.user_id = $1",
    )
    .bind::<BigInt, _>(me.get())
    .load::<LastMessage>(conn)?
    .into_iter()
    .map(|message| (message.conversation_id, message))
    .collect();
    let states: HashMap<i64, ReadState> = read_states(conn, me, None)?
        .into_iter()
        .map(|state| (state.conversation_id, state))
        .collect();
    Ok(rows
        .iter()
        .map(|row| {
            let conversation = to_conversation(row, &members.remove(&row.id).unwrap_or_default());
            let state = states.get(&row.id);
            ConversationSummary {
                last_message: last.get(&row.id).map(|message| MessagePreview {
                    id: MessageId(message.id),
                    sender: message.sender_id.zip(message.sender_nickname.clone()).map(
                        |(id, nickname)| User {
                            id: UserId(id),
                            nickname,
                        },
                    ),
                    content: message.content.clone(),
                    created_at: utc(message.created_at),
                    deleted: message.deleted,
                }),
                unread_count: state.map_or(0, |s| s.unread),
                mention_count: state.map_or(0, |s| s.mentions),
                notification_level: NotificationLevel::effective(
                    state.and_then(ReadState::chosen_level),
                    conversation.members.len(),
                ),
                conversation,
                last_activity_at: utc(row.last_activity_at),
            }
        })
        .collect())
}

pub fn rename(
    conn: &mut DbConnection,
    id: ConversationId,
    caller: UserId,
    title: &ConversationTitle,
) -> DbResult<Conversation> {
    conn.transaction(|conn| {
        require_owner(conn, id, caller)?;
        diesel::update(chat_conversations::table.find(id.get()))
            .set((
                chat_conversations::title.eq(title.as_str()),
                chat_conversations::updated_at.eq(clock::now()),
            ))
            .execute(conn)?;
        events::append(
            conn,
            id.get(),
            None,
            &Event::ConversationRenamed {
                conversation_id: id,
                title: title.as_str().to_owned(),
            },
        )?;
        load(conn, id)
    })
}

/// Closes the conversation; closing it again changes nothing.
pub fn close(
    conn: &mut DbConnection,
    id: ConversationId,
    caller: UserId,
) -> DbResult<Conversation> {
    conn.transaction(|conn| {
        require_owner(conn, id, caller)?;
        let now = clock::now();
        let closed = diesel::update(chat_conversations::table.find(id.get()))
            .filter(chat_conversations::closed_at.is_null())
            .set((
                chat_conversations::closed_at.eq(now),
                chat_conversations::updated_at.eq(now),
            ))
            .execute(conn)?;
        if closed > 0 {
            events::append(
                conn,
                id.get(),
                None,
                &Event::ConversationClosed {
                    conversation_id: id,
                    closed_at: utc(now),
                },
            )?;
        }
        load(conn, id)
    })
}

/// Takes the conversation's row lock until the transaction ends (SQLite's one writer
/// holds the whole database already).
fn lock(conn: &mut DbConnection, id: ConversationId) -> QueryResult<()> {
    if let DbConnection::Pg(pg) = conn {
        chat_conversations::table
            .find(id.get())
            .select(chat_conversations::id)
            .for_update()
            .execute(pg)?;
    }
    Ok(())
}

/// Adds a person (owner only), while the conversation has fewer than `max_members`;
/// adding a member again changes nothing.
pub fn add_member(
    conn: &mut DbConnection,
    id: ConversationId,
    caller: UserId,
    new_member: UserId,
    max_members: usize,
) -> DbResult<Conversation> {
    conn.transaction(|conn| {
        require_owner(conn, id, caller)?;
        // Concurrent adds take turns on the conversation's row, so the count below
        // cannot be overtaken.
        lock(conn, id)?;
        let user = users::by_id(conn, new_member)?.ok_or_else(|| {
            FieldError::new("user_id", ValidationError::UnknownUser(new_member.get()))
        })?;
        let member = NewMember {
            conversation_id: id.get(),
            user_id: new_member.get(),
            owner: false,
        };
        let added = per_backend!(conn, c => diesel::insert_into(chat_conversation_members::table)
            .values(&member)
            .on_conflict_do_nothing()
            .execute(c))?;
        let conversation = load(conn, id)?;
        if added > 0 && conversation.members.len() > max_members {
            return Err(FieldError::new(
                "user_id",
                ValidationError::ConversationFull { max: max_members },
            )
            .into());
        }
        if added > 0 {
            let member = to_member(
                &MemberRow {
                    conversation_id: id.get(),
                    user_id: user.id,
                    owner: false,
                    last_seen_message_id: None,
                },
                &user,
            );
            let joined = events::append(
                conn,
                id.get(),
                Some(user.id),
                &Event::MemberAdded {
                    conversation_id: id,
                    member,
                },
            )?;
            // Their streams replay the conversation from here, not from before.
            diesel::update(chat_conversation_members::table.find((id.get(), user.id)))
                .set(chat_conversation_members::joined_seq.eq(joined))
                .execute(conn)?;
            // The newcomer also needs the conversation itself, as their list shows it.
            let summary = list_for(conn, new_member)?
                .into_iter()
                .find(|summary| summary.conversation.id == id)
                .ok_or(Refusal::NotFound)?;
            events::append(
                conn,
                id.get(),
                Some(user.id),
                &Event::AddedToConversation {
                    conversation: Box::new(summary),
                },
            )?;
        }
        Ok(conversation)
    })
}

/// The owner removes someone, or a member leaves (`target == caller`). The owner must
/// hand over ownership before leaving.
pub fn remove_member(
    conn: &mut DbConnection,
    id: ConversationId,
    caller: UserId,
    target: UserId,
) -> DbResult<()> {
    conn.transaction(|conn| {
        let me = require_member(conn, id, caller)?;
        if target == caller {
            if me.owner {
                return Err(Refusal::OwnerMustTransfer.into());
            }
        } else if !me.owner {
            return Err(
                Refusal::NotOwner("only the conversation's owner may remove members").into(),
            );
        }
        let removed =
            diesel::delete(chat_conversation_members::table.find((id.get(), target.get())))
                .execute(conn)?;
        if removed == 0 {
            return Err(Refusal::NotFound.into());
        }
        events::append(
            conn,
            id.get(),
            Some(target.get()),
            &Event::MemberRemoved {
                conversation_id: id,
                user_id: target,
            },
        )?;
        Ok(())
    })
}

/// Hands ownership to another member (owner only).
pub fn transfer_ownership(
    conn: &mut DbConnection,
    id: ConversationId,
    caller: UserId,
    new_owner: UserId,
) -> DbResult<Conversation> {
    conn.transaction(|conn| {
        require_owner(conn, id, caller)?;
        if new_owner == caller {
            return load(conn, id);
        }
        let target = chat_conversation_members::table
            .find((id.get(), new_owner.get()))
            .select(MemberRow::as_select())
            .first(conn)
            .optional()?;
        if target.is_none() {
            return Err(
                FieldError::new("user_id", ValidationError::UnknownUser(new_owner.get())).into(),
            );
        }
        // Old owner first: the partial unique index allows one owner at a time.
        diesel::update(chat_conversation_members::table.find((id.get(), caller.get())))
            .set(chat_conversation_members::owner.eq(false))
            .execute(conn)?;
        diesel::update(chat_conversation_members::table.find((id.get(), new_owner.get())))
            .set(chat_conversation_members::owner.eq(true))
            .execute(conn)?;
        events::append(
            conn,
            id.get(),
            None,
            &Event::OwnershipTransferred {
                conversation_id: id,
                from: caller,
                to: new_owner,
            },
        )?;
        load(conn, id)
    })
}

/// The conversations `user` is a member of.
pub fn ids_of(conn: &mut DbConnection, user: UserId) -> QueryResult<Vec<i64>> {
    chat_conversation_members::table
        .filter(chat_conversation_members::user_id.eq(user.get()))
        .select(chat_conversation_members::conversation_id)
        .load(conn)
}

/// `user` leaves conversation `id` for good, their account being deleted: a
/// conversation they owned passes to its longest-standing member, and one left with
/// fewer than two members closes. Their removal is announced to the others only
/// (their own streams end with their sessions).
pub fn leave_for_good(conn: &mut DbConnection, id: i64, user: UserId) -> DbResult<()> {
    let conversation = ConversationId(id);
    lock(conn, conversation)?;
    let members: Vec<(i64, bool)> = chat_conversation_members::table
        .filter(chat_conversation_members::conversation_id.eq(id))
        .order((
            chat_conversation_members::joined_at,
            chat_conversation_members::joined_seq,
            chat_conversation_members::user_id,
        ))
        .select((
            chat_conversation_members::user_id,
            chat_conversation_members::owner,
        ))
        .load(conn)?;
    let Some(&(_, owned)) = members.iter().find(|(member, _)| *member == user.get()) else {
        return Ok(());
    };
    let remaining: Vec<i64> = members
        .iter()
        .map(|(member, _)| *member)
        .filter(|member| *member != user.get())
        .collect();
    diesel::delete(chat_conversation_members::table.find((id, user.get()))).execute(conn)?;
    if let (true, Some(&heir)) = (owned, remaining.first()) {
        diesel::update(chat_conversation_members::table.find((id, heir)))
            .set(chat_conversation_members::owner.eq(true))
            .execute(conn)?;
        events::append(
            conn,
            id,
            None,
            &Event::OwnershipTransferred {
                conversation_id: conversation,
                from: user,
                to: UserId(heir),
            },
        )?;
    }
    events::append(
        conn,
        id,
        None,
        &Event::MemberRemoved {
            conversation_id: conversation,
            user_id: user,
        },
    )?;
    if remaining.len() < 2 {
        let now = clock::now();
        let closed = diesel::update(chat_conversations::table.find(id))
            .filter(chat_conversations::closed_at.is_null())
            .set((
                chat_conversations::closed_at.eq(now),
                chat_conversations::updated_at.eq(now),
            ))
            .execute(conn)?;
        if closed > 0 {
            events::append(
                conn,
                id,
                None,
                &Event::ConversationClosed {
                    conversation_id: conversation,
                    closed_at: utc(now),
                },
            )?;
        }
    }
    Ok(())
}
