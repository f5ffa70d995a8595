//! HTML rewriting for tracking: click links and the open pixel. Only the
//! `href` of `<a>` tags is touched; everything else is copied byte for byte.

use std::sync::LazyLock;

use regex::Regex;

static ANCHOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)<a\s[^>]*>").unwrap_or_else(|_| unreachable!("constant regex"))
});
static HREF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"#)
        .unwrap_or_else(|_| unreachable!("constant regex"))
});
static ALIAS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?is)\sdata-link-alias\s*=\s*(?:"([^"]*)"|'([^']*)')"#)
        .unwrap_or_else(|_| unreachable!("constant regex"))
});
static BODY_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)</body\s*>").unwrap_or_else(|_| unreachable!("constant regex"))
});

/// Rewrites the `href` of every `<a>` whose target is http(s). `replace`
/// gets the link's alias (`data-link-alias`, else `link_<n>` counting the
/// http(s) links from 1 in document order) and the decoded target, and
/// answers the new URL or `None` to keep the link as it is.
pub fn rewrite_links(html: &str, mut replace: impl FnMut(&str, &str) -> Option<String>) -> String {
    let mut counter = 0usize;
    ANCHOR
        .replace_all(html, |tag: &regex::Captures<'_>| {
            let tag = &tag[0];
            let Some(href) = HREF.captures(tag) else {
                return tag.to_owned();
            };
            let raw = href
                .get(2)
                .or_else(|| href.get(3))
                .or_else(|| href.get(4))
                .map_or("", |m| m.as_str());
            let target = decode_entities(raw.trim());
            let lower = target.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                return tag.to_owned();
            }
            counter += 1;
            let alias = ALIAS
                .captures(tag)
                .and_then(|c| c.get(1).or_else(|| c.get(2)))
                .map(|m| decode_entities(m.as_str()))
                .unwrap_or_else(|| format!("link_{counter}"));
            let Some(new_url) = replace(&alias, &target) else {
                return tag.to_owned();
            };
            let (Some(whole), Some(prefix)) = (href.get(0), href.get(1)) else {
                return tag.to_owned();
            };
            format!(
                "{}{}\"{}\"{}",
                &tag[..whole.start()],
                prefix.as_str(),
                escape_attribute(&new_url),
                &tag[whole.end()..]
            )
        })
        .into_owned()
}

/// Adds `<img src="{url}" …>` just before the last `</body>`, or at the end.
pub fn add_open_pixel(html: &str, url: &str) -> String {
    let pixel = format!(
        r#"<img src="{}" width="1" height="1" alt="" style="display:none;border:0" />"#,
        escape_attribute(url)
    );
    match BODY_END.find_iter(html).last() {
        Some(end) => format!("{}{pixel}{}", &html[..end.start()], &html[end.start()..]),
        None => format!("{html}{pixel}"),
    }
}

fn escape_attribute(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Decodes the character references found in attributes and text: the
/// common named ones and every numeric one.
pub(crate) fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // A reference is at most 10 bytes before its `;`: looking further
        // made text of many bare `&` quadratic (seconds per send).
        let window = &after.as_bytes()[..after.len().min(11)];
        let semicolon = window.iter().position(|&b| b == b';');
        let decoded = semicolon.and_then(|end| {
            let name = &after[..end];
            let ch = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            ch.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_named_and_numeric_references() {
        assert_eq!(decode_entities("a&amp;b&#38;c&#x26;d&lt;"), "a&b&c&d<");
        assert_eq!(decode_entities("AT&T &unknown; &"), "AT&T &unknown; &");
        // A `;` more than ten bytes on is not the end of a reference.
        assert_eq!(decode_entities("&a long way; &amp;"), "&a long way; &");
        assert_eq!(decode_entities("&#x1F600;x"), "\u{1F600}x");
        assert_eq!(decode_entities("é&é;&amp"), "é&é;&amp");
    }

    #[test]
    fn many_bare_ampersands_decode_in_one_pass() {
        // 400,000 of them took 7.8 s when every `&` searched the rest of
        // the text for a `;` (an event property rendered into an email).
        let text = format!("{}&amp;", "&".repeat(400_000));
        let decoded = decode_entities(&text);
        assert_eq!(decoded.len(), 400_001);
        assert!(decoded.bytes().all(|b| b == b'&'));
    }

    #[test]
    fn unquoted_href_is_rewritten_and_other_attributes_kept() {
        let out = rewrite_links(
            r#"<A class="x" HREF=https://a.example/p target=_blank>go</A>"#,
            |alias, target| Some(format!("https://t/{alias}?{target}")),
        );
        assert_eq!(
            out,
            r#"<A class="x" HREF="https://t/link_1?https://a.example/p" target=_blank>go</A>"#
        );
    }

    #[test]
    fn non_http_links_do_not_consume_an_alias_number() {
        let out = rewrite_links(
            r##"<a href="#top">t</a><a href="tel:1">p</a><a href="http://x">x</a>"##,
            |alias, _| Some(alias.to_owned()),
        );
        assert!(out.contains(r#"href="link_1""#), "{out}");
        assert!(out.contains(r##"href="#top""##));
    }

    #[test]
    fn pixel_goes_before_body_end_or_at_the_end() {
        assert_eq!(
            add_open_pixel("<body>x</BODY>", "u"),
            r#"<body>x<img src="u" width="1" height="1" alt="" style="display:none;border:0" /></BODY>"#
        );
        assert!(add_open_pixel("<p>x</p>", "u").starts_with("<p>x</p><img src=\"u\""));
    }
}
