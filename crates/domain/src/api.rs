//! Request and response bodies of the REST API (`/api`), shared by server and client.
//!
//! Requests carry the raw strings a person typed; `validate` turns them into validated
//! values or a [`FieldError`] naming the field, so the browser can show the same
//! message the server would answer with.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AttachmentId, ConversationId, MessageId, SessionId, UserId};
use crate::values::{
    ClientId, ConversationTitle, FieldError, ForField, MessageBody, Nickname, Password,
    ValidationError,
};

/// `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` when every part works, `degraded` otherwise.
    pub status: ComponentStatus,
    /// Whether a query against PostgreSQL succeeded just now.
    pub database: ComponentStatus,
    /// The server's version.
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Ok,
    Unavailable,
}

/// A person as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub nickname: String,
}

/// `GET /api/me`: the signed-in person, and whether they administer the instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub id: UserId,
    pub nickname: String,
    pub admin: bool,
    /// How long after sending I may edit a message (`--edit-window`); `null` when
    /// there is no limit.
    pub edit_window_seconds: Option<i64>,
}

/// `POST /api/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::nickname))]
    pub nickname: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::password))]
    pub password: String,
    /// Required while registration is by invitation (`--registration invite`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
}

impl RegisterRequest {
    pub fn validate(&self) -> Result<(Nickname, Password), FieldError> {
        Ok((
            Nickname::parse(&self.nickname).for_field("nickname")?,
            Password::parse(&self.password).for_field("password")?,
        ))
    }
}

/// `POST /api/invites`: both optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateInviteRequest {
    /// 1 to 8760 (a year); 168 (a week) if not given.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 8760))]
    pub expires_in_hours: Option<i64>,
    /// 1 to 1000; 1 if not given.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub max_uses: Option<i64>,
}

impl CreateInviteRequest {
    pub const DEFAULT_HOURS: i64 = 168;
    pub const MAX_HOURS: i64 = 8760;
    pub const DEFAULT_USES: i64 = 1;
    pub const MAX_USES: i64 = 1000;

    /// Hours until it expires and how many may register with it.
    pub fn validate(&self) -> Result<(i64, i64), FieldError> {
        let within = |value: Option<i64>, default: i64, max: i64, field: &'static str| {
            let value = value.unwrap_or(default);
            if (1..=max).contains(&value) {
                Ok(value)
            } else {
                Err(FieldError::new(field, ValidationError::OutOfRange { max }))
            }
        };
        Ok((
            within(
                self.expires_in_hours,
                Self::DEFAULT_HOURS,
                Self::MAX_HOURS,
                "expires_in_hours",
            )?,
            within(
                self.max_uses,
                Self::DEFAULT_USES,
                Self::MAX_USES,
                "max_uses",
            )?,
        ))
    }
}

/// An invitation to register, as its admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invite {
    pub code: String,
    /// The web client's sign-up form with the code filled in.
    pub url: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub uses_left: i64,
}

/// A person as an admin sees them (`GET /api/admin/users`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUser {
    pub id: UserId,
    pub nickname: String,
    pub created_at: DateTime<Utc>,
    /// When a request of theirs last came in (noted every few minutes).
    pub last_active_at: Option<DateTime<Utc>>,
    pub admin: bool,
    pub disabled: bool,
}

/// A page of `GET /api/admin/users`, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdminUserPage {
    pub users: Vec<AdminUser>,
    /// Pass as `after` for the next page; `null` on the last.
    pub next_after: Option<UserId>,
}

/// `GET /api/admin/users`: people with ids above `after`, at most `limit` (1–200,
/// default 50).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct AdminUserQuery {
    #[cfg_attr(feature = "openapi", param(minimum = 0), schema(minimum = 0))]
    pub after: Option<i64>,
    #[cfg_attr(
        feature = "openapi",
        param(minimum = 1, maximum = 200),
        schema(minimum = 1, maximum = 200)
    )]
    pub limit: Option<i64>,
}

impl AdminUserQuery {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;

    /// The id to start after and the page size.
    pub fn validate(&self) -> Result<(i64, i64), FieldError> {
        let after = self.after.unwrap_or(0);
        if after < 0 {
            return Err(FieldError::new("after", ValidationError::NotAnId));
        }
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(FieldError::new(
                "limit",
                ValidationError::OutOfRange {
                    max: Self::MAX_LIMIT,
                },
            ));
        }
        Ok((after, limit))
    }
}

/// `PUT /api/me/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::password))]
    pub new_password: String,
}

impl ChangePasswordRequest {
    pub fn validate(&self) -> Result<Password, FieldError> {
        Password::parse(&self.new_password).for_field("new_password")
    }
}

/// `POST /api/password-resets`: the code an admin handed out, and the new password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordResetRequest {
    pub nickname: String,
    pub code: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::password))]
    pub new_password: String,
}

impl PasswordResetRequest {
    pub fn validate(&self) -> Result<Password, FieldError> {
        Password::parse(&self.new_password).for_field("new_password")
    }
}

/// `DELETE /api/me`: my password, to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteAccountRequest {
    pub password: String,
}

/// `POST /api/sessions`. Not validated beyond presence: a wrong value is simply a
/// failed login, answered the same way as an unknown nickname.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub nickname: String,
    pub password: String,
}

/// The answer to registering or logging in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthResponse {
    pub user: User,
    /// A bearer token for `Authorization: Bearer`; browsers get the same in a cookie.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// An emoji of the server's set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Emoji {
    pub key: String,
    pub unicode: String,
}

/// A member of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user: User,
    pub owner: bool,
    /// The member's read watermark: they have seen every message up to this one.
    pub last_seen_message_id: Option<MessageId>,
}

/// A conversation with its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: ConversationId,
    pub title: String,
    pub owner_id: UserId,
    pub members: Vec<Member>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// One entry of `GET /api/conversations`, newest activity first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationSummary {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub last_message: Option<MessagePreview>,
    /// Messages from others after my read pointer, not deleted; at most
    /// [`ConversationSummary::MAX_COUNT`].
    pub unread_count: i64,
    /// Of those, the ones that mention me (by `<@my id>`, or `@all`); at most
    /// [`ConversationSummary::MAX_COUNT`].
    #[serde(default)]
    pub mention_count: i64,
    /// What of this conversation notifies me.
    #[serde(default)]
    pub notification_level: NotificationLevel,
    pub last_activity_at: DateTime<Utc>,
}

impl ConversationSummary {
    /// Unread and mention counts stop here ("99+" in a client).
    pub const MAX_COUNT: i64 = 100;
}

/// What of a conversation notifies me: every message (`all`), those that mention me
/// (`mentions`), or nothing (`none`: muted). By default `all`, and `mentions` in
/// conversations of more than 20 members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotificationLevel {
    #[default]
    All,
    Mentions,
    None,
}

impl NotificationLevel {
    /// Conversations larger than this notify of mentions only, unless I choose.
    pub const ALL_BY_DEFAULT_UP_TO: usize = 20;

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Mentions => "mentions",
            Self::None => "none",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "all" => Ok(Self::All),
            "mentions" => Ok(Self::Mentions),
            "none" => Ok(Self::None),
            _ => Err(ValidationError::NotALevel),
        }
    }

    /// My level: the one I chose, else the default for a conversation of `members`.
    pub fn effective(chosen: Option<Self>, members: usize) -> Self {
        chosen.unwrap_or(if members > Self::ALL_BY_DEFAULT_UP_TO {
            Self::Mentions
        } else {
            Self::All
        })
    }
}

/// `PUT /api/conversations/{id}/notifications`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRequest {
    /// `all`, `mentions` or `none`.
    #[cfg_attr(feature = "openapi", schema(value_type = NotificationLevel))]
    pub level: String,
}

impl NotificationRequest {
    pub fn validate(&self) -> Result<NotificationLevel, FieldError> {
        NotificationLevel::parse(&self.level).for_field("level")
    }
}

/// `PATCH /api/me/settings`: what I share with the people I talk to. A field left
/// out stays as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsRequest {
    #[serde(default)]
    pub share_read_receipts: Option<bool>,
    #[serde(default)]
    pub share_presence: Option<bool>,
}

/// My settings, as `PATCH /api/me/settings` leaves them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonalSettings {
    /// Whether others see that I have read their messages (seen-by and its events).
    /// Off, my read pointer still moves and drives my own unread counts.
    pub share_read_receipts: bool,
    /// Whether others see me online or away (off: always offline to them).
    pub share_presence: bool,
}

/// Whether a person is around: `online` (a stream open and active in the last 10
/// minutes), `away` (a stream open, idle) or `offline` (no stream, or not sharing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Away,
    #[default]
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "online" => Some(Self::Online),
            "away" => Some(Self::Away),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }
}

/// One person's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonPresence {
    pub user_id: UserId,
    pub presence: Presence,
}

/// `GET /api/presence`: everyone I share a conversation with who is not offline
/// (me included). `presence_changed` events keep it current; fetch it again when a
/// stream (re)opens, since they are not replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PresenceList {
    pub people: Vec<PersonPresence>,
}

/// `GET /api/push/key`: the server's VAPID public key (RFC 8292), for
/// `PushManager.subscribe({applicationServerKey})`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushKey {
    /// The uncompressed P-256 point, unpadded base64url (65 bytes).
    pub key: String,
}

/// The keys of a push subscription, as the browser's `PushSubscription.toJSON()`
/// gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushKeys {
    /// The browser's P-256 public key: the uncompressed point (65 bytes, starting
    /// 0x04) in unpadded base64url.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^B[A-Za-z0-9_-]{86}$"))]
    pub p256dh: String,
    /// The authentication secret: 16 bytes in unpadded base64url.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[A-Za-z0-9_-]{21}[AQgw]$"))]
    pub auth: String,
}

/// `POST /api/push/subscriptions`: a browser's push subscription (the shape of
/// `PushSubscription.toJSON()`), stored for me, replacing any with the same endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushSubscriptionRequest {
    /// The push service's URL for this browser: https, or http to a loopback address.
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 2048,
            pattern = r"^(https://|http://(127\.|localhost[:/]|\[::1\]))"
        )
    )]
    pub endpoint: String,
    pub keys: PushKeys,
}

/// `DELETE /api/push/subscriptions`: forget the subscription with this endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushUnsubscribeRequest {
    pub endpoint: String,
}

/// `POST /api/conversations/{id}/unread`: mark unread from this message on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkUnreadRequest {
    /// A message of this conversation: it and everything after it become unread.
    pub from_message_id: MessageId,
}

/// `POST /api/conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateConversationRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::title))]
    pub title: String,
    /// The other members; the creator is added as owner. Duplicates are ignored.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::member_ids))]
    pub member_ids: Vec<UserId>,
}

impl CreateConversationRequest {
    /// The most people one request may name (a conversation may grow beyond it, one
    /// added member at a time, up to the server's `--max-members`).
    pub const MAX_MEMBER_IDS: usize = 100;

    pub fn validate(&self) -> Result<ConversationTitle, FieldError> {
        let title = ConversationTitle::parse(&self.title).for_field("title")?;
        if self.member_ids.len() > Self::MAX_MEMBER_IDS {
            return Err(FieldError::new(
                "member_ids",
                ValidationError::TooManyMembers {
                    max: Self::MAX_MEMBER_IDS,
                },
            ));
        }
        Ok(title)
    }
}

/// `PATCH /api/conversations/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenameConversationRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::title))]
    pub title: String,
}

impl RenameConversationRequest {
    pub fn validate(&self) -> Result<ConversationTitle, FieldError> {
        ConversationTitle::parse(&self.title).for_field("title")
    }
}

/// `POST /api/conversations/{id}/members` and `PUT /api/conversations/{id}/owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRef {
    pub user_id: UserId,
}

/// A message with everything a client shows next to it.
///
/// A deleted message is a tombstone: `deleted` is true, and it keeps only its id,
/// conversation, sender, time, version and who had seen it; `content` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// `null` when the sender has deleted their account ("Deleted account").
    pub sender: Option<User>,
    /// The raw text as it was written (formatting is the client's); absent once
    /// deleted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    pub client_id: Option<ClientId>,
    pub created_at: DateTime<Utc>,
    /// 1 when sent; each edit, and the deletion, adds one. A client holding a copy
    /// applies a change only if it brings a higher version.
    #[serde(default = "first_version")]
    pub version: i64,
    /// When it was last edited; `null` until then.
    #[serde(default)]
    pub edited_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deleted: bool,
    /// The message this one answers, as it is now (not as it was when answered).
    #[serde(default)]
    pub reply_to: Option<ReplyTo>,
    /// Its files, in the order they were attached; absent when it has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    pub reactions: Vec<ReactionSummary>,
    pub seen_by: Vec<SeenEntry>,
}

const fn first_version() -> i64 {
    1
}

impl Message {
    /// Whether `user` sent it (never, once its sender's account is deleted).
    pub fn sent_by(&self, user: UserId) -> bool {
        self.sender.as_ref().is_some_and(|sender| sender.id == user)
    }

    /// Who sent it, as people see it.
    pub fn sender_name(&self) -> &str {
        sender_name(self.sender.as_ref())
    }

    /// Makes this the tombstone of a message deleted at `version`: what it said, what
    /// it answered and its reactions are gone.
    pub fn erase(&mut self, version: i64) {
        self.content.clear();
        self.client_id = None;
        self.version = version;
        self.edited_at = None;
        self.deleted = true;
        self.reply_to = None;
        self.attachments.clear();
        self.reactions.clear();
    }

    /// What a reply to this message shows of it.
    pub fn as_reply_target(&self) -> ReplyTo {
        ReplyTo {
            id: self.id,
            sender: self.sender.clone(),
            excerpt: excerpt(&self.content),
            deleted: self.deleted,
        }
    }
}

/// The message a reply answers, built when read: an edit of it shows in every reply
/// at once, and a deletion leaves only `deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplyTo {
    pub id: MessageId,
    pub sender: Option<User>,
    /// The start of its text, at most [`EXCERPT_CHARS`] characters; empty once
    /// deleted.
    pub excerpt: String,
    pub deleted: bool,
}

/// The longest excerpt of a message that a reply shows.
pub const EXCERPT_CHARS: usize = 140;

/// The start of `content` a reply shows: all of it up to [`EXCERPT_CHARS`]
/// characters, else the first ones and an ellipsis, within that length. (PostgreSQL's
/// send statement builds the same in SQL; a test holds the two together.)
pub fn excerpt(content: &str) -> String {
    if content.chars().count() <= EXCERPT_CHARS {
        return content.to_owned();
    }
    let mut cut: String = content.chars().take(EXCERPT_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// What stands for a sender whose account is deleted.
pub const DELETED_ACCOUNT: &str = "Deleted account";

/// The nickname of `sender`, or [`DELETED_ACCOUNT`].
pub fn sender_name(sender: Option<&User>) -> &str {
    sender.map_or(DELETED_ACCOUNT, |sender| sender.nickname.as_str())
}

/// The newest message of a conversation, as the conversation list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePreview {
    pub id: MessageId,
    /// `null` when the sender has deleted their account.
    pub sender: Option<User>,
    /// Empty once deleted.
    pub content: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub deleted: bool,
}

impl MessagePreview {
    pub fn of(message: &Message) -> Self {
        Self {
            id: message.id,
            sender: message.sender.clone(),
            content: message.content.clone(),
            created_at: message.created_at,
            deleted: message.deleted,
        }
    }
}

/// `PATCH /api/messages/{id}`: the new text, and the version it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EditMessageRequest {
    /// The new text. It may be empty (`""`) for a message that carries files.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::message_body))]
    pub content: String,
    /// The version being edited: if the message has moved on since, 409
    /// `version_conflict` answers the current one instead.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub expected_version: i64,
}

impl EditMessageRequest {
    /// The new text, which may be empty: only the message knows whether it carries
    /// files, without which it must say something.
    pub fn validate(&self) -> Result<MessageBody, FieldError> {
        MessageBody::parse_caption(&self.content).for_field("content")
    }
}

/// An earlier version of an edited message (`GET /api/messages/{id}/edits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageEdit {
    pub version: i64,
    pub content: String,
    /// When this version was written: the message's time, or the edit that made it.
    pub written_at: DateTime<Utc>,
    /// When the next edit replaced it.
    pub replaced_at: DateTime<Utc>,
}

/// One of my sign-ins, as `GET /api/sessions` lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub id: SessionId,
    pub created_at: DateTime<Utc>,
    /// When a request last used it (noted every few minutes, not at every request).
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The browser or tool that signed in, as it named itself.
    pub user_agent: Option<String>,
    /// Whether this is the session of the request that asked.
    pub current: bool,
}

/// `GET /api/users?q=`: people whose nickname starts with `q`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct UserSearchQuery {
    /// The start of a nickname: at least [`Self::MIN_CHARS`] characters.
    #[cfg_attr(feature = "openapi", param(min_length = 2), schema(min_length = 2))]
    pub q: String,
}

impl UserSearchQuery {
    /// The shortest prefix searched for: one letter would list everyone, a page at a
    /// time, to anyone who asks.
    pub const MIN_CHARS: usize = 2;

    /// The prefix, or which rule it breaks.
    pub fn validate(&self) -> Result<&str, FieldError> {
        let q = self.q.as_str();
        if q.chars().count() < Self::MIN_CHARS {
            return Err(FieldError::new(
                "q",
                ValidationError::TooShort {
                    min: Self::MIN_CHARS,
                },
            ));
        }
        Ok(q)
    }
}

/// All reactions with one emoji on one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReactionSummary {
    pub emoji: String,
    pub unicode: String,
    pub count: i64,
    pub reacted_by_me: bool,
    pub users: Vec<User>,
}

/// Who has seen a message, and when they first did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeenEntry {
    pub user: User,
    pub first_seen_at: DateTime<Utc>,
}

/// A page of history, oldest first within the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub has_older: bool,
    pub has_newer: bool,
}

/// A file: as `POST /api/uploads` answers it, and as one of a message's attachments.
/// Its bytes are at `GET /api/attachments/{id}`, and when `thumbnail` is true a
/// smaller copy (at most 400 px a side) at `GET /api/attachments/{id}/thumbnail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: AttachmentId,
    /// The name it was uploaded under, cleaned (see [`crate::FileName`]).
    pub filename: String,
    /// In bytes, as served (an image's metadata removed).
    pub size: i64,
    /// Found from its bytes, never taken from the uploader.
    pub content_type: String,
    /// Pixels, for an image that could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    #[serde(default)]
    pub thumbnail: bool,
}

impl Attachment {
    /// The types shown in the page (served inline); every other file is downloaded.
    pub const INLINE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];
    /// A message carries at most this many.
    pub const MAX_PER_MESSAGE: usize = 10;

    pub fn is_inline_image(&self) -> bool {
        Self::INLINE_TYPES.contains(&self.content_type.as_str())
    }

    pub fn url(&self) -> String {
        format!("/api/attachments/{}", self.id)
    }

    pub fn thumbnail_url(&self) -> String {
        format!("/api/attachments/{}/thumbnail", self.id)
    }
}

/// `POST /api/uploads?filename=`: the file's bytes are the request's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct UploadQuery {
    /// Its name, shown and offered on download: what follows the last `/` or `\`,
    /// without control or text-direction characters and leading or trailing dots
    /// and spaces, shortened to 200 characters. Never used as a path.
    #[cfg_attr(
        feature = "openapi",
        // A literal (a parameter's `schema_with` would lose `required`): after the
        // last separator, a character that is not a dot, white space, a control or a
        // text-direction mark. FileName::parse refuses exactly the rest (a property
        // test in crate::schema holds the two together).
        param(
            min_length = 1,
            pattern = r"[^\u0000-\u0020\u007f-\u00a0\u061c\u1680\u2000-\u200a\u200e\u200f\u2028-\u202f\u205f\u2066-\u2069\u3000./\\][^/\\]*$"
        )
    )]
    pub filename: String,
}

/// `POST /api/conversations/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SendMessageRequest {
    /// The text. It may be empty (`""`) when `attachment_ids` names files.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::message_body))]
    pub content: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::client_id))]
    pub client_id: Option<String>,
    /// The message this one answers: a message of the same conversation, not deleted.
    #[serde(default)]
    pub reply_to_id: Option<MessageId>,
    /// Files to attach (at most 10): my own uploads, not attached to any message yet.
    #[serde(default)]
    pub attachment_ids: Vec<AttachmentId>,
}

impl SendMessageRequest {
    pub fn validate(&self) -> Result<(MessageBody, Option<ClientId>), FieldError> {
        let ids = &self.attachment_ids;
        if ids.len() > Attachment::MAX_PER_MESSAGE {
            return Err(FieldError::new(
                "attachment_ids",
                ValidationError::TooManyFiles {
                    max: Attachment::MAX_PER_MESSAGE,
                },
            ));
        }
        if ids.iter().any(|id| id.get() <= 0) {
            return Err(FieldError::new(
                "attachment_ids",
                ValidationError::NotMyUpload,
            ));
        }
        if ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id)) {
            return Err(FieldError::new("attachment_ids", ValidationError::Repeated));
        }
        let body = if ids.is_empty() {
            MessageBody::parse(&self.content)
        } else {
            MessageBody::parse_caption(&self.content)
        }
        .for_field("content")?;
        let client_id = self
            .client_id
            .as_deref()
            .map(ClientId::parse)
            .transpose()
            .for_field("client_id")?;
        Ok((body, client_id))
    }
}

/// `GET /api/conversations/{id}/messages`: `before`, `after` or `around` a message
/// id (one of them), at most `limit` ([`Self::MAX_LIMIT`], default [`Self::DEFAULT_LIMIT`])
/// messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct HistoryQuery {
    /// Messages older than this one (the page just above it).
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::schema::cursor),
        param(schema_with = crate::schema::cursor)
    )]
    pub before: Option<MessageId>,
    /// Messages newer than this one (the page just below it); 0 for the oldest.
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::schema::cursor),
        param(schema_with = crate::schema::cursor)
    )]
    pub after: Option<MessageId>,
    /// The page centred on this message (half before it, it, the rest after): for
    /// jumping to a message.
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::schema::cursor),
        param(schema_with = crate::schema::cursor)
    )]
    pub around: Option<MessageId>,
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::schema::history_limit),
        param(schema_with = crate::schema::history_limit)
    )]
    pub limit: Option<i64>,
}

impl HistoryQuery {
    /// Messages in a page when the query does not say.
    pub const DEFAULT_LIMIT: i64 = 50;
    /// The most messages a page may hold.
    pub const MAX_LIMIT: i64 = 100;
}

/// `GET /api/search`: messages of the conversations I am a member of that hold `q`,
/// newest first, a page at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
pub struct SearchQuery {
    /// What to find: words (all of them, anywhere in a message), a part of a word, or
    /// a `"quoted phrase"`; on PostgreSQL also `or` and `-word` (without). 1–200
    /// characters.
    #[cfg_attr(
        feature = "openapi",
        // A literal here (a parameter's `schema_with` would lose `required`): some
        // character besides white space, controls and text-direction marks, which
        // count as spaces. crate::schema::search_text says the same for the schema.
        param(
            min_length = 1,
            max_length = 200,
            pattern = r"[^\u0000-\u0020\u007f-\u00a0\u061c\u1680\u2000-\u200f\u2028-\u202f\u205f\u2066-\u2069\u3000]"
        ),
        schema(schema_with = crate::schema::search_text)
    )]
    pub q: String,
    /// Only this conversation (404 if I am not in it).
    pub conversation_id: Option<ConversationId>,
    /// Only messages from this person.
    pub sender_id: Option<UserId>,
    /// Only messages older than this one: the `next_before` of the page before.
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::schema::cursor),
        param(schema_with = crate::schema::cursor)
    )]
    pub before: Option<MessageId>,
    #[cfg_attr(
        feature = "openapi",
        schema(schema_with = crate::schema::search_limit),
        param(schema_with = crate::schema::search_limit)
    )]
    pub limit: Option<i64>,
}

impl SearchQuery {
    /// Results in a page when the query does not say.
    pub const DEFAULT_LIMIT: i64 = 20;
    /// The most results a page may hold.
    pub const MAX_LIMIT: i64 = 50;

    /// The cleaned query and the page size, or which rule they break.
    pub fn validate(&self) -> Result<(crate::search::SearchText, i64), FieldError> {
        let text = crate::search::SearchText::parse(&self.q).for_field("q")?;
        let limit = self.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(FieldError::new(
                "limit",
                ValidationError::OutOfRange {
                    max: Self::MAX_LIMIT,
                },
            ));
        }
        for (field, id) in [
            (
                "conversation_id",
                self.conversation_id.map(ConversationId::get),
            ),
            ("sender_id", self.sender_id.map(UserId::get)),
            ("before", self.before.map(MessageId::get)),
        ] {
            if id.is_some_and(|id| id < 0) {
                return Err(FieldError::new(field, ValidationError::NotAnId));
            }
        }
        Ok((text, limit))
    }
}

/// Characters `start..end` of a text (Unicode scalar values, counted from 0, `end`
/// exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TextRange {
    pub start: usize,
    pub end: usize,
}

/// One message found by a search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchHit {
    /// The message as history shows it, with what it answers, but without its
    /// reactions and seen-by (empty here: open it with `…/messages?around=` for them).
    pub message: Message,
    pub conversation_id: ConversationId,
    pub conversation_title: String,
    /// Who sent it (as in `message`); `null` for a deleted account.
    pub sender: Option<User>,
    /// Where the query is in `message.content`, to be marked (not HTML).
    pub highlights: Vec<TextRange>,
    /// The message holds the whole query as typed (case aside); such messages come
    /// first in their page.
    pub exact: bool,
}

/// A page of search results: the newest matches older than `before`, those holding
/// the exact phrase first, then newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchPage {
    pub results: Vec<SearchHit>,
    /// The `before` of the next page; `null` when nothing older matches.
    pub next_before: Option<MessageId>,
}

/// `GET /api/conversations/{id}/export`: everything a member can see of a
/// conversation, as one document (streamed, so any length takes bounded memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationExport {
    pub exported_at: DateTime<Utc>,
    pub id: ConversationId,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub members: Vec<ExportedMember>,
    /// Every message, oldest first.
    pub messages: Vec<ExportedMessage>,
}

/// A member in an export: who, since when, and how far they have read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedMember {
    pub user: User,
    pub owner: bool,
    pub joined_at: DateTime<Utc>,
    pub last_seen_message_id: Option<MessageId>,
}

/// A message in an export, with each reaction and when it was made, and who has
/// seen it and when they first did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedMessage {
    pub id: MessageId,
    /// `null` when the sender has deleted their account.
    pub sender: Option<User>,
    /// Empty once deleted.
    pub content: String,
    pub created_at: DateTime<Utc>,
    pub version: i64,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    pub reply_to_id: Option<MessageId>,
    /// Its files (their bytes are at `GET /api/attachments/{id}`); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    pub reactions: Vec<ExportedReaction>,
    pub seen_by: Vec<SeenEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExportedReaction {
    pub emoji: String,
    pub unicode: String,
    pub user: User,
    pub created_at: DateTime<Utc>,
}

/// My read state in a conversation after marking messages seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Watermark {
    /// My read pointer: everything up to it is read.
    pub last_seen_message_id: Option<MessageId>,
    pub unread_count: i64,
    #[serde(default)]
    pub mention_count: i64,
}

/// `POST /api/conversations/{id}/seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MarkSeenRequest {
    pub up_to_message_id: MessageId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_validation_names_the_field() {
        let request = RegisterRequest {
            nickname: " ".into(),
            password: "long enough".into(),
            invite_code: None,
        };
        assert_eq!(
            request.validate(),
            Err(FieldError::new("nickname", ValidationError::Empty))
        );
        let request = RegisterRequest {
            nickname: "alice".into(),
            password: "short".into(),
            invite_code: None,
        };
        let error = request.validate().expect_err("too short");
        assert_eq!(error.field, "password");
        assert_eq!(
            error.to_string(),
            "password must be at least 8 characters long"
        );
    }

    #[test]
    fn send_validation_checks_client_id() {
        let request = SendMessageRequest {
            content: "hi".into(),
            client_id: Some("not-a-uuid".into()),
            reply_to_id: None,
            attachment_ids: Vec::new(),
        };
        assert_eq!(request.validate().expect_err("bad uuid").field, "client_id");
    }

    #[test]
    fn files_may_come_without_text_but_not_too_many_or_twice() {
        let with = |ids: Vec<i64>, content: &str| SendMessageRequest {
            content: content.into(),
            client_id: None,
            reply_to_id: None,
            attachment_ids: ids.into_iter().map(AttachmentId).collect(),
        };
        assert!(with(vec![1], "").validate().is_ok());
        assert_eq!(
            with(vec![], "").validate().expect_err("empty").field,
            "content"
        );
        let eleven = with((1..=11).collect(), "hi")
            .validate()
            .expect_err("too many");
        assert_eq!(eleven.field, "attachment_ids");
        let twice = with(vec![3, 3], "").validate().expect_err("twice");
        assert_eq!(twice.field, "attachment_ids");
        assert_eq!(
            with(vec![0], "").validate().expect_err("zero").field,
            "attachment_ids"
        );
    }

    #[test]
    fn excerpts_keep_short_text_and_cut_long_text_with_an_ellipsis() {
        assert_eq!(excerpt("short"), "short");
        let exact = "é".repeat(EXCERPT_CHARS);
        assert_eq!(excerpt(&exact), exact);
        let long = format!("{exact}x");
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS);
        assert!(cut.ends_with('…'));
        assert!(cut.starts_with(&"é".repeat(EXCERPT_CHARS - 1)));
    }

    #[test]
    fn a_tombstone_has_no_content() {
        let mut message: Message = serde_json::from_value(serde_json::json!({
            "id": 1, "conversation_id": 2, "sender": {"id": 3, "nickname": "ada"},
            "content": "secret", "client_id": null, "created_at": "2026-11-30T00:00:00Z",
            "reactions": [], "seen_by": []
        }))
        .expect("a message from before edits");
        assert_eq!((message.version, message.deleted), (1, false));
        message.erase(2);
        let json = serde_json::to_value(&message).expect("serialise");
        assert!(json.get("content").is_none());
        assert_eq!(json["deleted"], true);
        assert_eq!(json["version"], 2);
        assert!(!json.to_string().contains("secret"));
    }

    #[test]
    fn server_owned_fields_in_a_request_are_ignored() {
        // Identity and time come from the token and the server, never the body.
        let parsed: SendMessageRequest = serde_json::from_str(
            r#"{"content":"hi","sender_id":1,"created_at":"2020-01-01T00:00:00Z"}"#,
        )
        .expect("extra fields are ignored");
        assert_eq!(parsed.content, "hi");
        assert!(serde_json::from_str::<SendMessageRequest>(r#"{"contnet":"hi"}"#).is_err());
    }
}
