//! Derives the text part of an email from its HTML: drops `head`, `style`,
//! `script` and comments, turns block ends and `<br>` into line breaks,
//! list items into `- ` lines and links into `text (url)`, strips the other
//! tags and decodes character references.

use std::sync::LazyLock;

use regex::Regex;

use crate::tracking::decode_entities;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|_| unreachable!("constant regex"))
}

static INVISIBLE: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?is)<!--.*?-->|<head\b.*?</head\s*>|<style\b.*?</style\s*>|<script\b.*?</script\s*>")
});
static LINK: LazyLock<Regex> = LazyLock::new(|| {
    regex(r#"(?is)<a\s[^>]*?href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))[^>]*>(.*?)</a\s*>"#)
});
static BREAK: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)<br\s*/?>"));
static BLOCK_END: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)</(p|div|h[1-6]|tr|table|ul|ol|blockquote|section|article)\s*>"));
static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| regex(r"(?i)<li\b[^>]*>"));
static TAG: LazyLock<Regex> = LazyLock::new(|| regex(r"(?s)<[^>]*>"));
static SPACES: LazyLock<Regex> = LazyLock::new(|| regex(r"[ \t\r\u{a0}]+"));
static BLANK_LINES: LazyLock<Regex> = LazyLock::new(|| regex(r"\n{3,}"));

/// The plain-text rendering of `html`.
pub fn html_to_text(html: &str) -> String {
    let text = INVISIBLE.replace_all(html, "");
    let text = text.replace(['\n', '\r'], " ");
    let text = LINK.replace_all(&text, |c: &regex::Captures<'_>| {
        let url = c
            .get(1)
            .or_else(|| c.get(2))
            .or_else(|| c.get(3))
            .map_or(String::new(), |m| decode_entities(m.as_str()));
        let label = TAG.replace_all(c.get(4).map_or("", |m| m.as_str()), "");
        let label = decode_entities(label.trim());
        if label.is_empty() || label == url {
            url
        } else if url.is_empty() || url.starts_with('#') {
            label
        } else {
            format!("{label} ({url})")
        }
    });
    let text = BREAK.replace_all(&text, "\n");
    let text = BLOCK_END.replace_all(&text, "\n\n");
    let text = LIST_ITEM.replace_all(&text, "\n- ");
    let text = TAG.replace_all(&text, "");
    let text = decode_entities(&text);
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| SPACES.replace_all(line, " ").trim().to_owned())
        .collect();
    BLANK_LINES
        .replace_all(&lines.join("\n"), "\n\n")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_links_and_entities() {
        let html = r#"<html><head><title>T</title><style>p{}</style></head><body>
            <h1>Your cart</h1><p>Hi&nbsp;Ann,<br>you left <b>2 items</b> &amp; more.</p>
            <p><a href="https://shop.example/cart?a=1&amp;b=2">Back to cart</a></p>
            <ul><li>One</li><li>Two</li></ul><!-- hidden --></body></html>"#;
        assert_eq!(
            html_to_text(html),
            "Your cart\n\nHi Ann,\nyou left 2 items & more.\n\n\
             Back to cart (https://shop.example/cart?a=1&b=2)\n\n- One\n- Two"
        );
    }

    #[test]
    fn bare_link_keeps_just_the_url() {
        assert_eq!(
            html_to_text(r#"<a href="https://x.example">https://x.example</a>"#),
            "https://x.example"
        );
    }
}
