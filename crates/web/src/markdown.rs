//! A message's text as formatted page nodes: a CommonMark subset (emphasis, strong,
//! inline code, code blocks, block quotes, lists, links) plus bare URLs made into
//! links.
//!
//! The parser's events are walked straight into Leptos elements: no HTML string is
//! ever built or set, so nothing a message says can become markup. Raw HTML in a
//! message stays text. Links go only to http, https and mailto addresses and open
//! apart (`rel="noopener noreferrer nofollow"`); any other link is text. An image is
//! shown as a link to it, never loaded.

use std::collections::HashMap;

use leptos::prelude::*;
use natter_domain::UserId;
use natter_domain::mentions::{self, Piece};
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd, TextMergeStream};

/// The schemes a link may have; anything else is shown as text.
const SAFE_SCHEMES: [&str; 3] = ["http:", "https:", "mailto:"];

/// One node of a formatted message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    /// `<@ID>`: the person, shown by their current nickname.
    Mention(UserId),
    Code(String),
    Break,
    Rule,
    Block(Block, Vec<Node>),
}

/// An element that holds other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Paragraph,
    Emphasis,
    Strong,
    Strikethrough,
    Quote,
    Pre,
    List(Option<u64>),
    Item,
    /// A link to a safe address.
    Link(String),
    /// Something shown as its content only: a heading, a table cell, a link to an
    /// unsafe address.
    Plain,
}

/// Who mentions name: the conversation's members by id, and me (shown more strongly).
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub me: UserId,
    pub nicknames: HashMap<UserId, String>,
}

/// `content` as formatted nodes, mentions shown by `names`.
pub fn render(content: &str, names: &Names) -> AnyView {
    to_views(parse(content), names)
}

fn parse(content: &str) -> Vec<Node> {
    // Each open element's kind and the nodes inside it so far; the bottom is the root.
    let mut stack: Vec<(Block, Vec<Node>)> = vec![(Block::Plain, Vec::new())];
    let push = |stack: &mut Vec<(Block, Vec<Node>)>, node: Node| {
        let Some((_, children)) = stack.last_mut() else {
            return;
        };
        match (children.last_mut(), node) {
            (Some(Node::Text(before)), Node::Text(text)) => before.push_str(&text),
            (_, node) => children.push(node),
        }
    };
    // Adjacent text comes as one event, so an address is never cut in two.
    for event in TextMergeStream::new(Parser::new(content)) {
        match event {
            Event::Start(tag) => stack.push((opened(tag), Vec::new())),
            Event::End(end) => {
                if stack.len() > 1
                    && let Some((block, children)) = stack.pop()
                {
                    let node = if matches!(end, TagEnd::Image) {
                        // An image is a link to it with its description, never loaded.
                        Node::Block(block, image_label(children))
                    } else {
                        Node::Block(block, children)
                    };
                    push(&mut stack, node);
                }
            }
            Event::Text(text) => {
                let inside_link = stack
                    .iter()
                    .any(|(block, _)| matches!(block, Block::Link(_) | Block::Pre));
                if inside_link {
                    push(&mut stack, Node::Text(text.into_string()));
                } else {
                    for piece in mentions::pieces(&text) {
                        match piece {
                            Piece::Person(user) => push(&mut stack, Node::Mention(user)),
                            Piece::Text(text) => {
                                for node in linkify(text) {
                                    push(&mut stack, node);
                                }
                            }
                        }
                    }
                }
            }
            Event::Code(code) => push(&mut stack, Node::Code(code.into_string())),
            // Markup in a message is text, as written.
            Event::Html(html) | Event::InlineHtml(html) => {
                push(&mut stack, Node::Text(html.into_string()));
            }
            Event::InlineMath(math) | Event::DisplayMath(math) => {
                push(&mut stack, Node::Text(math.into_string()));
            }
            // A chat message's line breaks are meant: each one shows.
            Event::SoftBreak | Event::HardBreak => push(&mut stack, Node::Break),
            Event::Rule => push(&mut stack, Node::Rule),
            Event::FootnoteReference(label) => push(&mut stack, Node::Text(label.into_string())),
            Event::TaskListMarker(done) => {
                push(
                    &mut stack,
                    Node::Text(if done { "☑ " } else { "☐ " }.into()),
                );
            }
        }
    }
    // Elements left open (there are none in a well-formed event stream) close here.
    while stack.len() > 1 {
        if let Some((block, children)) = stack.pop() {
            push(&mut stack, Node::Block(block, children));
        }
    }
    stack.pop().map(|(_, nodes)| nodes).unwrap_or_default()
}

fn opened(tag: Tag<'_>) -> Block {
    match tag {
        // Raw HTML is shown as the text it is, as a paragraph of its own.
        Tag::Paragraph | Tag::HtmlBlock => Block::Paragraph,
        Tag::Emphasis => Block::Emphasis,
        Tag::Strong => Block::Strong,
        Tag::Strikethrough => Block::Strikethrough,
        Tag::BlockQuote(_) => Block::Quote,
        Tag::CodeBlock(CodeBlockKind::Fenced(_) | CodeBlockKind::Indented) => Block::Pre,
        Tag::List(start) => Block::List(start),
        Tag::Item => Block::Item,
        Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
            safe_url(&dest_url).map_or(Block::Plain, Block::Link)
        }
        _ => Block::Plain,
    }
}

/// What an image link shows: its description, or else that it is an image.
fn image_label(children: Vec<Node>) -> Vec<Node> {
    if children.is_empty() {
        vec![Node::Text("image".into())]
    } else {
        children
    }
}

/// `url` if a link may go there: http, https or mailto, with no spaces or control
/// characters.
fn safe_url(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let safe = SAFE_SCHEMES.iter().any(|scheme| lower.starts_with(scheme))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    safe.then(|| url.to_owned())
}

/// `text` with every bare http(s) address in it made into a link.
fn linkify(text: &str) -> Vec<Node> {
    let mut nodes = Vec::new();
    let mut rest = text;
    while let Some(at) = find_url(rest) {
        let (before, from) = rest.split_at(at);
        let end = from.find(char::is_whitespace).unwrap_or(from.len());
        // Punctuation that ends a sentence is not part of the address.
        let url = from[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']);
        if !before.is_empty() {
            nodes.push(Node::Text(before.to_owned()));
        }
        match safe_url(url) {
            Some(href) if url.len() > "https://".len() => {
                nodes.push(Node::Block(
                    Block::Link(href),
                    vec![Node::Text(url.to_owned())],
                ));
            }
            _ => nodes.push(Node::Text(url.to_owned())),
        }
        rest = &from[url.len().max(1)..];
    }
    if !rest.is_empty() {
        nodes.push(Node::Text(rest.to_owned()));
    }
    nodes
}

/// Where the next bare address starts in `text`, at a word's start.
fn find_url(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("http") {
        let at = from + found;
        let tail = &lower[at..];
        let word_start = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        if word_start && (tail.starts_with("http://") || tail.starts_with("https://")) {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

fn to_views(nodes: Vec<Node>, names: &Names) -> AnyView {
    nodes
        .into_iter()
        .map(|node| to_view(node, names))
        .collect_view()
        .into_any()
}

fn to_view(node: Node, names: &Names) -> AnyView {
    match node {
        Node::Text(text) => text.into_any(),
        Node::Mention(user) => {
            let name = names
                .nicknames
                .get(&user)
                .map_or_else(|| "someone".to_owned(), Clone::clone);
            let me = user == names.me;
            view! { <span class="mention" class:me=me data-testid="mention">{format!("@{name}")}</span> }
                .into_any()
        }
        Node::Code(code) => view! { <code>{code}</code> }.into_any(),
        Node::Break => view! { <br /> }.into_any(),
        Node::Rule => view! { <hr /> }.into_any(),
        Node::Block(block, children) => {
            let inner = to_views(children, names);
            match block {
                Block::Paragraph => view! { <p>{inner}</p> }.into_any(),
                Block::Emphasis => view! { <em>{inner}</em> }.into_any(),
                Block::Strong => view! { <strong>{inner}</strong> }.into_any(),
                Block::Strikethrough => view! { <s>{inner}</s> }.into_any(),
                Block::Quote => view! { <blockquote>{inner}</blockquote> }.into_any(),
                Block::Pre => view! { <pre><code>{inner}</code></pre> }.into_any(),
                Block::List(None) => view! { <ul>{inner}</ul> }.into_any(),
                Block::List(Some(start)) => view! { <ol start=start>{inner}</ol> }.into_any(),
                Block::Item => view! { <li>{inner}</li> }.into_any(),
                Block::Link(href) => view! {
                    <a href=href target="_blank" rel="noopener noreferrer nofollow">{inner}</a>
                }
                .into_any(),
                Block::Plain => inner,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Node {
        Node::Text(s.into())
    }

    fn paragraph(children: Vec<Node>) -> Vec<Node> {
        vec![Node::Block(Block::Paragraph, children)]
    }

    #[test]
    fn emphasis_code_and_lists() {
        assert_eq!(
            parse("**bold** and *em* and `x < y`"),
            paragraph(vec![
                Node::Block(Block::Strong, vec![text("bold")]),
                text(" and "),
                Node::Block(Block::Emphasis, vec![text("em")]),
                text(" and "),
                Node::Code("x < y".into()),
            ])
        );
        let list = parse("1. one\n2. two");
        assert!(matches!(&list[0], Node::Block(Block::List(Some(1)), items) if items.len() == 2));
    }

    #[test]
    fn markup_and_unsafe_links_stay_text() {
        assert_eq!(
            parse("<script>alert(1)</script>"),
            paragraph(vec![text("<script>alert(1)</script>")])
        );
        assert_eq!(
            parse("hi <b onclick=x>there</b>"),
            paragraph(vec![text("hi <b onclick=x>there</b>")])
        );
        assert_eq!(
            parse("[click](javascript:alert(1))"),
            paragraph(vec![Node::Block(Block::Plain, vec![text("click")])])
        );
        assert_eq!(
            parse("![cat](https://example.com/cat.png)"),
            paragraph(vec![Node::Block(
                Block::Link("https://example.com/cat.png".into()),
                vec![text("cat")]
            )])
        );
    }

    #[test]
    fn bare_addresses_become_links_without_their_punctuation() {
        assert_eq!(
            parse("see https://natter.example/a?b=1. ok"),
            paragraph(vec![
                text("see "),
                Node::Block(
                    Block::Link("https://natter.example/a?b=1".into()),
                    vec![text("https://natter.example/a?b=1")]
                ),
                text(". ok"),
            ])
        );
        assert_eq!(
            parse("nothttps://x.y"),
            paragraph(vec![text("nothttps://x.y")])
        );
        assert_eq!(
            parse("line one\nline two"),
            paragraph(vec![text("line one"), Node::Break, text("line two")])
        );
    }
}
