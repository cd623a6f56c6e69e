//! The OpenAPI schemas of validated values, built from the same constants as their
//! `parse`, so that the document says what the server accepts and the two cannot
//! drift. JSON Schema's regular expressions have no Unicode categories, so a pattern
//! says what it can (no control, invisible or text-direction characters, something
//! besides white space); the rest of a nickname's rule is in its description.

use std::ops::RangeInclusive;

use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr};

use crate::api::{CreateConversationRequest, HistoryQuery, SearchQuery};
use crate::values::{
    BIDI_CONTROLS, ClientId, ConversationTitle, DEFAULT_IGNORABLE, MessageBody, Nickname, Password,
};

/// Control characters (Unicode's Cc, what `char::is_control` finds), for a class.
const CONTROL: &str = r"\u0000-\u001f\u007f-\u009f";
/// Format characters (Cf) of the Basic Multilingual Plane that are not also
/// default-ignorable: a nickname refuses them too (`parse` finds them by category).
const OTHER_FORMAT: [RangeInclusive<char>; 6] = [
    '\u{0600}'..='\u{0605}',
    '\u{06DD}'..='\u{06DD}',
    '\u{070F}'..='\u{070F}',
    '\u{0890}'..='\u{0891}',
    '\u{08E2}'..='\u{08E2}',
    '\u{FFF9}'..='\u{FFFB}',
];
/// White space as `str::trim` sees it.
const SPACE: &str =
    r"\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// `ranges` as the inside of a character class. A JSON Schema pattern (ECMA-262 without
/// the `u` flag) cannot name a code point beyond the Basic Multilingual Plane in a
/// class, so those ranges are left out.
fn class(ranges: &[RangeInclusive<char>]) -> String {
    ranges
        .iter()
        .filter(|range| u32::from(*range.end()) <= 0xFFFF)
        .map(
            |range| match (u32::from(*range.start()), u32::from(*range.end())) {
                (start, end) if start == end => format!(r"\u{start:04x}"),
                (start, end) => format!(r"\u{start:04x}-\u{end:04x}"),
            },
        )
        .collect()
}

/// Text of characters outside `refused`, with at least one that is not white space
/// either (values are trimmed, and must not be empty).
fn text_pattern(refused: &str) -> String {
    format!("^[^{refused}]*[^{refused}{SPACE}][^{refused}]*$")
}

fn text(min: usize, max: usize, pattern: Option<String>, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(pattern)
        .description(Some(description))
}

/// [`Nickname`].
pub fn nickname() -> impl Into<RefOr<Schema>> {
    text(
        1,
        Nickname::MAX_CHARS,
        Some(text_pattern(&format!(
            "{CONTROL}{}{}",
            class(&DEFAULT_IGNORABLE),
            class(&OTHER_FORMAT)
        ))),
        "1–32 letters, marks, digits, `. _ - '` and single inner spaces (after trimming \
         and NFC); compared after NFKC and case folding",
    )
}

/// [`Password`].
pub fn password() -> impl Into<RefOr<Schema>> {
    text(
        Password::MIN_CHARS,
        Password::MAX_CHARS,
        Some(format!("^[^{CONTROL}]*$")),
        "8–1024 characters, kept exactly as typed; no control characters",
    )
}

/// [`ConversationTitle`].
pub fn title() -> impl Into<RefOr<Schema>> {
    text(
        1,
        ConversationTitle::MAX_CHARS,
        Some(text_pattern(&format!("{CONTROL}{}", class(&BIDI_CONTROLS)))),
        "1–100 characters after trimming; no control or text-direction characters",
    )
}

/// [`MessageBody`]: line breaks (`\n`, `\r\n`) and tabs are the control characters it
/// allows.
pub fn message_body() -> impl Into<RefOr<Schema>> {
    let bidi = class(&BIDI_CONTROLS);
    let allowed = format!(r"(?:[^{CONTROL}{bidi}]|[\t\n]|\r\n)");
    text(
        1,
        MessageBody::MAX_CHARS,
        Some(format!("^{allowed}*[^{CONTROL}{bidi}{SPACE}]{allowed}*$")),
        "1–4000 characters after trimming; line breaks and tabs, but no other control \
         or text-direction characters",
    )
}

/// [`SearchQuery::q`]: anything, with something in it besides white space and the
/// control and text-direction characters that count as spaces.
pub fn search_text() -> ObjectBuilder {
    let bidi = class(&BIDI_CONTROLS);
    text(
        1,
        crate::search::SearchText::MAX_CHARS,
        Some(format!(r"^[\s\S]*[^{CONTROL}{bidi}{SPACE}][\s\S]*$")),
        "What to find: 1–200 characters after trimming; control and text-direction \
         characters count as spaces",
    )
}

/// [`ClientId`], optional: a UUID, as `ClientId::parse` reads one.
pub fn client_id() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .pattern(Some(ClientId::PATTERN))
        .description(Some(
            "Chosen by the client, so that a retried send makes one message",
        ))
}

/// The other members of a new conversation: at least one.
pub fn member_ids() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .items(Ref::from_schema_name("UserId"))
        .min_items(Some(1))
        .max_items(Some(CreateConversationRequest::MAX_MEMBER_IDS))
        .description(Some(
            "The other members (at least one, at most 100); the creator is added as \
             owner. Duplicates are ignored.",
        ))
}

/// A page's size in [`HistoryQuery`].
pub fn history_limit() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(HistoryQuery::MAX_LIMIT))
        .description(Some(format!(
            "Messages in the page (default {})",
            HistoryQuery::DEFAULT_LIMIT
        )))
}

/// [`SearchQuery::limit`].
pub fn search_limit() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(SearchQuery::MAX_LIMIT))
        .description(Some(format!(
            "Results in the page (default {})",
            SearchQuery::DEFAULT_LIMIT
        )))
}

/// A paging cursor in [`HistoryQuery`]: a message id, or 0 for "before everything".
pub fn cursor() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .description(Some("A message id (0: from the very start)"))
}

/// An id: a positive integer.
pub fn id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
}

/// [`EmojiKey`](crate::values::EmojiKey), as a path segment.
impl utoipa::PartialSchema for crate::values::EmojiKey {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(Self::PATTERN))
            .description(Some("An emoji's key, such as thumbs_up"))
            .into()
    }
}

impl utoipa::ToSchema for crate::values::EmojiKey {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::values::EmojiKey;

    fn pattern_of(schema: impl Into<RefOr<Schema>>) -> Regex {
        let json = serde_json::to_value(schema.into()).expect("serialise");
        Regex::new(json["pattern"].as_str().expect("a pattern")).expect("a regex")
    }

    fn fits(max: usize) -> impl Fn(&str) -> bool {
        move |s| (1..=max).contains(&s.chars().count())
    }

    proptest! {
        // What a pattern and its lengths allow, parse accepts: generators that keep to
        // the document never see a refusal. (NFC may lengthen a few rare characters;
        // the generated strings are kept to plain ones.)
        #[test]
        fn a_title_the_schema_allows_is_accepted(raw in "[\\PC\\p{Cc}\u{202e}\u{2066} \t]{0,120}") {
            if pattern_of(title()).is_match(&raw) && fits(ConversationTitle::MAX_CHARS)(&raw) {
                prop_assert!(ConversationTitle::parse(&raw).is_ok(), "{raw:?}");
            } else if !raw.trim().is_empty() && fits(ConversationTitle::MAX_CHARS)(raw.trim()) {
                prop_assert!(ConversationTitle::parse(&raw).is_err(), "{raw:?}");
            }
        }

        #[test]
        fn a_message_the_schema_allows_is_accepted(raw in "[\\PC\\p{Cc}\u{202e} \r\n\t]{0,200}") {
            if pattern_of(message_body()).is_match(&raw) && fits(MessageBody::MAX_CHARS)(&raw) {
                prop_assert!(MessageBody::parse(&raw).is_ok(), "{raw:?}");
            }
            if MessageBody::parse(&raw).is_ok() && fits(MessageBody::MAX_CHARS)(&raw) {
                prop_assert!(pattern_of(message_body()).is_match(&raw), "{raw:?}");
            }
        }

        #[test]
        fn a_filename_the_schema_allows_is_accepted(raw in "[a./\\\\\\p{Cc}\u{202e}\u{200b}\u{3000} ]{0,8}") {
            let parameter = <crate::api::UploadQuery as utoipa::IntoParams>::into_params(|| None)
                .into_iter()
                .find(|p| p.name == "filename")
                .expect("filename");
            let json = serde_json::to_value(&parameter).expect("serialise");
            let literal = Regex::new(json["schema"]["pattern"].as_str().expect("a pattern"))
                .expect("a regex");
            prop_assert_eq!(json["required"].as_bool(), Some(true));
            let accepted = crate::values::FileName::parse(&raw).is_ok();
            prop_assert_eq!(literal.is_match(&raw), accepted, "{:?}", raw);
        }

        #[test]
        fn a_search_the_schema_allows_is_accepted(raw in "[a-z\\p{Cc}\u{202e}\u{2066}\u{3000} \t]{0,12}") {
            let parameter = <SearchQuery as utoipa::IntoParams>::into_params(|| None)
                .into_iter()
                .find(|p| p.name == "q")
                .expect("q");
            let json = serde_json::to_value(&parameter).expect("serialise");
            let literal = Regex::new(json["schema"]["pattern"].as_str().expect("a pattern"))
                .expect("a regex");
            let accepted = crate::search::SearchText::parse(&raw).is_ok();
            prop_assert_eq!(json["required"].as_bool(), Some(true));
            prop_assert_eq!(literal.is_match(&raw), accepted, "{:?}", raw);
            prop_assert_eq!(pattern_of(search_text()).is_match(&raw), accepted, "{:?}", raw);
        }

        #[test]
        fn a_nickname_with_control_or_invisible_characters_is_outside_the_schema(
            raw in "[a-z\\p{Cc}\\p{Cf}\u{3164}\u{ffa0} ]{1,20}"
        ) {
            if Nickname::parse(&raw).is_ok() {
                prop_assert!(pattern_of(nickname()).is_match(&raw), "{raw:?}");
            }
        }
    }

    #[test]
    fn client_ids_and_emoji_keys_match_their_patterns_exactly() {
        let client_id = pattern_of(client_id());
        for raw in [
            "0b7e2d4c-1f0a-4c3e-9d5b-2a6f8e9c1d3a",
            "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "0b7e2d4c1f0a4c3e9d5b2a6f8e9c1d3a",
            "{0b7e2d4c-1f0a-4c3e-9d5b-2a6f8e9c1d3a}",
            "urn:uuid:0b7e2d4c-1f0a-4c3e-9d5b-2a6f8e9c1d3a",
            "",
            "0b7e2d4c-1f0a-4c3e-9d5b-2a6f8e9c1d3",
            "{0b7e2d4c-1f0a-4c3e-9d5b-2a6f8e9c1d3a",
            "not a uuid",
        ] {
            assert_eq!(
                client_id.is_match(raw),
                ClientId::parse(raw).is_ok(),
                "{raw:?}"
            );
        }
        let key = Regex::new(EmojiKey::PATTERN).expect("a regex");
        for raw in ["thumbs_up", "a", "", "Thumbs", "x".repeat(33).as_str(), "é"] {
            assert_eq!(key.is_match(raw), EmojiKey::parse(raw).is_ok(), "{raw:?}");
        }
    }
}
