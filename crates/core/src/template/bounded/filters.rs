//! `replace`, `replace_first` and `join` that compute their result's length
//! before building it and refuse one over [`super::MAX_VARIABLE_BYTES`]:
//! each multiplies the sizes of two inputs (`replace` with an event's text
//! as the replacement, `join` with it as the separator), so a few hundred
//! KiB of input could otherwise ask for terabytes. Same syntax, defaults
//! and output as liquid-lib's.

use liquid_core::{
    Display_filter, Error, Expression, Filter, FilterParameters, FilterReflection,
    FromFilterParameters, ParseFilter, Result, Runtime, Value, ValueView,
};

use super::{MAX_VARIABLE_BYTES, check_text_size};

/// The parameters of `replace` and `replace_first`.
#[derive(Debug, FilterParameters)]
struct ReplaceArgs {
    #[parameter(description = "The text to search.", arg_type = "str")]
    search: Expression,
    #[parameter(
        description = "The text to put in place of the occurrences (none: delete them).",
        arg_type = "str"
    )]
    replace: Option<Expression>,
}

/// Registers `replace`.
#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "replace",
    description = "Replaces every occurrence of `search` with `replace` (bounded).",
    parameters(ReplaceArgs),
    parsed(ReplaceFilter)
)]
pub(crate) struct Replace;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "replace"]
struct ReplaceFilter {
    #[parameters]
    args: ReplaceArgs,
}

impl Filter for ReplaceFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        let input = input.to_kstr();
        let replace = args.replace.unwrap_or_else(|| "".into());
        let search = args.search.as_str();
        // `str::replace` with an empty pattern inserts before every char
        // and at the end.
        let occurrences = if search.is_empty() {
            input.chars().count() + 1
        } else {
            input.matches(search).count()
        };
        let grown = replace.len().saturating_sub(search.len());
        let len = occurrences
            .checked_mul(grown)
            .and_then(|g| g.checked_add(input.len()));
        check_text_size(len, "the result of `replace`")?;
        Ok(Value::scalar(input.replace(search, replace.as_str())))
    }
}

/// Registers `replace_first`.
#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "replace_first",
    description = "Replaces the first occurrence of `search` with `replace` (bounded).",
    parameters(ReplaceArgs),
    parsed(ReplaceFirstFilter)
)]
pub(crate) struct ReplaceFirst;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "replace_first"]
struct ReplaceFirstFilter {
    #[parameters]
    args: ReplaceArgs,
}

impl Filter for ReplaceFirstFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        let input = input.to_kstr();
        let replace = args.replace.unwrap_or_else(|| "".into());
        let Some((before, after)) = input.split_once(args.search.as_str()) else {
            return Ok(Value::scalar(input.into_owned()));
        };
        let len = before
            .len()
            .checked_add(replace.len())
            .and_then(|n| n.checked_add(after.len()));
        check_text_size(len, "the result of `replace_first`")?;
        Ok(Value::scalar([before, replace.as_str(), after].concat()))
    }
}

#[derive(Debug, FilterParameters)]
struct JoinArgs {
    #[parameter(
        description = "The separator between items (default: one space).",
        arg_type = "str"
    )]
    separator: Option<Expression>,
}

/// Registers `join`.
#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "join",
    description = "Joins an array's items into one text with a separator (bounded).",
    parameters(JoinArgs),
    parsed(JoinFilter)
)]
pub(crate) struct Join;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "join"]
struct JoinFilter {
    #[parameters]
    args: JoinArgs,
}

impl Filter for JoinFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        let separator = args.separator.unwrap_or_else(|| " ".into());
        let array = input.as_array().ok_or_else(|| {
            Error::with_msg("Invalid input").context("cause", "Array of strings expected")
        })?;
        let mut items = Vec::new();
        let mut len = Some(0usize);
        for (i, item) in array.values().enumerate() {
            let text = item.to_kstr();
            let separator_len = if i == 0 { 0 } else { separator.len() };
            len = len
                .and_then(|n| n.checked_add(separator_len))
                .and_then(|n| n.checked_add(text.len()))
                .filter(|n| *n <= MAX_VARIABLE_BYTES);
            check_text_size(len, "the result of `join`")?;
            items.push(text);
        }
        Ok(Value::scalar(items.join(separator.as_str())))
    }
}
