//! Typed calls to the REST API. Every function returns the documented body or an
//! [`ApiError`] a page can show in plain words.
//!
//! The browser is signed in by the HttpOnly session cookie the server sets at login;
//! every request carries `X-Requested-With`, which the server demands of
//! cookie-authenticated writes so other sites cannot forge them.

use std::fmt::{self, Write as _};

use gloo_net::http::{Method, RequestBuilder, Response};
use natter_domain::api::{
    AdminUser, AdminUserPage, AuthResponse, ChangePasswordRequest, Conversation,
    ConversationSummary, CreateConversationRequest, CreateInviteRequest, DeleteAccountRequest,
    EditMessageRequest, Emoji, Health, HistoryQuery, Invite, LoginRequest, MarkSeenRequest,
    MarkUnreadRequest, Me, Message, MessagePage, NotificationLevel, NotificationRequest,
    ReactionSummary, RegisterRequest, RenameConversationRequest, SearchPage, SearchQuery,
    SendMessageRequest, SessionInfo, User, UserRef, Watermark,
};
use natter_domain::{ConversationId, ErrorBody, ErrorCode, MessageId, SessionId, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Fired on `window` when the server no longer accepts our session, so the app can
/// return to the login page whatever call noticed it.
pub const SESSION_ENDED_EVENT: &str = "natter:session-ended";

#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server could not be reached at all.
    Network,
    /// The server answered with its error format.
    Server { status: u16, body: ErrorBody },
    /// The server answered something this client does not understand.
    Unexpected { status: u16 },
}

impl ApiError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server { body, .. } => Some(body.error.code),
            _ => None,
        }
    }

    /// The field the server named as the cause, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Server { body, .. } => body.error.field.as_deref(),
            _ => None,
        }
    }

    /// Whether trying the same request again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Network => true,
            Self::Server { status, .. } | Self::Unexpected { status } => {
                *status >= 500 || *status == 429
            }
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network => f.write_str("The server cannot be reached. Check your connection."),
            Self::Server { body, .. } => f.write_str(&sentence(&body.error.message)),
            Self::Unexpected { status } => {
                write!(f, "The server answered unexpectedly ({status}).")
            }
        }
    }
}

/// The server's messages are lower-case phrases ("nickname is already taken"); shown
/// alone, they read better as sentences.
pub fn sentence(text: &str) -> String {
    let mut chars = text.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn request(method: Method, path: &str) -> RequestBuilder {
    RequestBuilder::new(&format!("/api{path}"))
        .method(method)
        .header("X-Requested-With", "natter-web")
}

async fn send(builder: RequestBuilder, body: Option<String>) -> Result<Response, ApiError> {
    let sent = match body {
        Some(json) => {
            builder
                .header("Content-Type", "application/json")
                .body(json)
                .map_err(|_| ApiError::Network)?
                .send()
                .await
        }
        None => builder.send().await,
    };
    let response = sent.map_err(|_| ApiError::Network)?;
    if response.ok() {
        return Ok(response);
    }
    let status = response.status();
    let error = match response.json::<ErrorBody>().await {
        Ok(body) => ApiError::Server { status, body },
        Err(_) => ApiError::Unexpected { status },
    };
    if error.code() == Some(ErrorCode::Unauthenticated) {
        announce_session_ended();
    }
    Err(error)
}

fn announce_session_ended() {
    if let Some(window) = web_sys::window()
        && let Ok(event) = web_sys::Event::new(SESSION_ENDED_EVENT)
    {
        let _ = window.dispatch_event(&event);
    }
}

async fn call<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<T, ApiError> {
    let json = body
        .map(serde_json::to_string)
        .transpose()
        .map_err(|_| ApiError::Network)?;
    let response = send(request(method, path), json).await?;
    let status = response.status();
    response
        .json()
        .await
        .map_err(|_| ApiError::Unexpected { status })
}

async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    call(Method::GET, path, None::<&()>).await
}

/// `GET /api/health`. A 503 still carries a [`Health`] body saying what is down.
pub async fn health() -> Result<Health, ApiError> {
    let response = request(Method::GET, "/health")
        .send()
        .await
        .map_err(|_| ApiError::Network)?;
    let status = response.status();
    if status == 200 || status == 503 {
        return response
            .json()
            .await
            .map_err(|_| ApiError::Unexpected { status });
    }
    Err(ApiError::Unexpected { status })
}

pub async fn register(request: &RegisterRequest) -> Result<AuthResponse, ApiError> {
    call(Method::POST, "/users", Some(request)).await
}

pub async fn login(request: &LoginRequest) -> Result<AuthResponse, ApiError> {
    call(Method::POST, "/sessions", Some(request)).await
}

pub async fn logout() -> Result<(), ApiError> {
    send(request(Method::DELETE, "/sessions/current"), None).await?;
    Ok(())
}

/// My signed-in sessions, newest first.
pub async fn sessions() -> Result<Vec<SessionInfo>, ApiError> {
    get("/sessions").await
}

/// Ends one of my sessions (maybe this one).
pub async fn end_session(id: SessionId) -> Result<(), ApiError> {
    send(request(Method::DELETE, &format!("/sessions/{id}")), None).await?;
    Ok(())
}

/// Signs out every session of mine, this one too.
pub async fn sign_out_everywhere() -> Result<(), ApiError> {
    send(request(Method::DELETE, "/sessions"), None).await?;
    Ok(())
}

/// Sends `body` as JSON and expects no answer body (204).
async fn send_json(method: Method, path: &str, body: &impl Serialize) -> Result<(), ApiError> {
    let json = serde_json::to_string(body).map_err(|_| ApiError::Network)?;
    send(request(method, path), Some(json)).await?;
    Ok(())
}

/// Changes my password; my other sessions end.
pub async fn change_password(request: &ChangePasswordRequest) -> Result<(), ApiError> {
    send_json(Method::PUT, "/me/password", request).await
}

/// Deletes my account for good.
pub async fn delete_account(request: &DeleteAccountRequest) -> Result<(), ApiError> {
    send_json(Method::DELETE, "/me", request).await
}

pub async fn me() -> Result<User, ApiError> {
    get("/me").await
}

/// Whether I administer the instance.
pub async fn am_admin() -> Result<bool, ApiError> {
    get::<Me>("/me").await.map(|me| me.admin)
}

/// How long after sending I may edit a message (`None`: no limit).
pub async fn edit_window_seconds() -> Result<Option<i64>, ApiError> {
    get::<Me>("/me").await.map(|me| me.edit_window_seconds)
}

/// A page of everyone, by id, after `after`.
pub async fn admin_users(after: Option<UserId>) -> Result<AdminUserPage, ApiError> {
    let after = after.map_or(0, UserId::get);
    get(&format!("/admin/users?after={after}&limit=100")).await
}

/// Disables or enables someone; answers them as they now are.
pub async fn set_disabled(id: UserId, disabled: bool) -> Result<AdminUser, ApiError> {
    let action = if disabled { "disable" } else { "enable" };
    call(
        Method::POST,
        &format!("/admin/users/{id}/{action}"),
        None::<&()>,
    )
    .await
}

pub async fn invites() -> Result<Vec<Invite>, ApiError> {
    get("/invites").await
}

/// A new invitation with the server's defaults (a week, one use).
pub async fn create_invite() -> Result<Invite, ApiError> {
    call(
        Method::POST,
        "/invites",
        Some(&CreateInviteRequest::default()),
    )
    .await
}

pub async fn revoke_invite(code: &str) -> Result<(), ApiError> {
    send(request(Method::DELETE, &format!("/invites/{code}")), None).await?;
    Ok(())
}

pub async fn search_users(prefix: &str) -> Result<Vec<User>, ApiError> {
    let query = js_sys::encode_uri_component(prefix);
    get(&format!("/users?q={query}")).await
}

/// Messages of my conversations that hold `query.q`.
pub async fn search(query: &SearchQuery) -> Result<SearchPage, ApiError> {
    let mut path = format!("/search?q={}", js_sys::encode_uri_component(&query.q));
    for (name, value) in [
        (
            "conversation_id",
            query.conversation_id.map(ConversationId::get),
        ),
        ("sender_id", query.sender_id.map(UserId::get)),
        ("before", query.before.map(MessageId::get)),
        ("limit", query.limit),
    ] {
        if let Some(value) = value {
            let _ = write!(path, "&{name}={value}");
        }
    }
    get(&path).await
}

pub async fn emojis() -> Result<Vec<Emoji>, ApiError> {
    get("/emojis").await
}

pub async fn conversations() -> Result<Vec<ConversationSummary>, ApiError> {
    get("/conversations").await
}

pub async fn create_conversation(
    request: &CreateConversationRequest,
) -> Result<Conversation, ApiError> {
    call(Method::POST, "/conversations", Some(request)).await
}

pub async fn rename(id: ConversationId, title: String) -> Result<Conversation, ApiError> {
    let body = RenameConversationRequest { title };
    call(Method::PATCH, &format!("/conversations/{id}"), Some(&body)).await
}

pub async fn close(id: ConversationId) -> Result<Conversation, ApiError> {
    call(
        Method::POST,
        &format!("/conversations/{id}/close"),
        None::<&()>,
    )
    .await
}

pub async fn add_member(id: ConversationId, user_id: UserId) -> Result<Conversation, ApiError> {
    let body = UserRef { user_id };
    call(
        Method::POST,
        &format!("/conversations/{id}/members"),
        Some(&body),
    )
    .await
}

/// Removes a member, or leaves when `user_id` is me.
pub async fn remove_member(id: ConversationId, user_id: UserId) -> Result<(), ApiError> {
    let path = format!("/conversations/{id}/members/{user_id}");
    send(request(Method::DELETE, &path), None).await?;
    Ok(())
}

pub async fn transfer_ownership(
    id: ConversationId,
    user_id: UserId,
) -> Result<Conversation, ApiError> {
    let body = UserRef { user_id };
    call(
        Method::PUT,
        &format!("/conversations/{id}/owner"),
        Some(&body),
    )
    .await
}

pub async fn history(id: ConversationId, query: HistoryQuery) -> Result<MessagePage, ApiError> {
    let mut path = format!(
        "/conversations/{id}/messages?limit={}",
        query.limit.unwrap_or(50)
    );
    if let Some(before) = query.before {
        let _ = write!(path, "&before={before}");
    }
    if let Some(after) = query.after {
        let _ = write!(path, "&after={after}");
    }
    if let Some(around) = query.around {
        let _ = write!(path, "&around={around}");
    }
    get(&path).await
}

/// Replaces the text of my message, if it is still at `expected_version`.
pub async fn edit_message(
    id: MessageId,
    content: String,
    expected_version: i64,
) -> Result<Message, ApiError> {
    let body = EditMessageRequest {
        content,
        expected_version,
    };
    call(Method::PATCH, &format!("/messages/{id}"), Some(&body)).await
}

/// Deletes a message (mine, or any in a conversation I own).
pub async fn delete_message(id: MessageId) -> Result<(), ApiError> {
    send(request(Method::DELETE, &format!("/messages/{id}")), None).await?;
    Ok(())
}

pub async fn send_message(
    id: ConversationId,
    request: &SendMessageRequest,
) -> Result<Message, ApiError> {
    call(
        Method::POST,
        &format!("/conversations/{id}/messages"),
        Some(request),
    )
    .await
}

/// Chooses what of a conversation notifies me.
pub async fn set_notification_level(
    id: ConversationId,
    level: NotificationLevel,
) -> Result<(), ApiError> {
    let body = NotificationRequest {
        level: level.as_str().to_owned(),
    };
    send_json(
        Method::PUT,
        &format!("/conversations/{id}/notifications"),
        &body,
    )
    .await
}

/// Tells the conversation's other members I am typing.
pub async fn typing(id: ConversationId) -> Result<(), ApiError> {
    send(
        request(Method::POST, &format!("/conversations/{id}/typing")),
        None,
    )
    .await
    .map(drop)
}

/// Marks unread from message `from` on.
pub async fn mark_unread(id: ConversationId, from: MessageId) -> Result<Watermark, ApiError> {
    let body = MarkUnreadRequest {
        from_message_id: from,
    };
    call(
        Method::POST,
        &format!("/conversations/{id}/unread"),
        Some(&body),
    )
    .await
}

pub async fn mark_seen(id: ConversationId, up_to: MessageId) -> Result<Watermark, ApiError> {
    let body = MarkSeenRequest {
        up_to_message_id: up_to,
    };
    call(
        Method::POST,
        &format!("/conversations/{id}/seen"),
        Some(&body),
    )
    .await
}

/// Adds (`on`) or removes my reaction with `emoji` on a message.
pub async fn react(
    message: MessageId,
    emoji: &str,
    on: bool,
) -> Result<Vec<ReactionSummary>, ApiError> {
    let method = if on { Method::PUT } else { Method::DELETE };
    call(
        method,
        &format!("/messages/{message}/reactions/{emoji}"),
        None::<&()>,
    )
    .await
}

/// `GET /api/presence`: who is around among the people I talk to.
pub async fn presence() -> Result<natter_domain::api::PresenceList, ApiError> {
    get("/presence").await
}

/// `GET /api/push/key`: the server's VAPID public key, base64url.
pub async fn push_key() -> Result<String, ApiError> {
    get::<natter_domain::api::PushKey>("/push/key")
        .await
        .map(|key| key.key)
}

/// `POST /api/push/subscriptions` with a `PushSubscription` as the browser writes
/// it in JSON.
pub async fn push_subscribe(subscription_json: String) -> Result<(), ApiError> {
    send(
        request(Method::POST, "/push/subscriptions"),
        Some(subscription_json),
    )
    .await?;
    Ok(())
}

/// `DELETE /api/push/subscriptions`: this browser no longer takes my pushes.
pub async fn push_unsubscribe(endpoint: String) -> Result<(), ApiError> {
    send_json(
        Method::DELETE,
        "/push/subscriptions",
        &natter_domain::api::PushUnsubscribeRequest { endpoint },
    )
    .await
}
