//! `{% for %}` and `{% tablerow %}` with a loop budget: liquid-lib
//! 0.26.11's blocks (`stdlib/blocks/for_block.rs`, MIT OR Apache-2.0),
//! changed where marked `bounded:`:
//!
//! - the window a loop iterates (after `offset` and `limit`) is computed
//!   before anything is collected, and its length is charged to the
//!   render's budget first ([`super::charge_iterations`]): a counted range
//!   `(a..b)` is materialised only for the iterations that will run;
//!   `break` gives back what it skipped;
//! - each iteration first checks the render's loop time
//!   ([`super::check_loop_time`]);
//! - `limit` past the end no longer pads the loop with `nil` items after an
//!   `offset` (liquid-lib resized the window to `limit`);
//! - `tablerow cols: 0` with items to lay out is an error instead of a
//!   division by zero.

use std::fmt;
use std::io::Write;

use liquid_core::error::{ResultLiquidExt, ResultLiquidReplaceExt};
use liquid_core::model::{KString, KStringRef, Value, ValueCow};
use liquid_core::parser::{BlockElement, TryMatchToken};
use liquid_core::runtime::{Interrupt, InterruptRegister, StackFrame};
use liquid_core::{
    BlockReflection, Error, Expression, Language, ObjectView, ParseBlock, Renderable, Result,
    Runtime, TagBlock, TagTokenIter, Template, ValueView,
};

use super::{charge_iterations, check_loop_time, refund_iterations};

/// Parses `{% for item in range [limit: n] [offset: n] [reversed] %}`.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct ForBlock;

impl BlockReflection for ForBlock {
    fn start_tag(&self) -> &str {
        "for"
    }

    fn end_tag(&self) -> &str {
        "endfor"
    }

    fn description(&self) -> &str {
        "Renders its body once per item of an array or a range (bounded)."
    }
}

impl ParseBlock for ForBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let (var_name, range) = parse_head(&mut arguments)?;

        let mut limit = None;
        let mut offset = None;
        let mut reversed = false;
        while let Some(token) = arguments.next() {
            match token.as_str() {
                "limit" => limit = Some(parse_attr(&mut arguments)?),
                "offset" => offset = Some(parse_attr(&mut arguments)?),
                "reversed" => reversed = true,
                _ => {
                    return token
                        .raise_custom_error("\"limit\", \"offset\" or \"reversed\" expected.")
                        .into_err();
                }
            }
        }
        arguments.expect_nothing()?;

        let mut item_template = Vec::new();
        let mut else_template = None;
        while let Some(element) = tokens.next()? {
            match element {
                BlockElement::Tag(mut tag) => match tag.name() {
                    "else" => {
                        tag.tokens().expect_nothing()?;
                        else_template = Some(tokens.parse_all(options)?);
                        break;
                    }
                    _ => item_template.push(tag.parse(&mut tokens, options)?),
                },
                element => item_template.push(element.parse(&mut tokens, options)?),
            }
        }
        tokens.assert_empty();
        Ok(Box::new(For {
            var_name,
            range,
            item_template: Template::new(item_template),
            else_template: else_template.map(Template::new),
            window: WindowArgs { limit, offset },
            reversed,
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct For {
    var_name: KString,
    range: RangeExpression,
    item_template: Template,
    else_template: Option<Template>,
    window: WindowArgs,
    reversed: bool,
}

impl For {
    fn trace(&self) -> String {
        let mut parameters = self.window.describe();
        if self.reversed {
            parameters.push("reversed".to_owned());
        }
        format!(
            "{{% for {} in {} {} %}}",
            self.var_name,
            self.range,
            parameters.join(", ")
        )
    }
}

impl Renderable for For {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let window = self.window.evaluate(runtime)?;
        let mut items = self
            .range
            .items(runtime, window)
            .trace_with(|| self.trace().into())?;
        if self.reversed {
            items.reverse();
        }
        let range_len = items.len();
        if range_len == 0 {
            if let Some(ref t) = self.else_template {
                t.render_to(writer, runtime)
                    .trace("{{% else %}}")
                    .trace_with(|| self.trace().into())?;
            }
            return Ok(());
        }
        let parentloop = runtime.try_get(&[liquid_core::model::Scalar::new("forloop")]);
        let parentloop_ref = parentloop.as_ref().map(|v| v.as_view());
        for (i, v) in items.into_iter().enumerate() {
            check_loop_time(runtime).trace_with(|| self.trace().into())?;
            let forloop = ForloopObject::new(i, range_len).parentloop(parentloop_ref);
            let mut root = std::collections::HashMap::<KStringRef<'_>, &dyn ValueView>::new();
            root.insert("forloop".into(), &forloop);
            root.insert(self.var_name.as_ref(), &v);
            let scope = StackFrame::new(runtime, &root);
            self.item_template
                .render_to(writer, &scope)
                .trace_with(|| self.trace().into())
                .context_key("index")
                .value_with(|| format!("{}", i + 1).into())?;
            // `continue` only needs the interrupt cleared; `break` ends the loop.
            let current_interrupt = scope.registers().get_mut::<InterruptRegister>().reset();
            if let Some(Interrupt::Break) = current_interrupt {
                // bounded: what `break` skipped is given back.
                refund_iterations(runtime, range_len - i - 1);
                break;
            }
        }
        Ok(())
    }
}

/// The `forloop` variable.
#[derive(Debug, Clone, ValueView, ObjectView)]
struct ForloopObject<'p> {
    length: i64,
    parentloop: Option<&'p dyn ValueView>,
    index0: i64,
    index: i64,
    rindex0: i64,
    rindex: i64,
    first: bool,
    last: bool,
}

impl<'p> ForloopObject<'p> {
    fn new(i: usize, len: usize) -> Self {
        let i = i as i64;
        let len = len as i64;
        Self {
            length: len,
            parentloop: None,
            index0: i,
            index: i + 1,
            rindex0: len - i - 1,
            rindex: len - i,
            first: i == 0,
            last: i == len - 1,
        }
    }

    fn parentloop(mut self, parentloop: Option<&'p dyn ValueView>) -> Self {
        self.parentloop = parentloop;
        self
    }
}

/// Parses `{% tablerow item in range [cols: n] [limit: n] [offset: n] %}`.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct TableRowBlock;

impl BlockReflection for TableRowBlock {
    fn start_tag(&self) -> &str {
        "tablerow"
    }

    fn end_tag(&self) -> &str {
        "endtablerow"
    }

    fn description(&self) -> &str {
        "Renders an HTML table row cell per item (bounded)."
    }
}

impl ParseBlock for TableRowBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let (var_name, range) = parse_head(&mut arguments)?;

        let mut cols = None;
        let mut limit = None;
        let mut offset = None;
        while let Some(token) = arguments.next() {
            match token.as_str() {
                "cols" => cols = Some(parse_attr(&mut arguments)?),
                "limit" => limit = Some(parse_attr(&mut arguments)?),
                "offset" => offset = Some(parse_attr(&mut arguments)?),
                _ => {
                    return token
                        .raise_custom_error("\"cols\", \"limit\" or \"offset\" expected.")
                        .into_err();
                }
            }
        }
        arguments.expect_nothing()?;
        let item_template = Template::new(tokens.parse_all(options)?);
        tokens.assert_empty();
        Ok(Box::new(TableRow {
            var_name,
            range,
            item_template,
            cols,
            window: WindowArgs { limit, offset },
        }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct TableRow {
    var_name: KString,
    range: RangeExpression,
    item_template: Template,
    cols: Option<Expression>,
    window: WindowArgs,
}

impl TableRow {
    fn trace(&self) -> String {
        let mut parameters = Vec::new();
        if let Some(cols) = &self.cols {
            parameters.push(format!("cols:{cols}"));
        }
        parameters.extend(self.window.describe());
        format!(
            "{{% tablerow {} in {} {} %}}",
            self.var_name,
            self.range,
            parameters.join(", ")
        )
    }
}

impl Renderable for TableRow {
    fn render_to(&self, writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let cols = evaluate_attr(&self.cols, runtime)?;
        let window = self.window.evaluate(runtime)?;
        let items = self
            .range
            .items(runtime, window)
            .trace_with(|| self.trace().into())?;
        // bounded: liquid-lib divided by zero here (with items to lay out).
        if cols == Some(0) && !items.is_empty() {
            return Err(Error::with_msg("tablerow cols must be at least 1"))
                .trace_with(|| self.trace().into());
        }
        let range_len = items.len();
        for (i, v) in items.into_iter().enumerate() {
            check_loop_time(runtime).trace_with(|| self.trace().into())?;
            let cols = cols.unwrap_or(range_len);
            let col_index = i % cols;
            let row_index = i / cols;
            let tablerow = TableRowObject::new(i, range_len, col_index, cols);
            let mut root = std::collections::HashMap::<KStringRef<'_>, &dyn ValueView>::new();
            root.insert("tablerow".into(), &tablerow);
            root.insert(self.var_name.as_ref(), &v);
            if tablerow.col_first {
                write!(writer, "<tr class=\"row{}\">", row_index + 1)
                    .replace("Failed to render")?;
            }
            write!(writer, "<td class=\"col{}\">", col_index + 1).replace("Failed to render")?;
            let scope = StackFrame::new(runtime, &root);
            self.item_template
                .render_to(writer, &scope)
                .trace_with(|| self.trace().into())
                .context_key("index")
                .value_with(|| format!("{}", i + 1).into())?;
            write!(writer, "</td>").replace("Failed to render")?;
            if tablerow.col_last {
                write!(writer, "</tr>").replace("Failed to render")?;
            }
        }
        Ok(())
    }
}

/// The `tablerow` variable.
#[derive(Debug, Clone, ValueView, ObjectView)]
struct TableRowObject {
    length: i64,
    index0: i64,
    index: i64,
    rindex0: i64,
    rindex: i64,
    first: bool,
    last: bool,
    col0: i64,
    col: i64,
    col_first: bool,
    col_last: bool,
}

impl TableRowObject {
    fn new(i: usize, len: usize, col: usize, cols: usize) -> Self {
        let i = i as i64;
        let len = len as i64;
        let col = col as i64;
        let cols = cols as i64;
        let last = i == len - 1;
        Self {
            length: len,
            index0: i,
            index: i + 1,
            rindex0: len - i - 1,
            rindex: len - i,
            first: i == 0,
            last,
            col0: col,
            col: col + 1,
            col_first: col == 0,
            col_last: col == cols - 1 || last,
        }
    }
}

/// `limit:` and `offset:` as written.
#[derive(Debug)]
struct WindowArgs {
    limit: Option<Expression>,
    offset: Option<Expression>,
}

impl WindowArgs {
    fn evaluate(&self, runtime: &dyn Runtime) -> Result<Window> {
        Ok(Window {
            limit: evaluate_attr(&self.limit, runtime)?,
            offset: evaluate_attr(&self.offset, runtime)?.unwrap_or(0),
        })
    }

    fn describe(&self) -> Vec<String> {
        let mut parameters = Vec::new();
        if let Some(limit) = &self.limit {
            parameters.push(format!("limit:{limit}"));
        }
        if let Some(offset) = &self.offset {
            parameters.push(format!("offset:{offset}"));
        }
        parameters
    }
}

/// Which items of a range a loop visits: skip `offset`, then at most
/// `limit`.
#[derive(Debug, Clone, Copy)]
struct Window {
    limit: Option<usize>,
    offset: usize,
}

impl Window {
    /// The first index and the count visited of `len` items.
    fn of(self, len: usize) -> (usize, usize) {
        let first = self.offset.min(len);
        let available = len - first;
        (first, self.limit.map_or(available, |l| l.min(available)))
    }
}

/// What a loop iterates: an array (or object, as `[key, value]` pairs) or a
/// counted range `(start..stop)`.
#[derive(Clone, Debug)]
enum RangeExpression {
    Array(Expression),
    Counted(Expression, Expression),
}

impl RangeExpression {
    /// The items the loop visits, after charging their number to the
    /// render's budget.
    fn items<'r>(&'r self, runtime: &'r dyn Runtime, window: Window) -> Result<Vec<ValueCow<'r>>> {
        match self {
            RangeExpression::Array(array) => {
                let array = array.evaluate(runtime)?;
                let (first, count) = window.of(sequence_len(array.as_view())?);
                charge_iterations(runtime, count)?;
                sequence_items(array, first, count)
            }
            RangeExpression::Counted(start, stop) => {
                let start = int_argument(start, runtime, "start")?;
                let stop = int_argument(stop, runtime, "end")?;
                // bounded: the length as a number, nothing collected yet.
                let len = (i128::from(stop) - i128::from(start) + 1).max(0);
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                let (first, count) = window.of(len);
                charge_iterations(runtime, count)?;
                // Every item lies in `start..=stop`, so it fits an i64.
                Ok((0..count)
                    .map(|i| {
                        let item = i128::from(start) + (first + i) as i128;
                        Value::scalar(item as i64).into()
                    })
                    .collect())
            }
        }
    }
}

impl fmt::Display for RangeExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeExpression::Array(arr) => write!(f, "{arr}"),
            RangeExpression::Counted(start, end) => write!(f, "({start}..{end})"),
        }
    }
}

/// Parses `item in range`, the start of both loop tags.
fn parse_head(arguments: &mut TagTokenIter<'_>) -> Result<(KString, RangeExpression)> {
    let var_name = arguments
        .expect_next("Identifier expected.")?
        .expect_identifier()
        .into_result()?;
    let var_name = KString::from_ref(var_name);
    arguments
        .expect_next("\"in\" expected.")?
        .expect_str("in")
        .into_result_custom_msg("\"in\" expected.")?;
    let range = arguments.expect_next("Array or range expected.")?;
    let range = match range.expect_value() {
        TryMatchToken::Matches(array) => RangeExpression::Array(array),
        TryMatchToken::Fails(range) => match range.expect_range() {
            TryMatchToken::Matches((start, stop)) => RangeExpression::Counted(start, stop),
            TryMatchToken::Fails(range) => return range.raise_error().into_err(),
        },
    };
    Ok((var_name, range))
}

/// How many items looping over `value` visits (before the window).
fn sequence_len(value: &dyn ValueView) -> Result<usize> {
    if let Some(array) = value.as_array() {
        Ok(array.size() as usize)
    } else if let Some(object) = value.as_object() {
        Ok(object.size() as usize)
    } else if value.is_state() || value.is_nil() {
        Ok(0)
    } else {
        Err(unexpected_value_error("array", value.type_name()))
    }
}

/// Items `first..first + count` of `value`; objects give `[key, value]`.
fn sequence_items<'r>(
    value: ValueCow<'r>,
    first: usize,
    count: usize,
) -> Result<Vec<ValueCow<'r>>> {
    match value {
        ValueCow::Borrowed(view) => {
            if let Some(array) = view.as_array() {
                Ok(array
                    .values()
                    .skip(first)
                    .take(count)
                    .map(ValueCow::Borrowed)
                    .collect())
            } else {
                object_pairs(view, first, count)
            }
        }
        ValueCow::Owned(owned) => {
            if let Value::Array(array) = owned {
                Ok(array
                    .into_iter()
                    .skip(first)
                    .take(count)
                    .map(ValueCow::Owned)
                    .collect())
            } else {
                object_pairs(&owned, first, count)
            }
        }
    }
}

fn object_pairs<'r>(
    value: &dyn ValueView,
    first: usize,
    count: usize,
) -> Result<Vec<ValueCow<'r>>> {
    let Some(object) = value.as_object() else {
        return Ok(Vec::new());
    };
    Ok(object
        .iter()
        .skip(first)
        .take(count)
        .map(|(k, v)| Value::Array(vec![Value::scalar(k.into_owned()), v.to_value()]).into())
        .collect())
}

/// Parses `: value` after `limit`, `offset` or `cols`.
fn parse_attr(arguments: &mut TagTokenIter<'_>) -> Result<Expression> {
    arguments
        .expect_next("\":\" expected.")?
        .expect_str(":")
        .into_result_custom_msg("\":\" expected.")?;
    arguments
        .expect_next("Value expected.")?
        .expect_value()
        .into_result()
}

/// Evaluates an optional whole-number attribute (negative numbers wrap to
/// huge ones, as in liquid-lib, which the window then clamps).
fn evaluate_attr(attr: &Option<Expression>, runtime: &dyn Runtime) -> Result<Option<usize>> {
    let Some(attr) = attr else {
        return Ok(None);
    };
    let value = attr.evaluate(runtime)?;
    let number = value
        .as_scalar()
        .and_then(|s| s.to_integer())
        .ok_or_else(|| unexpected_value_error("whole number", value.type_name()))?;
    Ok(Some(number as usize))
}

fn int_argument(arg: &Expression, runtime: &dyn Runtime, arg_name: &str) -> Result<i64> {
    let value = arg.evaluate(runtime)?;
    value
        .as_scalar()
        .and_then(|v| v.to_integer())
        .ok_or_else(|| unexpected_value_error("whole number", value.type_name()))
        .context_key_with(|| arg_name.to_owned().into())
        .value_with(|| value.to_kstr().into_owned())
}

fn unexpected_value_error(expected: &str, actual: &str) -> Error {
    Error::with_msg(format!("Expected {expected}, found `{actual}`"))
}
