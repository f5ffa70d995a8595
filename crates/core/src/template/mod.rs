//! Message templates (R-X step 8): every string of a channel message is a
//! Liquid template in Braze's dialect, parsed once when the campaign is
//! saved and rendered at send time.
//!
//! - [`Template`]: one string. [`Template::parse`] translates the dialect
//!   (`${first_name}`, `custom_attribute.${x}`, `event_properties.${x}`,
//!   `abort_message("why")`, see module `braze`) and parses it with the `liquid`
//!   crate (standard library plus the `abort_message` tag, and a `date`
//!   filter that reads RFC 3339 and takes `now` as the send's due instant)
//!   once;
//!   [`Template::render`] only evaluates the parsed tree.
//! - [`MessageTemplate`]: a whole message JSON object, every string leaf a
//!   template (see module `message`).
//! - [`RenderContext`]: the variables (see module `context` for the layout and
//!   for why missing variables render as empty text).
//! - [`RenderFailure`]: `Aborted` (outcome `aborted`, with the reason) or
//!   `Error` (outcome `render_error`).
//!
//! Limits, because templates meet values from events (which an app's SDK
//! key lets anyone send): a template may nest block tags at most
//! [`MAX_BLOCK_DEPTH`] deep (the `liquid` parser recurses per level and a
//! few thousand levels overflowed a worker's stack, which aborts the
//! process); a render stops with `render_error` past [`MAX_RENDERED_BYTES`]
//! of output; and a panic inside `liquid` while rendering (its
//! `divided_by` and `modulo` filters divide `i64::MIN` by `-1` unchecked,
//! `tablerow cols: 0` divides by zero) is that send's `render_error`, not
//! a crashed send that fires and crashes again after every restart.
//! Loops, `assign`/`capture` and the string filters that multiply sizes
//! (`replace`, `join`) are bounded versions of the standard ones (module
//! `bounded`): at most [`MAX_LOOP_ITERATIONS`] loop iterations and
//! [`MAX_LOOP_TIME`] of looping per render, and no variable or such result
//! over [`MAX_VARIABLE_BYTES`].

mod abort;
mod bounded;
mod braze;
mod context;
mod date;
mod limits;
mod message;

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};

pub use bounded::{MAX_LOOP_ITERATIONS, MAX_LOOP_TIME, MAX_VARIABLE_BYTES};
pub use limits::{MAX_BLOCK_DEPTH, MAX_RENDERED_BYTES};

pub use context::{CampaignRef, RenderContext, SendRef};
pub use message::MessageTemplate;

/// A template that could not be parsed; reported when the campaign is
/// saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A malformed `${…}` attribute reference.
    #[error("invalid attribute reference: {0}")]
    Reference(String),
    /// Liquid syntax the parser rejects (unclosed tag, unknown filter or
    /// tag, …).
    #[error("invalid Liquid: {0}")]
    Syntax(String),
}

/// Why rendering produced no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderFailure {
    /// `{% abort_message %}` ran: the send ends `aborted`.
    #[error("aborted by abort_message: {}", reason.as_deref().unwrap_or("no reason given"))]
    Aborted {
        /// The reason given to `abort_message`, if any.
        reason: Option<String>,
    },
    /// Evaluation failed (a filter error, an include without partials, …):
    /// the send ends `render_error`.
    #[error("render error: {message}")]
    Error {
        /// What went wrong, as `liquid` describes it.
        message: String,
    },
}

impl RenderFailure {
    /// The send outcome code of this failure (SPEC R-X step 8).
    pub fn outcome(&self) -> &'static str {
        match self {
            RenderFailure::Aborted { .. } => "aborted",
            RenderFailure::Error { .. } => "render_error",
        }
    }
}

/// One parsed template; cheap to clone and shareable between threads.
#[derive(Clone)]
pub struct Template {
    source: Arc<str>,
    compiled: Arc<liquid::Template>,
}

impl Template {
    /// Translates the Braze dialect and parses the result.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let liquid_source = braze::translate(src)?;
        limits::check_block_depth(&liquid_source)?;
        let compiled = parser()?
            .parse(&liquid_source)
            .map_err(|e| TemplateError::Syntax(describe(&e)))?;
        Ok(Template {
            source: Arc::from(src),
            compiled: Arc::new(compiled),
        })
    }

    /// Renders with the variables of one send; never parses again. Output
    /// past [`MAX_RENDERED_BYTES`] and a panic inside `liquid` are
    /// [`RenderFailure::Error`].
    pub fn render(&self, ctx: &RenderContext) -> Result<String, RenderFailure> {
        let mut out = limits::CappedOutput::new(MAX_RENDERED_BYTES);
        let rendered = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.compiled.render_to(&mut out, ctx.globals())
        }));
        match rendered {
            Ok(Ok(())) => Ok(out.into_text()),
            Ok(Err(_)) if out.overflowed() => Err(RenderFailure::Error {
                message: format!("the rendered text exceeds {MAX_RENDERED_BYTES} bytes"),
            }),
            Ok(Err(e)) => Err(match abort::abort_reason(&e) {
                Some(signal) => RenderFailure::Aborted {
                    reason: signal.reason,
                },
                None => RenderFailure::Error {
                    message: describe(&e),
                },
            }),
            Err(panic) => Err(RenderFailure::Error {
                message: format!(
                    "the template engine failed: {}",
                    limits::panic_text(panic.as_ref())
                ),
            }),
        }
    }

    /// The template as written (Braze dialect).
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The shared parser: Liquid's standard library plus `abort_message`, with
/// `date` replaced (see module `date`) and loops, variables and the
/// size-multiplying filters bounded (module `bounded`), built once per
/// process.
fn parser() -> Result<&'static liquid::Parser, TemplateError> {
    static PARSER: OnceLock<Result<liquid::Parser, String>> = OnceLock::new();
    PARSER
        .get_or_init(|| {
            bounded::register(liquid::ParserBuilder::with_stdlib())
                .tag(abort::AbortMessageTag)
                .filter(date::SendDate)
                .build()
                .map_err(|e| describe(&e))
        })
        .as_ref()
        .map_err(|e| TemplateError::Syntax(format!("Liquid parser unavailable: {e}")))
}

/// `liquid`'s multi-line error text on one line, without its `liquid: `
/// prefix.
fn describe(error: &liquid::Error) -> String {
    let text = error.to_string();
    let text = text.strip_prefix("liquid: ").unwrap_or(&text);
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
