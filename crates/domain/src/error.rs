//! The error format every API answer uses, and the codes clients can match on.

use serde::{Deserialize, Serialize};

/// What went wrong, in a form a program can branch on. The HTTP status follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be read: malformed JSON, a wrong type, a missing field.
    BadRequest,
    /// No valid token or session.
    Unauthenticated,
    /// Nickname or password is wrong (one answer for both).
    InvalidCredentials,
    /// Signed in, but this action belongs to someone else (e.g. the owner).
    Forbidden,
    /// Unknown, or not visible to the caller.
    NotFound,
    /// The path exists, but not with this method; `Allow` lists those it has.
    MethodNotAllowed,
    /// The nickname is already taken (in any letter case).
    NicknameTaken,
    /// The conversation is closed: readable, but accepts nothing new.
    ConversationClosed,
    /// The owner must hand over ownership before leaving.
    OwnerMustTransfer,
    /// The request body is over the size limit.
    PayloadTooLarge,
    /// `Range` asks for bytes outside the file.
    RangeNotSatisfiable,
    /// Registration is by invitation: `invite_code` is missing or unknown.
    InviteRequired,
    /// The invitation has expired or been used up.
    InviteExpired,
    /// Registration is closed: an admin creates accounts (`natter admin create-user`).
    RegistrationClosed,
    /// An admin has disabled this account: it cannot sign in.
    AccountDisabled,
    /// The instance's last admin cannot stop being one (or be disabled, or leave).
    LastAdmin,
    /// The password given to confirm a change is not the account's.
    WrongPassword,
    /// The password reset code is wrong, used or expired.
    InvalidResetCode,
    /// The message was edited since the version the edit started from; `current`
    /// holds it as it is now.
    VersionConflict,
    /// The message is deleted: it can no longer be edited or reacted to.
    MessageDeleted,
    /// The time to edit this message (`--edit-window`) has passed.
    EditWindowPassed,
    /// A value was read but is not acceptable; `field` names it.
    InvalidValue,
    /// Too many attempts; try again after `Retry-After` seconds.
    RateLimited,
    /// This session (or person) already has the most event streams open that a node
    /// allows; close one first.
    TooManyStreams,
    /// The server cannot reach its database right now.
    Unavailable,
    /// Something failed on the server; details are in its log, not here.
    Internal,
}

impl ErrorCode {
    /// The HTTP status code that goes with this error.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthenticated | Self::InvalidCredentials => 401,
            Self::Forbidden
            | Self::InviteRequired
            | Self::RegistrationClosed
            | Self::AccountDisabled
            | Self::WrongPassword
            | Self::InvalidResetCode
            | Self::EditWindowPassed => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::NicknameTaken
            | Self::ConversationClosed
            | Self::OwnerMustTransfer
            | Self::LastAdmin
            | Self::VersionConflict => 409,
            Self::InviteExpired | Self::MessageDeleted => 410,
            Self::PayloadTooLarge => 413,
            Self::RangeNotSatisfiable => 416,
            Self::InvalidValue => 422,
            Self::RateLimited | Self::TooManyStreams => 429,
            Self::Unavailable => 503,
            Self::Internal => 500,
        }
    }
}

/// `{"error": {...}}`: the body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// With `version_conflict`: the message as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Box<crate::api::Message>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// Plain words for a person.
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>, field: Option<String>) -> Self {
        Self {
            error: ErrorDetail {
                code,
                message: message.into(),
                field,
            },
            current: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_documented_shape() {
        let body = ErrorBody::new(
            ErrorCode::InvalidValue,
            "nickname must not be empty",
            Some("nickname".into()),
        );
        let json = serde_json::to_value(&body).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({"error": {
                "code": "invalid_value",
                "message": "nickname must not be empty",
                "field": "nickname"
            }})
        );
        let without_field = ErrorBody::new(ErrorCode::NotFound, "not found", None);
        let json = serde_json::to_value(&without_field).expect("serialise");
        assert!(json["error"].get("field").is_none());
        assert_eq!(ErrorCode::NicknameTaken.http_status(), 409);
    }
}
