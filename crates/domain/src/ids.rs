//! Typed ids: a `UserId` can never be passed where a `MessageId` is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        /// A positive integer (see [`crate::schema::id`]).
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::schema::id().into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl $name {
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// A registered person.
    UserId
);
id_type!(
    /// One login: every token names one, so it can be revoked.
    SessionId
);
id_type!(
    /// A conversation between two or more members.
    ConversationId
);
id_type!(
    /// A message; ids grow with time within a conversation.
    MessageId
);
id_type!(
    /// An uploaded file: first waiting to be attached, then one of a message's files.
    AttachmentId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_numbers_on_the_wire() {
        let json = serde_json::to_string(&UserId(42)).expect("serialise");
        assert_eq!(json, "42");
        let back: MessageId = serde_json::from_str("7").expect("deserialise");
        assert_eq!(back, MessageId(7));
        assert_eq!("15".parse::<ConversationId>(), Ok(ConversationId(15)));
    }
}
