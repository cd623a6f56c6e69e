//! Mentions in a message's text: `<@42>` names the person with id 42 (the stable
//! token clients write, shown as their current nickname), and `@all` everyone in
//! the conversation (where the sender may: see [`all_allowed`]).

use std::collections::BTreeSet;

use crate::ids::UserId;

/// Who a text mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    pub people: BTreeSet<UserId>,
    /// `@all`, as a word of its own.
    pub all: bool,
}

impl Mentions {
    pub fn is_empty(&self) -> bool {
        self.people.is_empty() && !self.all
    }
}

/// Conversations of at most this many members take `@all` from anyone; larger ones
/// from their owner only.
pub const ALL_FROM_ANYONE_UP_TO: usize = 20;

/// Whether `@all` counts, for a sender who is (or is not) the owner, in a
/// conversation of `members`. Otherwise it is plain text.
pub fn all_allowed(owner: bool, members: usize) -> bool {
    owner || members <= ALL_FROM_ANYONE_UP_TO
}

/// The token that mentions `user`.
pub fn token(user: UserId) -> String {
    format!("<@{user}>")
}

/// The mentions in `text`.
pub fn parse(text: &str) -> Mentions {
    let mut mentions = Mentions {
        people: pieces(text)
            .into_iter()
            .filter_map(|piece| match piece {
                Piece::Person(user) => Some(user),
                Piece::Text(_) => None,
            })
            .collect(),
        all: false,
    };
    mentions.all = text.match_indices("@all").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + 4..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '<' || c == '@')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    });
    mentions
}

/// Pieces of a text: plain text, and the people mentioned by token, in order (for
/// showing each as their nickname).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Person(UserId),
}

/// `text` cut at its `<@ID>` tokens.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("<@") {
        let at = from + found;
        let after = &text[at + 2..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let id = (digits > 0 && after.as_bytes().get(digits) == Some(&b'>'))
            .then(|| after[..digits].parse::<i64>().ok())
            .flatten()
            .filter(|&id| id > 0);
        match id {
            Some(id) => {
                if at > start {
                    pieces.push(Piece::Text(&text[start..at]));
                }
                pieces.push(Piece::Person(UserId(id)));
                start = at + 2 + digits + 1;
                from = start;
            }
            None => from = at + 2,
        }
    }
    if start < text.len() {
        pieces.push(Piece::Text(&text[start..]));
    }
    pieces
}

/// `text` with each token written as `@nickname` (by `nickname`, else `@someone`):
/// for plain text such as a notification, or an edit box.
pub fn readable(text: &str, nickname: impl Fn(UserId) -> Option<String>) -> String {
    pieces(text)
        .into_iter()
        .fold(String::with_capacity(text.len()), |mut out, piece| {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Person(id) => {
                    out.push('@');
                    out.push_str(nickname(id).as_deref().unwrap_or("someone"));
                }
            }
            out
        })
}

/// `text` with each `@nickname` picked in a composer written as its person's token,
/// where it stands as a word of its own (not inside a longer name or an address).
pub fn tokenize(text: &str, picked: &[(String, UserId)]) -> String {
    let mut picked: Vec<&(String, UserId)> = picked.iter().collect();
    // Longer names first: "@ann lee" before "@ann".
    picked.sort_by_key(|(nickname, _)| std::cmp::Reverse(nickname.len()));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(at) = rest.find('@') {
        let previous = rest[..at]
            .chars()
            .next_back()
            .or_else(|| out.chars().next_back());
        let starts_word = previous.is_none_or(|c| !c.is_alphanumeric());
        if starts_word {
            for (nickname, id) in &picked {
                let after_at = &rest[at + 1..];
                if let Some(tail) = after_at.strip_prefix(nickname.as_str())
                    && !tail
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                {
                    out.push_str(&rest[..at]);
                    out.push_str(&token(*id));
                    rest = tail;
                    continue 'scan;
                }
            }
        }
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_people_and_all_is_a_word() {
        let found = parse("hi <@42> and <@7>, <@42> again; not <@x> or <@0> or <@12");
        assert_eq!(found.people, [UserId(7), UserId(42)].into());
        assert!(!found.all);
        assert!(parse("@all please look").all);
        assert!(parse("ping (@all)").all);
        assert!(!parse("mail me at ops@allhands.example").all);
        assert!(!parse("@alloy").all);
        assert!(!parse("<@all>").all);
        assert!(parse("<@3>@all").people.contains(&UserId(3)));
    }

    #[test]
    fn all_counts_in_small_conversations_or_from_the_owner() {
        assert!(all_allowed(false, 20));
        assert!(!all_allowed(false, 21));
        assert!(all_allowed(true, 500));
    }

    #[test]
    fn picked_names_become_tokens_where_they_are_words() {
        let picked = vec![
            ("ann".to_owned(), UserId(1)),
            ("ann lee".to_owned(), UserId(2)),
        ];
        assert_eq!(
            tokenize("@ann lee and @ann, not @annie or x@ann", &picked),
            "<@2> and <@1>, not @annie or x@ann"
        );
        assert_eq!(tokenize("no one", &picked), "no one");
        assert_eq!(tokenize("@ann", &picked), "<@1>");
    }

    #[test]
    fn text_is_cut_at_its_tokens() {
        assert_eq!(
            pieces("hey <@5>, see <@x> and <@6>"),
            [
                Piece::Text("hey "),
                Piece::Person(UserId(5)),
                Piece::Text(", see <@x> and "),
                Piece::Person(UserId(6)),
            ]
        );
        assert_eq!(token(UserId(9)), "<@9>");
    }

    #[test]
    fn readable_text_names_people() {
        let names = |id: UserId| (id == UserId(42)).then(|| "ann lee".to_owned());
        assert_eq!(
            readable("hi <@42> and <@7>, <@x>", names),
            "hi @ann lee and @someone, <@x>"
        );
    }
}
