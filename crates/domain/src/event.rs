//! Live events pushed on `GET /api/events`. Each carries what a client needs to
//! update its state without fetching again.
//!
//! The kinds are defined here once: [`EventKind`] is derived from [`Event`], its names
//! are the SSE `event:` names and the JSON `type` tags, the server stores and dispatches
//! by them, and the browser listens for every one of [`EventKind::all`] (an
//! `EventSource` delivers a named event only to listeners of that name).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{ConversationSummary, Member, Message, Presence, User};
use crate::ids::{ConversationId, MessageId, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum_discriminants(
    name(EventKind),
    derive(Hash, strum::EnumIter, strum::IntoStaticStr, strum::EnumString),
    strum(serialize_all = "snake_case"),
    doc = "What an [`Event`] is, without its data: its `type` and SSE `event:` name."
)]
pub enum Event {
    MessageCreated {
        message: Message,
    },
    /// The whole message after an edit. Apply it only over a copy of a lower
    /// `version`: a replay or a late arrival cannot roll an edit back. Its reactions
    /// and seen-by are as anyone sees them (`reacted_by_me` is false): keep your own.
    MessageEdited {
        message: Message,
    },
    /// The message is now a tombstone at `version`: its text, edit history and
    /// reactions are erased, and replies to it show it deleted.
    MessageDeleted {
        conversation_id: ConversationId,
        message_id: MessageId,
        version: i64,
    },
    ReactionAdded {
        conversation_id: ConversationId,
        message_id: MessageId,
        emoji: String,
        unicode: String,
        user: User,
    },
    ReactionRemoved {
        conversation_id: ConversationId,
        message_id: MessageId,
        emoji: String,
        user: User,
    },
    SeenMoved {
        conversation_id: ConversationId,
        user: User,
        up_to_message_id: MessageId,
        seen_at: DateTime<Utc>,
    },
    /// My read state in a conversation changed (I read on, or marked unread, in
    /// another tab or device): for my own streams only.
    ReadStateChanged {
        conversation_id: ConversationId,
        last_seen_message_id: Option<MessageId>,
        unread_count: i64,
        mention_count: i64,
    },
    MemberAdded {
        conversation_id: ConversationId,
        member: Member,
    },
    MemberRemoved {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    ConversationRenamed {
        conversation_id: ConversationId,
        title: String,
    },
    ConversationClosed {
        conversation_id: ConversationId,
        closed_at: DateTime<Utc>,
    },
    OwnershipTransferred {
        conversation_id: ConversationId,
        from: UserId,
        to: UserId,
    },
    /// The recipient was added to a conversation (or created one elsewhere).
    AddedToConversation {
        conversation: Box<ConversationSummary>,
    },
    /// Someone (not me) is typing in a conversation: shown for 6 s unless repeated,
    /// and ended by their next message. Never stored in the log, never replayed, and
    /// sent without an `id:`.
    Typing {
        conversation_id: ConversationId,
        user: User,
    },
    /// Someone I share a conversation with came online, went away or went offline.
    /// Merged: at most one per person per 10 s. Never stored, never replayed, sent
    /// without an `id:`; fetch `GET /api/presence` when a stream (re)opens.
    PresenceChanged {
        user_id: UserId,
        presence: Presence,
    },
    /// A stream opened without a cursor starts here: `position` is the stream's
    /// current position (also the event's `id:`). Never stored in the log.
    Ready {
        position: i64,
    },
    /// The stream cannot replay from the client's cursor: reload everything. Never
    /// stored in the log.
    Resync,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub fn all() -> impl Iterator<Item = Self> {
        <Self as strum::IntoEnumIterator>::iter()
    }

    /// The kind's name: the event's JSON `type` and its SSE `event:` name.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether events of this kind are kept in the event log: all but `ready` and
    /// `resync`, which only a stream says, of itself, and `typing` and
    /// `presence_changed`, which pass.
    pub fn is_logged(self) -> bool {
        !matches!(
            self,
            Self::Ready | Self::Resync | Self::Typing | Self::PresenceChanged
        )
    }

    /// Whether an event of this kind changes who may see a conversation.
    pub fn changes_membership(self) -> bool {
        matches!(
            self,
            Self::AddedToConversation | Self::MemberAdded | Self::MemberRemoved
        )
    }

    /// The kind named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        name.parse().ok()
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        self.into()
    }

    /// The conversation this event belongs to, if any.
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            Self::MessageCreated { message } | Self::MessageEdited { message } => {
                Some(message.conversation_id)
            }
            Self::MessageDeleted {
                conversation_id, ..
            }
            | Self::ReactionAdded {
                conversation_id, ..
            }
            | Self::ReactionRemoved {
                conversation_id, ..
            }
            | Self::SeenMoved {
                conversation_id, ..
            }
            | Self::ReadStateChanged {
                conversation_id, ..
            }
            | Self::Typing {
                conversation_id, ..
            }
            | Self::MemberAdded {
                conversation_id, ..
            }
            | Self::MemberRemoved {
                conversation_id, ..
            }
            | Self::ConversationRenamed {
                conversation_id, ..
            }
            | Self::ConversationClosed {
                conversation_id, ..
            }
            | Self::OwnershipTransferred {
                conversation_id, ..
            } => Some(*conversation_id),
            Self::AddedToConversation { conversation } => Some(conversation.conversation.id),
            Self::PresenceChanged { .. } | Self::Ready { .. } | Self::Resync => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Conversation;

    fn user() -> User {
        User {
            id: UserId(1),
            nickname: "ada".into(),
        }
    }

    fn message() -> Message {
        Message {
            id: MessageId(9),
            conversation_id: ConversationId(3),
            sender: Some(user()),
            content: "hi".into(),
            client_id: None,
            created_at: DateTime::UNIX_EPOCH,
            version: 1,
            edited_at: None,
            deleted: false,
            reply_to: Some(crate::api::ReplyTo {
                id: MessageId(8),
                sender: None,
                excerpt: "earlier".into(),
                deleted: false,
            }),
            attachments: Vec::new(),
            reactions: Vec::new(),
            seen_by: Vec::new(),
        }
    }

    /// An event of `kind`. The match is exhaustive, so a new variant of [`Event`] does
    /// not compile until it has a sample here, and then the test below checks it.
    fn sample(kind: EventKind) -> Event {
        let conversation_id = ConversationId(3);
        let at = DateTime::UNIX_EPOCH;
        match kind {
            EventKind::MessageCreated => Event::MessageCreated { message: message() },
            EventKind::MessageEdited => Event::MessageEdited {
                message: Message {
                    version: 2,
                    edited_at: Some(at),
                    ..message()
                },
            },
            EventKind::MessageDeleted => Event::MessageDeleted {
                conversation_id,
                message_id: MessageId(9),
                version: 3,
            },
            EventKind::ReactionAdded => Event::ReactionAdded {
                conversation_id,
                message_id: MessageId(9),
                emoji: "thumbs_up".into(),
                unicode: "👍".into(),
                user: user(),
            },
            EventKind::ReactionRemoved => Event::ReactionRemoved {
                conversation_id,
                message_id: MessageId(9),
                emoji: "thumbs_up".into(),
                user: user(),
            },
            EventKind::SeenMoved => Event::SeenMoved {
                conversation_id,
                user: user(),
                up_to_message_id: MessageId(9),
                seen_at: at,
            },
            EventKind::ReadStateChanged => Event::ReadStateChanged {
                conversation_id,
                last_seen_message_id: Some(MessageId(9)),
                unread_count: 2,
                mention_count: 1,
            },
            EventKind::MemberAdded => Event::MemberAdded {
                conversation_id,
                member: Member {
                    user: user(),
                    owner: false,
                    last_seen_message_id: None,
                },
            },
            EventKind::MemberRemoved => Event::MemberRemoved {
                conversation_id,
                user_id: UserId(1),
            },
            EventKind::ConversationRenamed => Event::ConversationRenamed {
                conversation_id,
                title: "Launch".into(),
            },
            EventKind::ConversationClosed => Event::ConversationClosed {
                conversation_id,
                closed_at: at,
            },
            EventKind::OwnershipTransferred => Event::OwnershipTransferred {
                conversation_id,
                from: UserId(1),
                to: UserId(2),
            },
            EventKind::AddedToConversation => Event::AddedToConversation {
                conversation: Box::new(ConversationSummary {
                    conversation: Conversation {
                        id: conversation_id,
                        title: "Launch".into(),
                        owner_id: UserId(1),
                        members: Vec::new(),
                        created_at: at,
                        closed_at: None,
                    },
                    last_message: None,
                    unread_count: 0,
                    mention_count: 0,
                    notification_level: crate::api::NotificationLevel::All,
                    last_activity_at: at,
                }),
            },
            EventKind::Typing => Event::Typing {
                conversation_id,
                user: user(),
            },
            EventKind::PresenceChanged => Event::PresenceChanged {
                user_id: UserId(1),
                presence: Presence::Away,
            },
            EventKind::Ready => Event::Ready { position: 7 },
            EventKind::Resync => Event::Resync,
        }
    }

    #[test]
    fn every_event_reaches_the_browser_under_its_own_name() {
        // The browser listens for exactly these names (crates/web/src/store.rs).
        let listened: Vec<&str> = EventKind::all().map(EventKind::name).collect();
        for kind in EventKind::all() {
            let event = sample(kind);
            assert_eq!(event.kind(), kind);
            let json = serde_json::to_value(&event).expect("serialise");
            let tag = json["type"].as_str().expect("a type tag");
            assert_eq!(tag, kind.name(), "the JSON type is the SSE event name");
            assert!(
                listened.contains(&tag),
                "the browser does not listen for {tag}"
            );
            assert_eq!(EventKind::from_name(tag), Some(kind));
            let back: Event = serde_json::from_value(json).expect("deserialise");
            assert_eq!(back, event);
        }
        let distinct: std::collections::HashSet<&str> = listened.iter().copied().collect();
        assert_eq!(distinct.len(), listened.len(), "two kinds share a name");
        assert_eq!(EventKind::from_name("no_such_event"), None);
    }

    #[test]
    fn events_are_tagged_by_type() {
        let event = Event::ConversationRenamed {
            conversation_id: ConversationId(3),
            title: "Launch".into(),
        };
        let json = serde_json::to_value(&event).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({"type": "conversation_renamed", "conversation_id": 3, "title": "Launch"})
        );
        let back: Event = serde_json::from_value(json).expect("deserialise");
        assert_eq!(back, event);
        assert_eq!(back.conversation_id(), Some(ConversationId(3)));
    }
}
