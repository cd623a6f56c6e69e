//! Natter's domain: the values both ends agree on.
//!
//! Everything here is plain Rust plus serde so that the server (`natter-api`) and the
//! browser (`natter-web`, compiled to WebAssembly) validate input with the same code.

pub mod api;
pub mod error;
pub mod event;
pub mod ids;
pub mod mentions;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod search;
pub mod state;
pub mod values;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use ids::{AttachmentId, ConversationId, MessageId, SessionId, UserId};
pub use values::{
    ClientId, ConversationTitle, EmojiKey, FieldError, FileName, MessageBody, Nickname, Password,
    ValidationError,
};
