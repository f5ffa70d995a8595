//! `{% assign %}` and `{% capture %}` with a size bound: the same syntax and
//! effect as liquid-lib's, but a value over [`MAX_VARIABLE_BYTES`] of text
//! is refused instead of stored, so that a loop doubling a variable
//! (`{% assign s = s | append: s %}`) stops at a few MiB instead of taking
//! all memory.

use std::io::Write;

use liquid_core::error::ResultLiquidExt;
use liquid_core::model::KString;
use liquid_core::parser::FilterChain;
use liquid_core::{
    BlockReflection, Language, ParseBlock, ParseTag, Renderable, Result, Runtime, TagBlock,
    TagReflection, TagTokenIter, Template, Value, ValueView,
};

use super::{MAX_VARIABLE_BYTES, check_text_size};
use crate::template::limits::CappedOutput;

/// Parses `{% assign name = value | filters %}`.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct AssignTag;

impl TagReflection for AssignTag {
    fn tag(&self) -> &'static str {
        "assign"
    }

    fn description(&self) -> &'static str {
        "Sets a variable (bounded in size)."
    }
}

impl ParseTag for AssignTag {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let dst = arguments
            .expect_next("Identifier expected.")?
            .expect_identifier()
            .into_result()?
            .to_owned()
            .into();
        arguments
            .expect_next("Assignment operator \"=\" expected.")?
            .expect_str("=")
            .into_result_custom_msg("Assignment operator \"=\" expected.")?;
        let src = arguments
            .expect_next("FilterChain expected.")?
            .expect_filter_chain(options)
            .into_result()?;
        arguments.expect_nothing()?;
        Ok(Box::new(Assign { dst, src }))
    }

    fn reflection(&self) -> &dyn TagReflection {
        self
    }
}

#[derive(Debug)]
struct Assign {
    dst: KString,
    src: FilterChain,
}

impl Assign {
    fn trace(&self) -> String {
        format!("{{% assign {} = {}%}}", self.dst, self.src)
    }
}

impl Renderable for Assign {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let value = self
            .src
            .evaluate(runtime)
            .trace_with(|| self.trace().into())?
            .into_owned();
        check_text_size(
            text_size(&value, MAX_VARIABLE_BYTES),
            &format!("variable `{}`", self.dst),
        )
        .trace_with(|| self.trace().into())?;
        runtime.set_global(self.dst.clone(), value);
        Ok(())
    }
}

/// Parses `{% capture name %}…{% endcapture %}`.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct CaptureBlock;

impl BlockReflection for CaptureBlock {
    fn start_tag(&self) -> &str {
        "capture"
    }

    fn end_tag(&self) -> &str {
        "endcapture"
    }

    fn description(&self) -> &str {
        "Sets a variable to the text its body renders (bounded in size)."
    }
}

impl ParseBlock for CaptureBlock {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        mut tokens: TagBlock<'_, '_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let id: KString = arguments
            .expect_next("Identifier expected")?
            .expect_identifier()
            .into_result()?
            .to_owned()
            .into();
        arguments.expect_nothing()?;
        let template = Template::new(
            tokens
                .parse_all(options)
                .trace_with(|| format!("{{% capture {} %}}", &id).into())?,
        );
        tokens.assert_empty();
        Ok(Box::new(Capture { id, template }))
    }

    fn reflection(&self) -> &dyn BlockReflection {
        self
    }
}

#[derive(Debug)]
struct Capture {
    id: KString,
    template: Template,
}

impl Capture {
    fn trace(&self) -> String {
        format!("{{% capture {} %}}", self.id)
    }
}

impl Renderable for Capture {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let mut captured = CappedOutput::new(MAX_VARIABLE_BYTES);
        let rendered = self.template.render_to(&mut captured, runtime);
        if captured.overflowed() {
            return check_text_size(None, &format!("captured variable `{}`", self.id))
                .trace_with(|| self.trace().into());
        }
        rendered.trace_with(|| self.trace().into())?;
        runtime.set_global(self.id.clone(), Value::scalar(captured.into_text()));
        Ok(())
    }
}

/// The bytes of text in `value` (its scalars' text, object keys, plus one
/// per array item or object entry so that arrays of empty strings count
/// too), or `None` once that passes `limit`: the walk stops there, so
/// measuring a huge value costs no more than `limit`.
pub(super) fn text_size(value: &dyn ValueView, limit: usize) -> Option<usize> {
    let mut total = 0usize;
    let mut stack: Vec<&dyn ValueView> = vec![value];
    while let Some(value) = stack.pop() {
        let mut add = |bytes: usize| {
            total = total.saturating_add(bytes);
            total <= limit
        };
        if let Some(scalar) = value.as_scalar() {
            if !add(scalar.to_kstr().len()) {
                return None;
            }
        } else if let Some(array) = value.as_array() {
            for item in array.values() {
                if !add(1) {
                    return None;
                }
                stack.push(item);
            }
        } else if let Some(object) = value.as_object() {
            for (key, item) in object.iter() {
                if !add(1 + key.len()) {
                    return None;
                }
                stack.push(item);
            }
        }
    }
    Some(total)
}
