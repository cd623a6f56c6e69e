//! Searching messages: what a query is once cleaned, the words in it, and where they
//! are in a message's text. Both backends find messages their own way (PostgreSQL's
//! full text and trigrams, SQLite's FTS5); what a result shows is decided here, once.

use unicode_normalization::UnicodeNormalization;

use crate::api::TextRange;
use crate::values::{ValidationError, is_bidi_control};

/// A search query as searched for: NFC like stored messages, with the characters no
/// message can hold (controls, text-direction marks) turned into spaces, runs of
/// white space made one space, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub const MAX_CHARS: usize = 200;
    /// Queries shorter than this are below a trigram's length: no index can find
    /// them, so they are looked for in a bounded number of recent messages.
    pub const INDEXED_CHARS: usize = 3;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::TooLong {
                max: Self::MAX_CHARS,
            });
        }
        let cleaned: String = raw
            .nfc()
            .map(|c| {
                if c.is_control() || is_bidi_control(c) {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        let text = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return Err(ValidationError::Empty);
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Too short for an index (see [`Self::INDEXED_CHARS`]).
    pub fn is_short(&self) -> bool {
        self.0.chars().count() < Self::INDEXED_CHARS
    }

    /// The query's terms as typed: split at white space, with quote marks taken off
    /// their ends. SQLite finds each as text; PostgreSQL reads them as
    /// `websearch_to_tsquery` does (a leading `-` means "without", `or` a choice).
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.0
            .split(' ')
            .map(|term| term.trim_matches('"'))
            .filter(|term| !term.is_empty())
    }

    /// Whether words alone cannot find it: one term (which may be part of a word), or
    /// text in a script written without spaces between words (Chinese, Japanese,
    /// Thai…), where a whole sentence is one "word" to a full-text index.
    pub fn needs_substrings(&self) -> bool {
        self.terms().nth(1).is_none() || self.0.chars().any(written_without_spaces)
    }

    /// The terms worth marking in a result: all but `or`.
    fn words(&self) -> impl Iterator<Item = &str> {
        self.terms().filter(|term| !term.eq_ignore_ascii_case("or"))
    }

    /// The whole query with its quote marks taken off: a message holding it as typed
    /// is an exact match, and comes first.
    pub fn phrase(&self) -> String {
        self.0.replace('"', "").trim().to_owned()
    }
}

/// Characters of scripts written without spaces between words.
fn written_without_spaces(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}' // Thai, Lao
        | '\u{1000}'..='\u{109F}' // Myanmar
        | '\u{1780}'..='\u{17FF}' // Khmer
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{31F0}'..='\u{31FF}'
        | '\u{3400}'..='\u{4DBF}' // Han
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FF66}'..='\u{FF9F}' // halfwidth Katakana
        | '\u{20000}'..='\u{2FA1F}')
}

/// A text folded to lower case one character at a time, remembering where each folded
/// character came from, so that a match in the folded text maps back to offsets in
/// the original (folding can turn one character into two).
struct Folded {
    chars: Vec<char>,
    origin: Vec<usize>,
}

impl Folded {
    fn new(text: &str) -> Self {
        let mut folded = Self {
            chars: Vec::with_capacity(text.len()),
            origin: Vec::with_capacity(text.len()),
        };
        for (index, c) in text.chars().enumerate() {
            for lower in c.to_lowercase() {
                folded.chars.push(lower);
                folded.origin.push(index);
            }
        }
        folded
    }

    /// Every place `needle` occurs, as ranges of the original's characters.
    fn find_all(&self, needle: &[char], into: &mut Vec<TextRange>) {
        if needle.is_empty() || needle.len() > self.chars.len() {
            return;
        }
        for start in 0..=self.chars.len() - needle.len() {
            if self.chars[start..start + needle.len()] == *needle {
                into.push(TextRange {
                    start: self.origin[start],
                    end: self.origin[start + needle.len() - 1] + 1,
                });
            }
        }
    }
}

fn fold(text: &str) -> Vec<char> {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// Whether `content` holds the query's phrase, case aside.
pub fn holds_phrase(content: &str, query: &SearchText) -> bool {
    let phrase = fold(&query.phrase());
    let mut found = Vec::new();
    Folded::new(content).find_all(&phrase, &mut found);
    !found.is_empty()
}

/// Where the query's words and phrase are in `content`, case aside: ranges of
/// characters (Unicode scalar values, end exclusive), in order, none overlapping or
/// touching. Each word counts from its letters and digits (`"re-run"` finds `re` and
/// `run`), as the full-text index splits it.
pub fn highlights(content: &str, query: &SearchText) -> Vec<TextRange> {
    let folded = Folded::new(content);
    let mut ranges = Vec::new();
    folded.find_all(&fold(&query.phrase()), &mut ranges);
    for word in query.words() {
        for part in word.split(|c: char| !c.is_alphanumeric()) {
            folded.find_all(&fold(part), &mut ranges);
        }
    }
    ranges.sort_by_key(|range| (range.start, range.end));
    let mut merged: Vec<TextRange> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(raw: &str) -> SearchText {
        SearchText::parse(raw).expect("a valid query")
    }

    fn spans(content: &str, raw: &str) -> Vec<(usize, usize)> {
        highlights(content, &query(raw))
            .into_iter()
            .map(|range| (range.start, range.end))
            .collect()
    }

    #[test]
    fn queries_are_cleaned_and_bounded() {
        assert_eq!(
            query("  deploy\0 \u{202e}friday\n ").as_str(),
            "deploy friday"
        );
        assert_eq!(SearchText::parse(" \0 "), Err(ValidationError::Empty));
        assert_eq!(SearchText::parse(""), Err(ValidationError::Empty));
        assert!(SearchText::parse(&"a".repeat(200)).is_ok());
        assert_eq!(
            SearchText::parse(&"a".repeat(201)),
            Err(ValidationError::TooLong { max: 200 })
        );
        assert!(query("ok").is_short());
        assert!(query("世界").is_short());
        assert!(!query("東京都").is_short());
    }

    #[test]
    fn words_alone_find_several_spaced_words() {
        assert!(query("deploy").needs_substrings());
        assert!(!query("deploy friday").needs_substrings());
        assert!(query("東京 大阪").needs_substrings());
        assert!(query("ไปไหน มา").needs_substrings());
    }

    #[test]
    fn terms_lose_their_quote_marks() {
        let q = query(r#""release notes" or -draft 100%"#);
        assert_eq!(
            q.terms().collect::<Vec<_>>(),
            ["release", "notes", "or", "-draft", "100%"]
        );
        assert_eq!(q.words().count(), 4);
        assert_eq!(q.phrase(), "release notes or -draft 100%");
    }

    #[test]
    fn highlights_are_character_ranges_merged_in_order() {
        assert_eq!(
            spans("Deploy on Friday, deploy often", "deploy"),
            [(0, 6), (18, 24)]
        );
        // The phrase covers the gap between its words.
        assert_eq!(
            spans("the release notes are out", "release notes"),
            [(4, 17)]
        );
        // Offsets count characters, not bytes.
        assert_eq!(spans("ça marche: 東京都に行く", "東京"), [(11, 13)]);
        // Folding one character into two maps back to the one.
        assert_eq!(spans("İstanbul", "i̇stanbul"), [(0, 8)]);
        assert_eq!(spans("re-run the job", "re-run"), [(0, 6)]);
        assert!(spans("nothing here", "absent").is_empty());
    }

    #[test]
    fn exact_phrases_are_told_apart() {
        assert!(holds_phrase(
            "See the Release Notes",
            &query("\"release notes\"")
        ));
        assert!(!holds_phrase(
            "notes on the release",
            &query("release notes")
        ));
    }
}
