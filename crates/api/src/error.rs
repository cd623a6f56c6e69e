//! The one error type at the HTTP edge. Every failure becomes the documented JSON
//! body; internal causes go to the log, never to the client.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{ALLOW, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};
use natter_domain::{ErrorBody, ErrorCode, FieldError};

use crate::db::{DbError, Refusal};

/// How long a client should wait before trying again when the database is away: about
/// what a PostgreSQL restart takes.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A value was read but refused; names the field (422).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The request could not be read (400).
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<String>,
    },
    /// An error with a fixed code and a message for people.
    #[error("{message}")]
    Coded {
        code: ErrorCode,
        message: &'static str,
    },
    /// As [`Self::Coded`], about one field of the request.
    #[error("{field}: {message}")]
    CodedField {
        code: ErrorCode,
        message: &'static str,
        field: &'static str,
    },
    /// Unknown, or not visible to the caller (404).
    #[error("not found")]
    NotFound,
    /// An edit of a version that is no longer the message's (409); the body holds the
    /// message as it is now.
    #[error("version conflict")]
    VersionConflict(Box<natter_domain::api::Message>),
    /// The path exists, but not with this method (405); `allow` lists those it has.
    #[error("method not allowed")]
    MethodNotAllowed { allow: String },
    /// No database connection could be had in time, or it broke (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Over a rate limit or a throttle (429): try again after `retry_after`.
    #[error("{message}")]
    RateLimited {
        retry_after: Duration,
        message: &'static str,
    },
    /// Too much work is waiting already, e.g. for the password threads (503).
    #[error("overloaded: {0}")]
    Overloaded(&'static str),
    /// Anything else (500). Logged with its cause; the client sees a generic message.
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn unauthenticated() -> Self {
        Self::Coded {
            code: ErrorCode::Unauthenticated,
            message: "sign in first: the token is missing, invalid, expired or revoked",
        }
    }

    pub fn forbidden(message: &'static str) -> Self {
        Self::Coded {
            code: ErrorCode::Forbidden,
            message,
        }
    }

    pub fn coded(code: ErrorCode, message: &'static str) -> Self {
        Self::Coded { code, message }
    }

    pub fn invalid(field: &'static str, error: natter_domain::ValidationError) -> Self {
        Self::Invalid(FieldError::new(field, error))
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(_) => ErrorCode::InvalidValue,
            Self::BadRequest { .. } => ErrorCode::BadRequest,
            Self::Coded { code, .. } | Self::CodedField { code, .. } => *code,
            Self::NotFound => ErrorCode::NotFound,
            Self::VersionConflict(_) => ErrorCode::VersionConflict,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::Unavailable(_) | Self::Overloaded(_) => ErrorCode::Unavailable,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn body(&self) -> ErrorBody {
        match self {
            Self::Invalid(error) => ErrorBody::new(
                ErrorCode::InvalidValue,
                error.to_string(),
                Some(error.field.to_string()),
            ),
            Self::BadRequest { message, field } => {
                ErrorBody::new(ErrorCode::BadRequest, message.clone(), field.clone())
            }
            Self::Coded { code, message } => ErrorBody::new(*code, *message, None),
            Self::CodedField {
                code,
                message,
                field,
            } => ErrorBody::new(*code, *message, Some((*field).to_owned())),
            Self::NotFound => ErrorBody::new(ErrorCode::NotFound, "not found", None),
            Self::VersionConflict(current) => ErrorBody {
                current: Some(current.clone()),
                ..ErrorBody::new(
                    ErrorCode::VersionConflict,
                    "the message was edited meanwhile: here it is as it is now",
                    Some("expected_version".into()),
                )
            },
            Self::MethodNotAllowed { allow } => ErrorBody::new(
                ErrorCode::MethodNotAllowed,
                format!("this path answers {allow} only"),
                None,
            ),
            Self::Unavailable(_) => ErrorBody::new(
                ErrorCode::Unavailable,
                "the database is unavailable; try again shortly",
                None,
            ),
            Self::Overloaded(_) => ErrorBody::new(
                ErrorCode::Unavailable,
                "the server is busy; try again shortly",
                None,
            ),
            Self::RateLimited { message, .. } => {
                ErrorBody::new(ErrorCode::RateLimited, *message, None)
            }
            Self::Internal(_) => ErrorBody::new(
                ErrorCode::Internal,
                "something went wrong on the server",
                None,
            ),
        }
    }
}

impl From<crate::auth::password::QueueError> for ApiError {
    fn from(error: crate::auth::password::QueueError) -> Self {
        match error {
            crate::auth::password::QueueError::Full => {
                Self::Overloaded("too many password checks waiting")
            }
            gone @ crate::auth::password::QueueError::Gone => Self::Internal(gone.into()),
        }
    }
}

/// The one mapping from the database layer's answers to HTTP.
impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        if error.is_connection_lost() {
            // Retryable (the database restarted, or the network dropped), not a bug.
            return Self::Unavailable(error.to_string());
        }
        match error {
            DbError::Busy(what) => Self::Overloaded(what),
            DbError::Query(diesel::result::Error::NotFound)
            | DbError::Refused(Refusal::NotFound) => Self::NotFound,
            DbError::Refused(refusal) => refusal.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound => Self::NotFound,
            Refusal::NotOwner(message) => Self::forbidden(message),
            Refusal::OwnerMustTransfer => Self::coded(
                ErrorCode::OwnerMustTransfer,
                "hand over ownership to another member before leaving",
            ),
            Refusal::Closed => Self::coded(
                ErrorCode::ConversationClosed,
                "this conversation is closed: it takes no new messages or reactions",
            ),
            Refusal::SignedOut => Self::unauthenticated(),
            Refusal::Invalid(error) => Self::Invalid(error),
            Refusal::Coded {
                code,
                message,
                field: None,
            } => Self::Coded { code, message },
            Refusal::Coded {
                code,
                message,
                field: Some(field),
            } => Self::CodedField {
                code,
                message,
                field,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Internal(_) => {
                tracing::error!(error = %self, "request failed");
            }
            Self::Unavailable(_) | Self::Overloaded(_) => {
                tracing::warn!(error = %self, "request refused");
                response.insert_header((RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECS));
            }
            Self::RateLimited { retry_after, .. } => {
                // Whole seconds, rounded up: never "0" while the wait is not over.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                response.insert_header((RETRY_AFTER, seconds.max(1)));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((ALLOW, allow.as_str()));
            }
            _ => {}
        }
        response.json(self.body())
    }
}
