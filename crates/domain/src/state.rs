//! A client's picture of its conversations, built from a REST load and kept current
//! by live events. Applying an event twice changes nothing, so a stream that
//! replays a little more than needed is harmless. The browser uses this, and the
//! tests check that REST + events equals a fresh REST load for every event type.
//!
//! Messages I send wait in [`ClientState::pending`] under their `client_id` until the
//! server's copy arrives (by the send's answer or the stream, whichever is first),
//! so a message is shown at once and never twice.

use std::collections::BTreeMap;

use crate::api::{
    Attachment, ConversationSummary, Emoji, Message, MessagePreview, NotificationLevel, Presence,
    ReactionSummary, SeenEntry, User, Watermark, excerpt,
};
use crate::event::Event;
use crate::ids::{ConversationId, MessageId, UserId};
use crate::values::ClientId;

/// A message I sent that the server has not confirmed yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    pub client_id: ClientId,
    pub conversation_id: ConversationId,
    pub content: String,
    /// The message it answers, if any.
    pub reply_to: Option<MessageId>,
    /// The files it carries, uploaded already.
    pub attachments: Vec<Attachment>,
    pub status: PendingStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingStatus {
    /// On its way, possibly being retried with the same `client_id`.
    Sending,
    /// Given up on; the reason is shown with a retry button.
    Failed(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientState {
    pub me: UserId,
    /// The emoji set, whose order reactions on a message follow.
    pub emojis: Vec<Emoji>,
    /// My conversations, most recent activity first.
    pub conversations: Vec<ConversationSummary>,
    /// Loaded messages per conversation, oldest first.
    pub messages: BTreeMap<ConversationId, Vec<Message>>,
    /// My messages not yet confirmed by the server, in the order I sent them.
    pub pending: Vec<PendingMessage>,
    /// Who is typing where, each with the number of their latest `typing` event (a
    /// client ends one that was not repeated in time with [`Self::stopped_typing`]).
    pub typing: Vec<Typing>,
    /// How many `typing` events came: each notice's number.
    pub typing_events: u64,
    /// Who is online or away (everyone else is offline).
    pub presence: BTreeMap<UserId, Presence>,
}

/// Someone typing in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typing {
    pub conversation_id: ConversationId,
    pub user: User,
    pub event: u64,
}

impl ClientState {
    pub fn new(me: UserId, emojis: Vec<Emoji>, conversations: Vec<ConversationSummary>) -> Self {
        let mut state = Self {
            me,
            emojis,
            conversations,
            messages: BTreeMap::new(),
            pending: Vec::new(),
            typing: Vec::new(),
            typing_events: 0,
            presence: BTreeMap::new(),
        };
        state.sort();
        state
    }

    pub fn conversation(&self, id: ConversationId) -> Option<&ConversationSummary> {
        self.conversations.iter().find(|s| s.conversation.id == id)
    }

    /// My read watermark in a conversation.
    pub fn my_watermark(&self, id: ConversationId) -> Option<MessageId> {
        self.conversation(id)?
            .conversation
            .members
            .iter()
            .find(|m| m.user.id == self.me)?
            .last_seen_message_id
    }

    /// Merges a page of history into the loaded messages, keeping them sorted and
    /// unique; a page that overlaps live messages adds what was missing and replaces
    /// only copies older than its own (a lower version).
    pub fn merge_page(&mut self, conversation: ConversationId, page: Vec<Message>) {
        let messages = self.messages.entry(conversation).or_default();
        for message in page {
            match messages.binary_search_by_key(&message.id, |m| m.id) {
                Ok(at) if messages[at].version < message.version => messages[at] = message,
                Ok(_) => {}
                Err(at) => messages.insert(at, message),
            }
        }
    }

    /// Message `id` of `conversation` now says `content` (empty once `deleted`): every
    /// loaded reply to it and the conversation list's preview of it show that.
    fn show_change(
        &mut self,
        conversation: ConversationId,
        id: MessageId,
        content: &str,
        deleted: bool,
    ) {
        if let Some(messages) = self.messages.get_mut(&conversation) {
            let excerpt = excerpt(content);
            for reply in messages.iter_mut() {
                if let Some(reply_to) = &mut reply.reply_to
                    && reply_to.id == id
                    && !reply_to.deleted
                {
                    reply_to.excerpt.clone_from(&excerpt);
                    reply_to.deleted = deleted;
                }
            }
        }
        if let Some(summary) = self.summary(conversation)
            && let Some(last) = &mut summary.last_message
            && last.id == id
            && !last.deleted
        {
            content.clone_into(&mut last.content);
            last.deleted = deleted;
        }
    }

    /// The server moved my watermark (my answer to marking messages seen); the
    /// `seen_moved` event that follows adds the receipts.
    /// What of `conversation` notifies me now.
    pub fn set_notification_level(
        &mut self,
        conversation: ConversationId,
        level: NotificationLevel,
    ) {
        if let Some(summary) = self.summary(conversation) {
            summary.notification_level = level;
        }
    }

    /// The typing notice of `event` ends (no repeat came in time); a later one stays.
    pub fn stopped_typing(&mut self, event: u64) {
        self.typing.retain(|t| t.event != event);
    }

    /// The number the latest `typing` event was given.
    pub fn latest_typing(&self) -> u64 {
        self.typing_events
    }

    /// My read state as the server has it now, my pointer moved back too (after
    /// "mark unread" here or in another tab).
    pub fn set_read_state(&mut self, conversation: ConversationId, state: Watermark) {
        let me = self.me;
        if let Some(summary) = self.summary(conversation) {
            if let Some(member) = summary
                .conversation
                .members
                .iter_mut()
                .find(|m| m.user.id == me)
            {
                member.last_seen_message_id = state.last_seen_message_id;
            }
            summary.unread_count = state.unread_count;
            summary.mention_count = state.mention_count;
        }
    }

    /// My pointer moved forward to `to` (by a message of mine): what is unread and
    /// mentions me is what came after it.
    fn move_my_pointer(&mut self, conversation: ConversationId, to: MessageId) {
        let me = self.me;
        let Some(summary) = self.summary(conversation) else {
            return;
        };
        if let Some(member) = summary
            .conversation
            .members
            .iter_mut()
            .find(|m| m.user.id == me)
        {
            member.last_seen_message_id = Some(to);
        }
        let newest = summary
            .last_message
            .as_ref()
            .is_none_or(|last| last.id <= to);
        if newest {
            summary.unread_count = 0;
            summary.mention_count = 0;
        } else {
            self.recount_unread(conversation);
        }
    }

    pub fn set_my_watermark(&mut self, conversation: ConversationId, watermark: Watermark) {
        let me = self.me;
        if let Some(summary) = self.summary(conversation) {
            if let Some(member) = summary
                .conversation
                .members
                .iter_mut()
                .find(|m| m.user.id == me)
            {
                member.last_seen_message_id = member
                    .last_seen_message_id
                    .max(watermark.last_seen_message_id);
            }
            summary.unread_count = watermark.unread_count;
        }
    }

    /// Shows a message as pending until the server confirms it.
    pub fn queue(&mut self, conversation: ConversationId, client_id: ClientId, content: String) {
        self.queue_reply(conversation, client_id, content, None);
    }

    /// Like [`Self::queue`], for a message that answers `reply_to`.
    pub fn queue_reply(
        &mut self,
        conversation: ConversationId,
        client_id: ClientId,
        content: String,
        reply_to: Option<MessageId>,
    ) {
        self.queue_with_files(conversation, client_id, content, reply_to, Vec::new());
    }

    /// Like [`Self::queue_reply`], for a message that carries `attachments`.
    pub fn queue_with_files(
        &mut self,
        conversation: ConversationId,
        client_id: ClientId,
        content: String,
        reply_to: Option<MessageId>,
        attachments: Vec<Attachment>,
    ) {
        self.pending.push(PendingMessage {
            client_id,
            conversation_id: conversation,
            content,
            reply_to,
            attachments,
            status: PendingStatus::Sending,
        });
    }

    /// The server stored the message: it replaces its pending copy.
    pub fn confirm(&mut self, message: &Message) {
        self.apply(&Event::MessageCreated {
            message: message.clone(),
        });
    }

    /// Marks a pending message failed (`Some(reason)`) or sending again (`None`).
    pub fn set_pending_status(&mut self, client_id: ClientId, status: PendingStatus) {
        if let Some(pending) = self.pending.iter_mut().find(|p| p.client_id == client_id) {
            pending.status = status;
        }
    }

    /// Drops a failed message the person no longer wants to send.
    pub fn discard(&mut self, client_id: ClientId) {
        self.pending.retain(|p| p.client_id != client_id);
    }

    pub fn pending_in(
        &self,
        conversation: ConversationId,
    ) -> impl Iterator<Item = &PendingMessage> + '_ {
        self.pending
            .iter()
            .filter(move |p| p.conversation_id == conversation)
    }

    fn sort(&mut self) {
        self.conversations.sort_by(|a, b| {
            b.last_activity_at
                .cmp(&a.last_activity_at)
                .then(b.conversation.id.cmp(&a.conversation.id))
        });
    }

    fn summary(&mut self, id: ConversationId) -> Option<&mut ConversationSummary> {
        self.conversations
            .iter_mut()
            .find(|s| s.conversation.id == id)
    }

    fn message(&mut self, conversation: ConversationId, id: MessageId) -> Option<&mut Message> {
        self.messages
            .get_mut(&conversation)
            .and_then(|messages| messages.iter_mut().find(|m| m.id == id))
    }

    fn emoji_rank(&self, key: &str) -> usize {
        self.emojis
            .iter()
            .position(|e| e.key == key)
            .unwrap_or(usize::MAX)
    }

    /// My unread count after my watermark moved. The loaded messages decide it when
    /// they reach back to the watermark (loaded messages run unbroken to the newest);
    /// otherwise the old count stays as an upper bound until the next REST load.
    fn recount_unread(&mut self, conversation: ConversationId) {
        let me = self.me;
        let watermark = self.my_watermark(conversation).map_or(0, MessageId::get);
        let loaded = self.messages.get(&conversation);
        let Some(summary) = self
            .conversations
            .iter_mut()
            .find(|s| s.conversation.id == conversation)
        else {
            return;
        };
        if summary
            .last_message
            .as_ref()
            .is_none_or(|last| last.id.get() <= watermark)
        {
            summary.unread_count = 0;
            return;
        }
        let Some(messages) = loaded else {
            return;
        };
        let above = i64::try_from(
            messages
                .iter()
                .filter(|m| m.id.get() > watermark && !m.sent_by(me))
                .count(),
        )
        .unwrap_or(i64::MAX);
        let covers = messages.first().is_some_and(|m| m.id.get() <= watermark);
        summary.unread_count = if covers {
            above
        } else {
            summary.unread_count.max(above)
        };
    }

    #[allow(clippy::too_many_lines)] // one arm per event type reads best together
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::MessageCreated { message } => {
                let conversation = message.conversation_id;
                if let Some(client_id) = message.client_id
                    && message.sent_by(self.me)
                {
                    self.pending.retain(|p| p.client_id != client_id);
                }
                let messages = self.messages.entry(conversation).or_default();
                let Err(at) = messages.binary_search_by_key(&message.id, |m| m.id) else {
                    return;
                };
                messages.insert(at, message.clone());
                if let Some(sender) = &message.sender {
                    self.typing
                        .retain(|t| !(t.conversation_id == conversation && t.user.id == sender.id));
                }
                let me = self.me;
                let watermark = self.my_watermark(conversation);
                if let Some(summary) = self.summary(conversation) {
                    let newest = summary
                        .last_message
                        .as_ref()
                        .is_none_or(|last| last.id < message.id);
                    if newest {
                        summary.last_message = Some(MessagePreview::of(message));
                        if !message.sent_by(me) && watermark.is_none_or(|w| w < message.id) {
                            summary.unread_count += 1;
                            if mentions_me(message, &summary.conversation, me) {
                                summary.mention_count += 1;
                            }
                        }
                    }
                    summary.last_activity_at = summary.last_activity_at.max(message.created_at);
                }
                // What I send I have read, and what came before it (the server moved
                // my pointer past it in the same transaction); so has anyone else.
                if message.sent_by(me) && watermark.is_none_or(|w| w < message.id) {
                    self.move_my_pointer(conversation, message.id);
                } else if let Some(sender) = &message.sender
                    && let Some(summary) = self.summary(conversation)
                    && let Some(member) = summary
                        .conversation
                        .members
                        .iter_mut()
                        .find(|m| m.user.id == sender.id)
                {
                    member.last_seen_message_id = member.last_seen_message_id.max(Some(message.id));
                }
                self.sort();
            }
            Event::MessageEdited { message } => {
                if let Some(held) = self.message(message.conversation_id, message.id) {
                    if held.version >= message.version {
                        return;
                    }
                    // Reactions and seen-by have events of their own, and mine are mine.
                    let reactions = std::mem::take(&mut held.reactions);
                    let seen_by = std::mem::take(&mut held.seen_by);
                    *held = Message {
                        reactions,
                        seen_by,
                        ..message.clone()
                    };
                }
                self.show_change(
                    message.conversation_id,
                    message.id,
                    &message.content,
                    message.deleted,
                );
            }
            Event::MessageDeleted {
                conversation_id,
                message_id,
                version,
            } => {
                // A copy not loaded here still shows in replies and the preview.
                if let Some(held) = self.message(*conversation_id, *message_id) {
                    if held.deleted && held.version >= *version {
                        return;
                    }
                    held.erase(*version);
                }
                self.show_change(*conversation_id, *message_id, "", true);
            }
            Event::ReactionAdded {
                conversation_id,
                message_id,
                emoji,
                unicode,
                user,
            } => {
                let me = self.me;
                let rank = self.emoji_rank(emoji);
                let emojis = self.emojis.clone();
                let Some(message) = self
                    .message(*conversation_id, *message_id)
                    .filter(|message| !message.deleted)
                else {
                    return;
                };
                match message.reactions.iter_mut().find(|r| &r.emoji == emoji) {
                    Some(summary) if summary.users.iter().any(|u| u.id == user.id) => {}
                    Some(summary) => {
                        summary.users.push(user.clone());
                        summary.count += 1;
                        summary.reacted_by_me |= user.id == me;
                    }
                    None => {
                        let at = message.reactions.partition_point(|r| {
                            emojis
                                .iter()
                                .position(|e| e.key == r.emoji)
                                .unwrap_or(usize::MAX)
                                < rank
                        });
                        message.reactions.insert(
                            at,
                            ReactionSummary {
                                emoji: emoji.clone(),
                                unicode: unicode.clone(),
                                count: 1,
                                reacted_by_me: user.id == me,
                                users: vec![user.clone()],
                            },
                        );
                    }
                }
            }
            Event::ReactionRemoved {
                conversation_id,
                message_id,
                emoji,
                user,
            } => {
                let me = self.me;
                let Some(message) = self.message(*conversation_id, *message_id) else {
                    return;
                };
                if let Some(summary) = message.reactions.iter_mut().find(|r| &r.emoji == emoji)
                    && let Some(at) = summary.users.iter().position(|u| u.id == user.id)
                {
                    summary.users.remove(at);
                    summary.count -= 1;
                    if user.id == me {
                        summary.reacted_by_me = false;
                    }
                }
                message.reactions.retain(|r| r.count > 0);
            }
            Event::SeenMoved {
                conversation_id,
                user,
                up_to_message_id,
                seen_at,
            } => {
                if let Some(summary) = self.summary(*conversation_id)
                    && let Some(member) = summary
                        .conversation
                        .members
                        .iter_mut()
                        .find(|m| m.user.id == user.id)
                {
                    member.last_seen_message_id =
                        member.last_seen_message_id.max(Some(*up_to_message_id));
                }
                if let Some(messages) = self.messages.get_mut(conversation_id) {
                    for message in messages
                        .iter_mut()
                        .filter(|m| m.id <= *up_to_message_id && !m.sent_by(user.id))
                    {
                        if !message.seen_by.iter().any(|s| s.user.id == user.id) {
                            message.seen_by.push(SeenEntry {
                                user: user.clone(),
                                first_seen_at: *seen_at,
                            });
                            message
                                .seen_by
                                .sort_by_key(|s| (s.first_seen_at, s.user.id));
                        }
                    }
                }
                self.recount_unread(*conversation_id);
            }
            Event::ReadStateChanged {
                conversation_id,
                last_seen_message_id,
                unread_count,
                mention_count,
            } => self.set_read_state(
                *conversation_id,
                Watermark {
                    last_seen_message_id: *last_seen_message_id,
                    unread_count: *unread_count,
                    mention_count: *mention_count,
                },
            ),
            Event::MemberAdded {
                conversation_id,
                member,
            } => {
                if let Some(summary) = self.summary(*conversation_id) {
                    let members = &mut summary.conversation.members;
                    if !members.iter().any(|m| m.user.id == member.user.id) {
                        let at = members.partition_point(|m| m.user.id < member.user.id);
                        members.insert(at, member.clone());
                    }
                }
            }
            Event::MemberRemoved {
                conversation_id,
                user_id,
            } => {
                if *user_id == self.me {
                    self.conversations
                        .retain(|s| s.conversation.id != *conversation_id);
                    self.messages.remove(conversation_id);
                    return;
                }
                if let Some(summary) = self.summary(*conversation_id) {
                    summary
                        .conversation
                        .members
                        .retain(|m| m.user.id != *user_id);
                }
                // Receipts are shown for current members only.
                if let Some(messages) = self.messages.get_mut(conversation_id) {
                    for message in messages {
                        message.seen_by.retain(|s| s.user.id != *user_id);
                    }
                }
            }
            Event::ConversationRenamed {
                conversation_id,
                title,
            } => {
                if let Some(summary) = self.summary(*conversation_id) {
                    summary.conversation.title.clone_from(title);
                }
            }
            Event::ConversationClosed {
                conversation_id,
                closed_at,
            } => {
                if let Some(summary) = self.summary(*conversation_id) {
                    summary.conversation.closed_at = Some(*closed_at);
                }
            }
            Event::OwnershipTransferred {
                conversation_id,
                to,
                ..
            } => {
                if let Some(summary) = self.summary(*conversation_id) {
                    summary.conversation.owner_id = *to;
                    for member in &mut summary.conversation.members {
                        member.owner = member.user.id == *to;
                    }
                }
            }
            Event::AddedToConversation { conversation } => {
                let id = conversation.conversation.id;
                match self.summary(id) {
                    Some(known) => known.conversation = conversation.conversation.clone(),
                    None => self.conversations.push((**conversation).clone()),
                }
                self.sort();
            }
            // Stream control: what they ask for (a load) is the client's to do.
            Event::Typing {
                conversation_id,
                user,
            } => {
                self.typing_events += 1;
                let event = self.typing_events;
                self.typing
                    .retain(|t| !(t.conversation_id == *conversation_id && t.user.id == user.id));
                self.typing.push(Typing {
                    conversation_id: *conversation_id,
                    user: user.clone(),
                    event,
                });
            }
            Event::PresenceChanged { user_id, presence } => {
                self.set_presence(*user_id, *presence);
            }
            Event::Ready { .. } | Event::Resync => {}
        }
    }

    /// Whether a new `message` is one my level for its conversation notifies me of:
    /// not mine, and every message (`all`) or one that mentions me (`mentions`).
    pub fn notifies_me(&self, message: &Message) -> bool {
        let Some(summary) = self.conversation(message.conversation_id) else {
            return false;
        };
        if message.sent_by(self.me) || message.deleted {
            return false;
        }
        match summary.notification_level {
            NotificationLevel::All => true,
            NotificationLevel::Mentions => mentions_me(message, &summary.conversation, self.me),
            NotificationLevel::None => false,
        }
    }

    /// Whether an edit (the message as it now is, applied or not yet) newly mentions
    /// me where I am not muted: an edit that adds a mention notifies only the newly
    /// mentioned.
    pub fn edit_notifies_me(&self, edited: &Message, before: Option<&Message>) -> bool {
        let Some(summary) = self.conversation(edited.conversation_id) else {
            return false;
        };
        let mentioned = |m: &Message| mentions_me(m, &summary.conversation, self.me);
        summary.notification_level != NotificationLevel::None
            && !edited.sent_by(self.me)
            && mentioned(edited)
            && !before.is_some_and(mentioned)
    }

    /// A loaded message.
    pub fn loaded(&self, conversation: ConversationId, id: MessageId) -> Option<&Message> {
        let messages = self.messages.get(&conversation)?;
        let at = messages.binary_search_by_key(&id, |m| m.id).ok()?;
        messages.get(at)
    }

    /// Someone's presence, as `GET /api/presence` or a `presence_changed` says.
    pub fn set_presence(&mut self, user: UserId, presence: Presence) {
        if presence == Presence::Offline {
            self.presence.remove(&user);
        } else {
            self.presence.insert(user, presence);
        }
    }

    /// Someone's presence: offline unless said otherwise.
    pub fn presence_of(&self, user: UserId) -> Presence {
        self.presence.get(&user).copied().unwrap_or_default()
    }
}

/// Whether `message` mentions `me` as the server counts it: by my token, or by
/// `@all` where its sender may use it.
fn mentions_me(message: &Message, conversation: &crate::api::Conversation, me: UserId) -> bool {
    let found = crate::mentions::parse(&message.content);
    let owner = message
        .sender
        .as_ref()
        .is_some_and(|s| s.id == conversation.owner_id);
    found.people.contains(&me)
        || (found.all && crate::mentions::all_allowed(owner, conversation.members.len()))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::api::{Conversation, Member, User};

    fn user(id: i64) -> User {
        User {
            id: UserId(id),
            nickname: format!("user{id}"),
        }
    }

    fn state() -> ClientState {
        let at = Utc.timestamp_opt(1_700_000_000, 0).single().expect("time");
        let conversation = Conversation {
            id: ConversationId(1),
            title: "t".into(),
            owner_id: UserId(1),
            members: vec![
                Member {
                    user: user(1),
                    owner: true,
                    last_seen_message_id: None,
                },
                Member {
                    user: user(2),
                    owner: false,
                    last_seen_message_id: None,
                },
            ],
            created_at: at,
            closed_at: None,
        };
        ClientState::new(
            UserId(2),
            vec![Emoji {
                key: "heart".into(),
                unicode: "❤️".into(),
            }],
            vec![ConversationSummary {
                conversation,
                last_message: None,
                unread_count: 0,
                mention_count: 0,
                notification_level: NotificationLevel::All,
                last_activity_at: at,
            }],
        )
    }

    fn message(id: i64, sender: i64) -> Message {
        Message {
            id: MessageId(id),
            conversation_id: ConversationId(1),
            sender: Some(user(sender)),
            content: format!("m{id}"),
            client_id: None,
            created_at: Utc
                .timestamp_opt(1_700_000_000 + id, 0)
                .single()
                .expect("time"),
            version: 1,
            edited_at: None,
            deleted: false,
            reply_to: None,
            attachments: Vec::new(),
            reactions: Vec::new(),
            seen_by: Vec::new(),
        }
    }

    #[test]
    fn a_late_edit_cannot_roll_a_newer_one_back_and_a_delete_erases_everywhere() {
        let mut state = state();
        let original = message(5, 2);
        let mut reply = message(6, 1);
        reply.reply_to = Some(original.as_reply_target());
        for message in [original.clone(), reply] {
            state.apply(&Event::MessageCreated { message });
        }
        let edit = |version: i64, content: &str| Event::MessageEdited {
            message: Message {
                content: content.into(),
                version,
                edited_at: Some(original.created_at),
                ..original.clone()
            },
        };
        state.apply(&edit(3, "third"));
        state.apply(&edit(2, "second, arriving late"));
        let loaded = &state.messages[&ConversationId(1)];
        assert_eq!(
            (loaded[0].content.as_str(), loaded[0].version),
            ("third", 3)
        );
        assert_eq!(
            loaded[1].reply_to.as_ref().map(|r| r.excerpt.as_str()),
            Some("third")
        );
        // A page read before the edit does not bring the old text back.
        state.merge_page(ConversationId(1), vec![original.clone()]);
        assert_eq!(state.messages[&ConversationId(1)][0].content, "third");

        let delete = Event::MessageDeleted {
            conversation_id: ConversationId(1),
            message_id: MessageId(5),
            version: 4,
        };
        state.apply(&delete);
        state.apply(&edit(3, "third"));
        state.apply(&Event::ReactionAdded {
            conversation_id: ConversationId(1),
            message_id: MessageId(5),
            emoji: "wave".into(),
            unicode: "👋".into(),
            user: user(1),
        });
        let loaded = &state.messages[&ConversationId(1)];
        assert!(loaded[0].deleted && loaded[0].content.is_empty());
        assert!(loaded[0].reactions.is_empty());
        let shown = loaded[1].reply_to.as_ref().expect("still a reply");
        assert!(shown.deleted && shown.excerpt.is_empty());
        let before = state.clone();
        state.apply(&delete);
        assert_eq!(state, before, "a replayed delete changes nothing");
    }

    #[test]
    fn every_event_applies_once_however_often_it_arrives() {
        let events = [
            Event::MessageCreated {
                message: message(5, 1),
            },
            Event::ReactionAdded {
                conversation_id: ConversationId(1),
                message_id: MessageId(5),
                emoji: "heart".into(),
                unicode: "❤️".into(),
                user: user(2),
            },
            Event::SeenMoved {
                conversation_id: ConversationId(1),
                user: user(2),
                up_to_message_id: MessageId(5),
                seen_at: Utc.timestamp_opt(1_700_000_100, 0).single().expect("time"),
            },
        ];
        let mut once = state();
        let mut twice = state();
        for event in &events {
            once.apply(event);
            twice.apply(event);
            twice.apply(event);
        }
        assert_eq!(once, twice);
        let messages = &once.messages[&ConversationId(1)];
        assert_eq!(messages[0].reactions[0].count, 1);
        assert!(messages[0].reactions[0].reacted_by_me);
        assert_eq!(messages[0].seen_by.len(), 1);
        assert_eq!(once.conversations[0].unread_count, 0, "seen by me");
    }

    #[test]
    fn messages_from_others_are_unread_until_seen() {
        let mut state = state();
        state.apply(&Event::MessageCreated {
            message: message(7, 1),
        });
        assert_eq!(state.conversations[0].unread_count, 1);
        state.apply(&Event::MessageCreated {
            message: message(8, 2),
        });
        assert_eq!(
            state.conversations[0].unread_count, 0,
            "my own message is not unread, and I have read what came before it"
        );
        assert_eq!(state.my_watermark(ConversationId(1)), Some(MessageId(8)));
        state.apply(&Event::MessageCreated {
            message: message(9, 1),
        });
        assert_eq!(state.conversations[0].unread_count, 1);
        assert_eq!(
            state.conversations[0].last_message.as_ref().map(|m| m.id),
            Some(MessageId(9))
        );
        state.apply(&Event::MemberRemoved {
            conversation_id: ConversationId(1),
            user_id: UserId(2),
        });
        assert!(
            state.conversations.is_empty(),
            "removed: the conversation leaves my list"
        );
        assert!(state.messages.is_empty());
    }

    #[test]
    fn my_level_decides_what_notifies_me() {
        let mut state = state();
        let theirs = message(7, 1);
        let mine = message(8, 2);
        let mention = Message {
            content: "look, <@2>".into(),
            ..message(9, 1)
        };
        assert!(state.notifies_me(&theirs));
        assert!(!state.notifies_me(&mine), "never my own");
        state.set_notification_level(ConversationId(1), NotificationLevel::Mentions);
        assert!(!state.notifies_me(&theirs));
        assert!(state.notifies_me(&mention));
        // An edit notifies only when it adds the mention.
        assert!(state.edit_notifies_me(&mention, Some(&theirs)));
        assert!(!state.edit_notifies_me(&mention, Some(&mention)));
        state.set_notification_level(ConversationId(1), NotificationLevel::None);
        assert!(!state.notifies_me(&mention));
        assert!(!state.edit_notifies_me(&mention, None));
    }

    fn client_id(n: u128) -> ClientId {
        ClientId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn a_pending_message_is_replaced_once_by_the_answer_or_the_stream() {
        let mut by_answer = state();
        by_answer.queue(ConversationId(1), client_id(1), "hello".into());
        assert_eq!(by_answer.pending_in(ConversationId(1)).count(), 1);
        let mut stored = message(9, 2);
        stored.client_id = Some(client_id(1));
        by_answer.confirm(&stored);
        assert_eq!(by_answer.pending_in(ConversationId(1)).count(), 0);
        // The stream delivers the same message afterwards: still one copy.
        by_answer.apply(&Event::MessageCreated {
            message: stored.clone(),
        });
        assert_eq!(by_answer.messages[&ConversationId(1)].len(), 1);

        // The other order: the stream is faster than the answer.
        let mut by_stream = state();
        by_stream.queue(ConversationId(1), client_id(1), "hello".into());
        by_stream.apply(&Event::MessageCreated {
            message: stored.clone(),
        });
        by_stream.confirm(&stored);
        assert_eq!(by_stream, by_answer);
    }

    #[test]
    fn only_my_own_message_settles_a_pending_one() {
        let mut state = state();
        state.queue(ConversationId(1), client_id(7), "mine".into());
        // Someone else happens to use the same client_id: client ids are per sender.
        let mut theirs = message(3, 1);
        theirs.client_id = Some(client_id(7));
        state.apply(&Event::MessageCreated { message: theirs });
        assert_eq!(state.pending_in(ConversationId(1)).count(), 1);
    }

    #[test]
    fn a_failed_message_can_be_retried_or_discarded() {
        let mut state = state();
        state.queue(ConversationId(1), client_id(2), "try".into());
        state.set_pending_status(client_id(2), PendingStatus::Failed("offline".into()));
        assert_eq!(
            state.pending[0].status,
            PendingStatus::Failed("offline".into())
        );
        state.set_pending_status(client_id(2), PendingStatus::Sending);
        assert_eq!(state.pending[0].status, PendingStatus::Sending);
        state.discard(client_id(2));
        assert!(state.pending.is_empty());
    }

    #[test]
    fn pages_merge_in_order_without_duplicates() {
        let mut state = state();
        state.apply(&Event::MessageCreated {
            message: message(10, 1),
        });
        state.merge_page(
            ConversationId(1),
            vec![message(8, 1), message(9, 2), message(10, 1)],
        );
        state.merge_page(ConversationId(1), vec![message(5, 2), message(8, 1)]);
        let ids: Vec<i64> = state.messages[&ConversationId(1)]
            .iter()
            .map(|m| m.id.get())
            .collect();
        assert_eq!(ids, [5, 8, 9, 10]);
    }

    #[test]
    fn unread_counts_survive_a_partly_loaded_history() {
        let mut state = state();
        // The server says 30 unread; only live messages are loaded here.
        state.conversations[0].unread_count = 30;
        state.conversations[0].last_message = Some(MessagePreview {
            id: MessageId(40),
            sender: Some(user(1)),
            content: "m40".into(),
            created_at: Utc.timestamp_opt(1_700_000_040, 0).single().expect("time"),
            deleted: false,
        });
        state.apply(&Event::MessageCreated {
            message: message(41, 1),
        });
        assert_eq!(state.conversations[0].unread_count, 31);
        // Reading up to the newest clears it, whatever was loaded.
        state.apply(&Event::SeenMoved {
            conversation_id: ConversationId(1),
            user: user(2),
            up_to_message_id: MessageId(41),
            seen_at: Utc.timestamp_opt(1_700_000_100, 0).single().expect("time"),
        });
        assert_eq!(state.conversations[0].unread_count, 0);
    }
}
