//! Live events pushed on `GET /api/events`. Each carries what a client needs to
//! update its state without fetching again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::{ConversationSummary, Member, Message, User};
use crate::ids::{ConversationId, MessageId, UserId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    MessageCreated {
        message: Message,
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
    /// The stream cannot replay from the client's cursor: reload everything.
    Resync,
}

impl Event {
    /// The conversation this event belongs to, if any.
    pub fn conversation_id(&self) -> Option<ConversationId> {
        match self {
            Self::MessageCreated { message } => Some(message.conversation_id),
            Self::ReactionAdded {
                conversation_id, ..
            }
            | Self::ReactionRemoved {
                conversation_id, ..
            }
            | Self::SeenMoved {
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
            Self::Resync => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
