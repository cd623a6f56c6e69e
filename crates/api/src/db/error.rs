//! What the database layer answers when it does not do what was asked: the database's
//! own error, no connection in time, or a refusal by the rules of the product. The
//! HTTP layer maps each to its status in one place (`From<DbError> for ApiError`).

use diesel::result::{DatabaseErrorKind, Error};
use natter_domain::{ErrorCode, FieldError};

pub type DbResult<T> = Result<T, DbError>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// A statement failed; see [`DbError::is_connection_lost`].
    #[error(transparent)]
    Query(#[from] Error),
    /// No connection could be had within the pool's timeout, or it was lost.
    #[error("no database connection: {0}")]
    NoConnection(String),
    /// A batch of sends failed as a whole, for a reason that is not the connection's
    /// (see `messages::send`).
    #[error("a batch of sends failed: {0}")]
    Batch(String),
    /// The request breaks a rule of the product.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Too much is waiting already (the send writer's queue is full): refused at once
    /// rather than queued without bound.
    #[error("overloaded: {0}")]
    Busy(&'static str),
    /// The work panicked on its blocking thread (a bug), or the server is stopping.
    #[error("the database work did not finish: {0}")]
    Blocking(#[from] actix_web::error::BlockingError),
}

/// A request refused by the product's rules, whatever the backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Unknown, or not visible to the caller (not a member).
    #[error("not found")]
    NotFound,
    /// Only the conversation's owner may do this; the message says what, to people.
    #[error("not the owner: {0}")]
    NotOwner(&'static str),
    /// The owner must hand over ownership before leaving.
    #[error("the owner must hand over ownership first")]
    OwnerMustTransfer,
    /// The conversation is closed: it takes no new messages or reactions.
    #[error("the conversation is closed")]
    Closed,
    /// The caller's session was revoked or has expired.
    #[error("signed out")]
    SignedOut,
    /// A value that only the database can judge (a person who does not exist).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// Any other rule, with its code, a message for people and the field at fault.
    #[error("{message}")]
    Coded {
        code: ErrorCode,
        message: &'static str,
        field: Option<&'static str>,
    },
}

impl Refusal {
    pub const fn coded(code: ErrorCode, message: &'static str) -> Self {
        Self::Coded {
            code,
            message,
            field: None,
        }
    }
}

impl DbError {
    /// Whether the connection to the database is gone (it restarted, or the network
    /// dropped): the request may be tried again once it is back.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Self::Query(error) => is_connection_lost(error),
            Self::NoConnection(_) => true,
            Self::Refused(_) | Self::Blocking(_) | Self::Batch(_) | Self::Busy(_) => false,
        }
    }

    /// Whether the connection that answered this may be trusted for the next use:
    /// refusals and a statement the server refused say nothing against it.
    pub(crate) fn leaves_connection_sound(&self) -> bool {
        matches!(
            self,
            Self::Refused(_) | Self::Query(Error::NotFound | Error::DatabaseError(..))
        ) && !self.is_connection_lost()
    }
}

/// Whether `error` says the connection is gone: libpq reports a dead socket as "no
/// connection to the server" (unable to send) and a server that went away mid-answer
/// (restart, `pg_terminate_backend`) as a closed connection.
pub fn is_connection_lost(error: &Error) -> bool {
    matches!(
        error,
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

impl From<diesel::r2d2::PoolError> for DbError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::NoConnection(error.to_string())
    }
}

impl From<FieldError> for DbError {
    fn from(error: FieldError) -> Self {
        Self::Refused(Refusal::Invalid(error))
    }
}
