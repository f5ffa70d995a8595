//! Braze dialect → standard Liquid (R-X step 8), applied to the source text
//! before the `liquid` parser sees it.
//!
//! Braze writes attribute references as `${name}`; Liquid has no such
//! syntax. Only inside `{{ … }}` and `{% … %}` (and outside string literals
//! there) is a reference translated:
//!
//! - `${first_name}` (standalone) → the top-level variable `first_name`,
//!   where the render context puts the profile's standard attributes. A name
//!   that is not a plain identifier, or that Liquid reserves (`blank`, `nil`,
//!   `contains`, …) or the context uses for its own roots (`send`,
//!   `campaign`, …), goes through the `profile` object instead:
//!   `profile["my name"]`.
//! - `something.${x}` (e.g. `custom_attribute.${loyalty_tier}`,
//!   `event_properties.${cart_value}`, `campaign.${name}`) →
//!   `something.x`, or `something["x"]` when `x` holds characters a Liquid
//!   identifier cannot (spaces, dashes, dots, a leading digit).
//! - `{% abort_message("why") %}` / `{% abort_message() %}` → the tag form
//!   Liquid can parse: `{% abort_message "why" %}` / `{% abort_message %}`.
//!
//! Plain text (HTML, a `${price}` in prose) and the content of
//! `{% raw %}…{% endraw %}` are copied byte for byte.

use super::TemplateError;

/// Names that must not become a top-level variable: Liquid keywords and
/// operators, and the roots the render context reserves.
const RESERVED_TOP_LEVEL: &[&str] = &[
    "nil",
    "null",
    "empty",
    "blank",
    "true",
    "false",
    "and",
    "or",
    "contains",
    "forloop",
    super::context::PROFILE,
    super::context::CUSTOM_ATTRIBUTE,
    super::context::EVENT_PROPERTIES,
    super::context::CAMPAIGN,
    super::context::SEND,
];

/// The two kinds of Liquid markup regions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Region {
    /// `{{ … }}`
    Output,
    /// `{% … %}`
    Tag,
}

impl Region {
    fn close(self) -> &'static str {
        match self {
            Region::Output => "}}",
            Region::Tag => "%}",
        }
    }
}

/// Translates a Braze-dialect template into standard Liquid source.
///
/// Errors are reference problems only (`${` not closed, `${}`); Liquid
/// syntax errors are left for the parser to report. An unclosed `{{` or
/// `{%` is copied as is so that the parser reports it.
pub(crate) fn translate(src: &str) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(src.len() + 16);
    let mut rest = src;
    while let Some((at, region)) = next_region(rest) {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        let (inner, consumed, closed) = translate_region(rest, region)?;
        let inner = match region {
            Region::Tag => rewrite_abort_call(&inner).unwrap_or(inner),
            Region::Output => inner,
        };
        let is_raw = region == Region::Tag && closed && tag_name(&inner) == "raw";
        out.push_str(&inner);
        if closed {
            out.push_str(region.close());
        }
        rest = &rest[consumed..];
        if is_raw {
            let verbatim = find_endraw(rest).unwrap_or(rest.len());
            out.push_str(&rest[..verbatim]);
            rest = &rest[verbatim..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Finds the next `{{` or `{%`: its byte offset and kind.
fn next_region(text: &str) -> Option<(usize, Region)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find('{') {
        let at = from + pos;
        match bytes.get(at + 1) {
            Some(b'{') => return Some((at, Region::Output)),
            Some(b'%') => return Some((at, Region::Tag)),
            _ => from = at + 1,
        }
    }
    None
}

/// Translates the inside of one region, starting just after its opening
/// delimiter. Returns the translated inside (without the closing
/// delimiter), the number of source bytes consumed (including the closing
/// delimiter when found) and whether the region was closed.
fn translate_region(text: &str, region: Region) -> Result<(String, usize, bool), TemplateError> {
    let close = region.close();
    let mut inner = String::with_capacity(text.len().min(64));
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        if rest.starts_with(close) {
            return Ok((inner, i + close.len(), true));
        }
        if let Some(quote) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            // A string literal: copied untouched, up to its closing quote.
            let end = rest[1..].find(quote).map_or(rest.len(), |p| p + 2);
            inner.push_str(&rest[..end]);
            i += end;
        } else if let Some(reference) = rest.strip_prefix("${") {
            let Some(len) = reference.find('}') else {
                return Err(TemplateError::Reference(format!(
                    "`${{` at `{}` is not closed by `}}`",
                    excerpt(rest)
                )));
            };
            push_reference(&mut inner, &reference[..len])?;
            i += 2 + len + 1;
        } else if let Some(c) = rest.chars().next() {
            inner.push(c);
            i += c.len_utf8();
        }
    }
    Ok((inner, text.len(), false))
}

/// Appends the Liquid form of the reference `${name}` to `inner`.
fn push_reference(inner: &mut String, name: &str) -> Result<(), TemplateError> {
    if name.is_empty() {
        return Err(TemplateError::Reference(
            "`${}` names no attribute".to_string(),
        ));
    }
    if inner.ends_with('.') {
        // `custom_attribute.${x}`, `event_properties.${x}`, `campaign.${x}`…
        if is_identifier(name) {
            inner.push_str(name);
        } else {
            inner.pop();
            push_bracket(inner, name)?;
        }
    } else if is_identifier(name) && !RESERVED_TOP_LEVEL.contains(&name) {
        inner.push_str(name);
    } else {
        inner.push_str(super::context::PROFILE);
        push_bracket(inner, name)?;
    }
    Ok(())
}

/// Appends `["name"]` (or `['name']` when the name holds a `"`).
fn push_bracket(inner: &mut String, name: &str) -> Result<(), TemplateError> {
    let quote = if !name.contains('"') {
        '"'
    } else if !name.contains('\'') {
        '\''
    } else {
        return Err(TemplateError::Reference(format!(
            "attribute name `{name}` holds both kinds of quotes and cannot be referenced"
        )));
    };
    inner.push('[');
    inner.push(quote);
    inner.push_str(name);
    inner.push(quote);
    inner.push(']');
    Ok(())
}

/// True when `name` is a plain identifier Liquid can hold after a dot
/// (ASCII letters, digits and `_`, not starting with a digit).
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The tag name of a tag's inside (`- raw ` → `raw`).
fn tag_name(inner: &str) -> &str {
    let body = inner.strip_prefix('-').unwrap_or(inner).trim_start();
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    &body[..end]
}

/// Rewrites a call-style `abort_message(args)` tag inside to the tag form
/// `abort_message args`; `None` when the inside is something else.
fn rewrite_abort_call(inner: &str) -> Option<String> {
    let lead = inner.strip_prefix('-').unwrap_or(inner);
    let lead_len = inner.len() - lead.trim_start().len();
    let after_name = inner[lead_len..].strip_prefix("abort_message")?;
    let call = after_name.trim_start().strip_prefix('(')?;
    let close = call.rfind(')')?;
    let tail = &call[close + 1..];
    if !tail.chars().all(|c| c.is_whitespace() || c == '-') {
        return None;
    }
    let args = call[..close].trim();
    let lead = &inner[..lead_len];
    if args.is_empty() {
        Some(format!("{lead}abort_message{tail}"))
    } else {
        Some(format!("{lead}abort_message {args}{tail}"))
    }
}

/// Offset of the next `{% endraw %}` (any whitespace control) in `text`.
fn find_endraw(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(pos) = text[from..].find("{%") {
        let at = from + pos;
        if tag_name(&text[at + 2..]) == "endraw" {
            return Some(at);
        }
        from = at + 2;
    }
    None
}

/// The first few characters of `text`, for error messages.
fn excerpt(text: &str) -> String {
    text.chars().take(24).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tr(src: &str) -> String {
        translate(src).expect("translates")
    }

    #[test]
    fn r_x8_standard_reference_becomes_top_level_variable() {
        assert_eq!(tr("{{${first_name}}}"), "{{first_name}}");
        assert_eq!(
            tr("{{ ${first_name} | default: 'there' }}"),
            "{{ first_name | default: 'there' }}"
        );
        assert_eq!(tr("{% if ${gender} == 'M' %}"), "{% if gender == 'M' %}");
    }

    #[test]
    fn r_x8_namespaced_references_become_properties() {
        assert_eq!(
            tr("{{custom_attribute.${loyalty_tier}}}"),
            "{{custom_attribute.loyalty_tier}}"
        );
        assert_eq!(
            tr("{% if event_properties.${cart_value} > 100 %}"),
            "{% if event_properties.cart_value > 100 %}"
        );
    }

    #[test]
    fn r_x8_unusual_names_use_bracket_access() {
        assert_eq!(
            tr("{{custom_attribute.${my key}}}"),
            r#"{{custom_attribute["my key"]}}"#
        );
        assert_eq!(
            tr("{{event_properties.${cart-value}}}"),
            r#"{{event_properties["cart-value"]}}"#
        );
        assert_eq!(
            tr(r#"{{custom_attribute.${say "hi"}}}"#),
            r#"{{custom_attribute['say "hi"']}}"#
        );
        assert_eq!(tr("{{${home city}}}"), r#"{{profile["home city"]}}"#);
        assert_eq!(tr("{{${blank}}}"), r#"{{profile["blank"]}}"#);
        assert_eq!(tr("{{${2fa}}}"), r#"{{profile["2fa"]}}"#);
    }

    #[test]
    fn r_x8_text_outside_markup_is_untouched() {
        let html = r#"<p class="a">Price: ${price} {not liquid}</p>{{${first_name}}}"#;
        assert_eq!(
            tr(html),
            r#"<p class="a">Price: ${price} {not liquid}</p>{{first_name}}"#
        );
    }

    #[test]
    fn r_x8_string_literals_and_raw_blocks_are_untouched() {
        assert_eq!(
            tr("{{ '${first_name}' | append: ${last_name} }}"),
            "{{ '${first_name}' | append: last_name }}"
        );
        assert_eq!(
            tr("{% raw %}{{${first_name}}}{% endraw %}{{${x}}}"),
            "{% raw %}{{${first_name}}}{% endraw %}{{x}}"
        );
    }

    #[test]
    fn r_x8_abort_call_becomes_tag_form() {
        assert_eq!(
            tr(r#"{% abort_message("no name") %}"#),
            r#"{% abort_message "no name" %}"#
        );
        assert_eq!(tr("{% abort_message() %}"), "{% abort_message %}");
        assert_eq!(
            tr("{%- abort_message('x') -%}"),
            "{%- abort_message 'x' -%}"
        );
        assert_eq!(tr("{% abort_message %}"), "{% abort_message %}");
        assert_eq!(
            tr("{% abort_message(${first_name}) %}"),
            "{% abort_message first_name %}"
        );
    }

    #[test]
    fn r_x8_bad_references_are_errors() {
        assert!(matches!(
            translate("{{ ${first_name"),
            Err(TemplateError::Reference(_))
        ));
        assert!(matches!(
            translate("{{ ${} }}"),
            Err(TemplateError::Reference(_))
        ));
        assert!(matches!(
            translate(r#"{{ custom_attribute.${a'b"c} }}"#),
            Err(TemplateError::Reference(_))
        ));
    }

    #[test]
    fn r_x8_unclosed_region_is_left_for_the_parser() {
        assert_eq!(tr("Hi {{ ${first_name}"), "Hi {{ first_name");
    }

    proptest! {
        #[test]
        fn r_x8_text_without_markup_passes_through(s in "[^{]*(\\{[^{%][^{]*)*") {
            prop_assert_eq!(tr(&s), s);
        }
    }
}
