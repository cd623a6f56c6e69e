//! Validated values. Each is built only by `parse`, so holding one proves it is valid;
//! the server enforces and the browser pre-checks with this same code.

use std::borrow::Cow;
use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// Why a value was refused. The API turns it into a 422 naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at least {min} characters long")]
    TooShort { min: usize },
    #[error("must be at most {max} characters long")]
    TooLong { max: usize },
    #[error("must not contain control characters")]
    ControlCharacter,
    #[error("must not contain invisible or text-direction characters")]
    InvisibleCharacter,
    #[error("may contain only letters, digits, single spaces and . _ - ' (found {0:?})")]
    DisallowedCharacter(char),
    #[error("may contain only a-z, 0-9 and _")]
    NotAKey,
    #[error("must be a UUID")]
    NotAUuid,
    #[error("must be valid UTF-8")]
    NotUtf8,
    #[error("must name at least {min} other person")]
    TooFewMembers { min: usize },
    #[error("must name at most {max} people")]
    TooManyMembers { max: usize },
    #[error("cannot be added: the conversation already has {max} members, the most allowed")]
    ConversationFull { max: usize },
    #[error("must be a message id, or 0")]
    NotAnId,
    #[error("names someone who is not registered ({0})")]
    UnknownUser(i64),
    #[error("must be between 1 and {max}")]
    OutOfRange { max: i64 },
    #[error("must name a message of this conversation that is not deleted")]
    NotInConversation,
    #[error("must name at most {max} files")]
    TooManyFiles { max: usize },
    #[error("must name files I uploaded that are not attached to a message yet")]
    NotMyUpload,
    #[error("names the same file more than once")]
    Repeated,
    #[error("must be all, mentions or none")]
    NotALevel,
    #[error("must be an https URL (http only to a loopback address) of at most {max} characters")]
    NotAPushEndpoint { max: usize },
    #[error("must be {bytes} bytes in unpadded base64url")]
    WrongKeyLength { bytes: usize },
    #[error("must be an uncompressed P-256 public key")]
    NotAPublicKey,
}

/// A [`ValidationError`] together with the request field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {error}")]
pub struct FieldError {
    pub field: Cow<'static, str>,
    pub error: ValidationError,
}

impl FieldError {
    pub fn new(field: impl Into<Cow<'static, str>>, error: ValidationError) -> Self {
        Self {
            field: field.into(),
            error,
        }
    }
}

/// Extension to name the field a validation result belongs to.
pub trait ForField<T> {
    fn for_field(self, field: &'static str) -> Result<T, FieldError>;
}

impl<T> ForField<T> for Result<T, ValidationError> {
    fn for_field(self, field: &'static str) -> Result<T, FieldError> {
        self.map_err(|error| FieldError::new(field, error))
    }
}

/// Code points that render as nothing (Unicode's `Default_Ignorable_Code_Point`, which
/// also covers every bidi control): in a nickname they let two people look identical.
pub(crate) const DEFAULT_IGNORABLE: [RangeInclusive<char>; 17] = [
    '\u{00AD}'..='\u{00AD}',
    '\u{034F}'..='\u{034F}',
    '\u{061C}'..='\u{061C}',
    '\u{115F}'..='\u{1160}',
    '\u{17B4}'..='\u{17B5}',
    '\u{180B}'..='\u{180F}',
    '\u{200B}'..='\u{200F}',
    '\u{202A}'..='\u{202E}',
    '\u{2060}'..='\u{206F}',
    '\u{3164}'..='\u{3164}',
    '\u{FE00}'..='\u{FE0F}',
    '\u{FEFF}'..='\u{FEFF}',
    '\u{FFA0}'..='\u{FFA0}',
    '\u{FFF0}'..='\u{FFF8}',
    '\u{1BCA0}'..='\u{1BCA3}',
    '\u{1D173}'..='\u{1D17A}',
    '\u{E0000}'..='\u{E0FFF}',
];

/// Explicit text-direction controls (embeddings, overrides, isolates). Titles and
/// messages may hold joiners (emoji sequences need them) but not these, which can make
/// the text around them read backwards.
pub(crate) const BIDI_CONTROLS: [RangeInclusive<char>; 4] = [
    '\u{061C}'..='\u{061C}',
    '\u{200E}'..='\u{200F}',
    '\u{202A}'..='\u{202E}',
    '\u{2066}'..='\u{2069}',
];

fn is_default_ignorable(c: char) -> bool {
    DEFAULT_IGNORABLE.iter().any(|range| range.contains(&c))
}

pub(crate) fn is_bidi_control(c: char) -> bool {
    BIDI_CONTROLS.iter().any(|range| range.contains(&c))
}

fn nfc(s: &str) -> String {
    s.nfc().collect()
}

fn check_length(s: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let chars = s.chars().count();
    if chars == 0 {
        Err(ValidationError::Empty)
    } else if chars < min {
        Err(ValidationError::TooShort { min })
    } else if chars > max {
        Err(ValidationError::TooLong { max })
    } else {
        Ok(())
    }
}

macro_rules! string_value {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;

            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

/// A person's public name: 1–32 letters, marks, digits, `. _ - '` and single inner
/// spaces, stored in NFC. Two nicknames are the same person when their
/// [`canonical`](Self::canonical) forms (NFKC + case folding) are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Nickname(String);

impl Nickname {
    pub const MAX_CHARS: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::ControlCharacter);
        }
        if raw
            .chars()
            .any(|c| is_default_ignorable(c) || c.general_category() == GeneralCategory::Format)
        {
            return Err(ValidationError::InvisibleCharacter);
        }
        let value = nfc(raw.trim());
        check_length(&value, 1, Self::MAX_CHARS)?;
        let mut previous = ' ';
        for c in value.chars() {
            let allowed = match c.general_category_group() {
                GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number => true,
                // A combining mark must follow something it can combine with.
                GeneralCategoryGroup::Mark => previous != ' ',
                _ => matches!(c, '.' | '_' | '-' | '\'') || (c == ' ' && previous != ' '),
            };
            if !allowed {
                return Err(ValidationError::DisallowedCharacter(c));
            }
            previous = c;
        }
        Ok(Self(value))
    }

    /// The comparison key: NFKC, full case folding, NFKC again (Unicode's
    /// `NFKC_Casefold` up to the ignorables, which [`parse`](Self::parse) rejects).
    /// "ＡＬＩＣＥ", "Alice" and "alice" share one key; so do "Straße" and "STRASSE".
    pub fn canonical(&self) -> String {
        let compatible: String = self.0.nfkc().collect();
        caseless::default_case_fold_str(&compatible)
            .nfkc()
            .collect()
    }
}

string_value!(Nickname);

impl fmt::Display for Nickname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password: 8–1024 characters, kept exactly as typed (no trimming, no truncation:
/// long passphrases are welcome). Never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_length(raw, Self::MIN_CHARS, Self::MAX_CHARS)?;
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::ControlCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Password {
    type Error = ValidationError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A conversation's title: 1–100 characters after trimming, NFC, no control or
/// text-direction characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversationTitle(String);

impl ConversationTitle {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::ControlCharacter);
        }
        if raw.chars().any(is_bidi_control) {
            return Err(ValidationError::InvisibleCharacter);
        }
        let value = nfc(raw.trim());
        check_length(&value, 1, Self::MAX_CHARS)?;
        Ok(Self(value))
    }
}

string_value!(ConversationTitle);

/// A message's text: 1–4000 characters after trimming, line breaks and tabs allowed,
/// other control characters and text-direction overrides refused. `\r\n` becomes `\n`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageBody(String);

impl MessageBody {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let body = Self::parse_caption(raw)?;
        if body.0.is_empty() {
            return Err(ValidationError::Empty);
        }
        Ok(body)
    }

    /// As [`Self::parse`], but empty (or blank) is allowed: the text of a message
    /// that carries files.
    pub fn parse_caption(raw: &str) -> Result<Self, ValidationError> {
        let unified = raw.replace("\r\n", "\n");
        if unified
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(ValidationError::ControlCharacter);
        }
        if unified.chars().any(is_bidi_control) {
            return Err(ValidationError::InvisibleCharacter);
        }
        let value = nfc(unified.trim());
        if value.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(value))
    }
}

string_value!(MessageBody);

/// The name an uploaded file is shown and downloaded under, cleaned of anything that
/// could make it a path or hide what it is: only what follows the last `/` or `\`,
/// without control or text-direction characters, without leading dots and trailing
/// dots or spaces, at most [`Self::MAX_CHARS`] characters (the extension kept). It is
/// never used to name anything in storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileName(String);

impl FileName {
    pub const MAX_CHARS: usize = 200;
    /// The longest extension kept whole when a long name is shortened.
    const MAX_EXTENSION_CHARS: usize = 16;

    /// Cleans `raw`; refuses it only when nothing is left.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let kept: String = last
            .chars()
            .filter(|&c| !c.is_control() && !is_bidi_control(c))
            .collect();
        let kept = nfc(&kept);
        let cleaned = kept
            .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
            .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
        if cleaned.is_empty() {
            return Err(ValidationError::Empty);
        }
        Ok(Self(shorten(
            cleaned,
            Self::MAX_CHARS,
            Self::MAX_EXTENSION_CHARS,
        )))
    }

    /// The part after the last dot, if there is one.
    pub fn extension(&self) -> Option<&str> {
        self.0.rsplit_once('.').map(|(_, extension)| extension)
    }
}

string_value!(FileName);

/// `name` cut to `max` characters, keeping its extension (up to `max_extension`).
fn shorten(name: &str, max: usize, max_extension: usize) -> String {
    if name.chars().count() <= max {
        return name.to_owned();
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension))
            if !stem.is_empty() && extension.chars().count() <= max_extension =>
        {
            (stem, Some(extension))
        }
        _ => (name, None),
    };
    let room = max - extension.map_or(0, |e| e.chars().count() + 1);
    let mut short: String = stem.chars().take(room).collect();
    short.truncate(short.trim_end().len());
    if let Some(extension) = extension {
        short.push('.');
        short.push_str(extension);
    }
    short
}

/// The key of an emoji in the server's set, such as `thumbs_up`: 1–32 of `a-z 0-9 _`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmojiKey(String);

impl EmojiKey {
    pub const MAX_CHARS: usize = 32;
    /// What [`EmojiKey::parse`] accepts.
    pub const PATTERN: &str = "^[a-z0-9_]{1,32}$";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        check_length(raw, 1, Self::MAX_CHARS)?;
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ValidationError::NotAKey);
        }
        Ok(Self(raw.to_owned()))
    }
}

string_value!(EmojiKey);

/// A client-chosen id for a message being sent, so that a retried send is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, format = "uuid"))]
#[serde(transparent)]
pub struct ClientId(uuid::Uuid);

impl ClientId {
    /// Every form [`ClientId::parse`] reads: hyphenated, simple, braced or URN, in
    /// either letter case.
    pub const PATTERN: &str = "^(?:[0-9A-Fa-f]{32}\
        |[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\
        |\\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\\}\
        |urn:uuid:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$";

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        uuid::Uuid::parse_str(raw)
            .map(Self)
            .map_err(|_| ValidationError::NotAUuid)
    }

    pub const fn from_uuid(id: uuid::Uuid) -> Self {
        Self(id)
    }

    pub const fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl fmt::Display for ClientId {
    /// The canonical form stored in the database: lowercase, hyphenated.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nickname_accepts_names_from_many_scripts() {
        for name in [
            "alice",
            "Bob Smith",
            "o'neil",
            "ana-maria_2",
            "Zoë",
            "José",
            "Ωμέγα",
            "李小龍",
            "محمد",
            "नमस्ते",
            "Q",
        ] {
            assert!(Nickname::parse(name).is_ok(), "{name} should be accepted");
        }
    }

    #[test]
    fn nickname_is_trimmed_and_composed() {
        let decomposed = Nickname::parse("  Zoe\u{0308} ").expect("valid");
        assert_eq!(decomposed.as_str(), "Zoë");
    }

    #[test]
    fn nickname_refuses_empty_and_blank() {
        assert_eq!(Nickname::parse(""), Err(ValidationError::Empty));
        assert_eq!(Nickname::parse("   "), Err(ValidationError::Empty));
    }

    #[test]
    fn nickname_refuses_over_long() {
        let long = "a".repeat(Nickname::MAX_CHARS + 1);
        assert_eq!(
            Nickname::parse(&long),
            Err(ValidationError::TooLong { max: 32 })
        );
        assert!(Nickname::parse(&"é".repeat(Nickname::MAX_CHARS)).is_ok());
    }

    #[test]
    fn nickname_refuses_control_characters() {
        for name in ["ali\0ce", "ali\nce", "alice\u{7}", "ali\u{85}ce", "\talice"] {
            assert_eq!(
                Nickname::parse(name),
                Err(ValidationError::ControlCharacter),
                "{name:?}"
            );
        }
    }

    #[test]
    fn nickname_refuses_invisible_and_bidi_characters() {
        for name in [
            "ali\u{200B}ce",  // zero-width space
            "ali\u{200D}ce",  // zero-width joiner
            "\u{202E}ecila",  // right-to-left override
            "alice\u{2066}",  // left-to-right isolate
            "\u{FEFF}alice",  // byte order mark
            "ali\u{00AD}ce",  // soft hyphen
            "\u{3164}",       // Hangul filler: a "letter" that shows nothing
            "alice\u{FE0F}",  // variation selector
            "alice\u{E0041}", // tag character
            "a\u{2060}lice",  // word joiner
        ] {
            assert_eq!(
                Nickname::parse(name),
                Err(ValidationError::InvisibleCharacter),
                "{name:?}"
            );
        }
    }

    #[test]
    fn nickname_refuses_markup_symbols_and_odd_spaces() {
        for (name, bad) in [
            ("<script>", '<'),
            ("a  b", ' '),
            ("a\u{00A0}b", '\u{00A0}'),
            ("a@b", '@'),
            ("smile😀", '😀'),
            ("\u{0301}a", '\u{0301}'),
        ] {
            assert_eq!(
                Nickname::parse(name),
                Err(ValidationError::DisallowedCharacter(bad)),
                "{name:?}"
            );
        }
    }

    #[test]
    fn nickname_canonical_form_folds_case_and_compatibility() {
        let key = |s: &str| Nickname::parse(s).expect("valid").canonical();
        assert_eq!(key("Alice"), "alice");
        assert_eq!(key("ALICE"), key("alice"));
        assert_eq!(key("ＡＬＩＣＥ"), key("alice")); // fullwidth
        assert_eq!(key("Straße"), key("STRASSE"));
        assert_eq!(key("ǅemal"), key("DŽEMAL"));
        assert_eq!(key("Zoe\u{0308}"), key("ZOË"));
        assert_eq!(key("ﬁona"), key("FIONA")); // ligature
        assert_ne!(key("alice"), key("alicf"));
    }

    #[test]
    fn nickname_round_trips_through_serde_with_validation() {
        let ok: Nickname = serde_json::from_str("\"Alice\"").expect("valid");
        assert_eq!(ok.as_str(), "Alice");
        assert!(serde_json::from_str::<Nickname>("\"a\\u0000b\"").is_err());
    }

    #[test]
    fn password_bounds_and_no_trimming() {
        assert_eq!(
            Password::parse("short"),
            Err(ValidationError::TooShort { min: 8 })
        );
        assert_eq!(Password::parse(""), Err(ValidationError::Empty));
        let spaced = Password::parse("  spaces around  ").expect("valid");
        assert_eq!(spaced.expose(), "  spaces around  ");
        let long = "correct horse battery staple ".repeat(35);
        assert_eq!(Password::parse(&long).expect("valid").expose(), long);
        assert_eq!(
            Password::parse(&"x".repeat(1025)),
            Err(ValidationError::TooLong { max: 1024 })
        );
        assert_eq!(
            Password::parse("password\0"),
            Err(ValidationError::ControlCharacter)
        );
    }

    #[test]
    fn password_never_shows_in_debug_output() {
        let password = Password::parse("hunter2hunter2").expect("valid");
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn title_rules() {
        assert_eq!(
            ConversationTitle::parse("  Launch plan ")
                .expect("valid")
                .as_str(),
            "Launch plan"
        );
        assert!(ConversationTitle::parse("Family 👨\u{200D}👩\u{200D}👧").is_ok());
        assert!(ConversationTitle::parse("<b>bold</b> & \"quotes\"").is_ok());
        assert_eq!(
            ConversationTitle::parse(" \t"),
            Err(ValidationError::ControlCharacter)
        );
        assert_eq!(ConversationTitle::parse("   "), Err(ValidationError::Empty));
        assert_eq!(
            ConversationTitle::parse("a\u{202E}b"),
            Err(ValidationError::InvisibleCharacter)
        );
        assert_eq!(
            ConversationTitle::parse(&"t".repeat(101)),
            Err(ValidationError::TooLong { max: 100 })
        );
    }

    #[test]
    fn file_names_are_cleaned_and_never_paths() {
        let clean = |raw: &str| FileName::parse(raw).map(FileName::into_inner);
        assert_eq!(clean("report.pdf").as_deref(), Ok("report.pdf"));
        assert_eq!(clean("../../etc/passwd").as_deref(), Ok("passwd"));
        assert_eq!(clean("C:\\Users\\me\\cat.png").as_deref(), Ok("cat.png"));
        assert_eq!(clean("..\\..\\x").as_deref(), Ok("x"));
        assert_eq!(clean(".htaccess").as_deref(), Ok("htaccess"));
        assert_eq!(
            clean("invoice\u{202e}fdp.exe").as_deref(),
            Ok("invoicefdp.exe")
        );
        assert_eq!(clean("a\0b\nc\u{7}.txt").as_deref(), Ok("abc.txt"));
        assert_eq!(clean("notes. . ").as_deref(), Ok("notes"));
        assert_eq!(clean("dir/"), Err(ValidationError::Empty));
        assert_eq!(clean(".."), Err(ValidationError::Empty));
        assert_eq!(clean("\u{202e}\u{200f}"), Err(ValidationError::Empty));
        let long = format!("{}.jpeg", "x".repeat(500));
        let short = clean(&long).expect("valid");
        assert_eq!(short.chars().count(), FileName::MAX_CHARS);
        assert!(short.ends_with("x.jpeg"));
        let no_extension = clean(&"é".repeat(300)).expect("valid");
        assert_eq!(no_extension.chars().count(), FileName::MAX_CHARS);
    }

    #[test]
    fn a_caption_may_be_empty_and_a_message_may_not() {
        assert_eq!(
            MessageBody::parse_caption(" \n ").map(MessageBody::into_inner),
            Ok(String::new())
        );
        assert_eq!(MessageBody::parse(" \n "), Err(ValidationError::Empty));
        assert_eq!(
            MessageBody::parse_caption("a\u{1b}"),
            Err(ValidationError::ControlCharacter)
        );
    }

    #[test]
    fn message_body_rules() {
        let body = MessageBody::parse("  line one\r\n\tline two\n").expect("valid");
        assert_eq!(body.as_str(), "line one\n\tline two");
        assert_eq!(MessageBody::parse("\n \n"), Err(ValidationError::Empty));
        assert_eq!(
            MessageBody::parse("nul\0here"),
            Err(ValidationError::ControlCharacter)
        );
        assert_eq!(
            MessageBody::parse("esc\u{1b}[31m"),
            Err(ValidationError::ControlCharacter)
        );
        assert!(MessageBody::parse("<img src=x onerror=alert(1)>").is_ok());
        assert!(MessageBody::parse(&"😀".repeat(MessageBody::MAX_CHARS)).is_ok());
        assert_eq!(
            MessageBody::parse(&"x".repeat(MessageBody::MAX_CHARS + 1)),
            Err(ValidationError::TooLong { max: 4000 })
        );
    }

    #[test]
    fn emoji_key_rules() {
        assert!(EmojiKey::parse("thumbs_up").is_ok());
        assert!(EmojiKey::parse("100").is_ok());
        assert_eq!(EmojiKey::parse(""), Err(ValidationError::Empty));
        assert_eq!(EmojiKey::parse("Thumbs"), Err(ValidationError::NotAKey));
        assert_eq!(EmojiKey::parse("a-b"), Err(ValidationError::NotAKey));
        assert_eq!(EmojiKey::parse("👍"), Err(ValidationError::NotAKey));
    }

    #[test]
    fn client_id_is_stored_canonically() {
        let id = ClientId::parse("6F9619FF-8B86-D011-B42D-00C04FC964FF").expect("valid");
        assert_eq!(id.to_string(), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        assert_eq!(ClientId::parse("nope"), Err(ValidationError::NotAUuid));
    }

    proptest! {
        #[test]
        fn nickname_parse_never_panics_and_is_idempotent(raw in "\\PC{0,40}") {
            if let Ok(nick) = Nickname::parse(&raw) {
                let again = Nickname::parse(nick.as_str()).expect("a parsed nickname parses again");
                prop_assert_eq!(&again, &nick);
                prop_assert_eq!(again.canonical(), nick.canonical());
                prop_assert!(nick.as_str().chars().count() <= Nickname::MAX_CHARS);
            }
        }

        #[test]
        fn nickname_accepted_values_hold_no_invisible_or_control(raw in any::<String>()) {
            if let Ok(nick) = Nickname::parse(&raw) {
                prop_assert!(nick.as_str().chars().all(|c| !c.is_control() && !is_default_ignorable(c)));
                prop_assert!(!nick.as_str().starts_with(' ') && !nick.as_str().ends_with(' '));
            }
        }

        #[test]
        fn nickname_canonical_ignores_letter_case(raw in "[a-zA-Z0-9]{1,32}") {
            let lower = Nickname::parse(&raw.to_lowercase()).expect("ascii is valid");
            let upper = Nickname::parse(&raw.to_uppercase()).expect("ascii is valid");
            prop_assert_eq!(lower.canonical(), upper.canonical());
        }

        #[test]
        fn canonical_is_stable(raw in "\\PC{1,32}") {
            if let Ok(nick) = Nickname::parse(&raw) {
                let key = nick.canonical();
                let key_of_key = Nickname::parse(&key).map(|n| n.canonical());
                if let Ok(k) = key_of_key {
                    prop_assert_eq!(k, key);
                }
            }
        }

        #[test]
        fn message_body_never_exceeds_limit(raw in any::<String>()) {
            if let Ok(body) = MessageBody::parse(&raw) {
                prop_assert!(body.as_str().chars().count() <= MessageBody::MAX_CHARS);
                prop_assert!(!body.as_str().trim().is_empty());
                prop_assert!(body.as_str().chars().all(|c| !c.is_control() || c == '\n' || c == '\t'));
            }
        }

        #[test]
        fn title_is_trimmed_and_bounded(raw in any::<String>()) {
            if let Ok(title) = ConversationTitle::parse(&raw) {
                prop_assert_eq!(title.as_str().trim(), title.as_str());
                prop_assert!(title.as_str().chars().count() <= ConversationTitle::MAX_CHARS);
            }
        }
    }
}
