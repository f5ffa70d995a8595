//! The `{% abort_message %}` tag (R-X step 8): stops rendering, and the
//! send ends with outcome `aborted` and the optional reason.
//!
//! The Braze call form `abort_message("why")` is rewritten to the tag form
//! `abort_message "why"` by the dialect translation (`braze`); this module parses the tag
//! form. The reason may be any Liquid value with filters
//! (`{% abort_message "no " | append: ${first_name} %}`); an empty reason
//! counts as none.
//!
//! Rendering the tag returns a `liquid` error that carries an
//! `AbortSignal` as its cause, so that the abort unwinds through every
//! enclosing block (`if`, `for`, `capture`, …) like any render error;
//! `abort_reason` tells it apart from real errors afterwards.

use std::error::Error as StdError;
use std::io::Write;

use liquid_core::parser::FilterChain;
use liquid_core::{
    Error, Language, ParseTag, Renderable, Result, Runtime, TagReflection, TagTokenIter, ValueView,
};

/// Registers `abort_message` with a parser.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AbortMessageTag;

impl TagReflection for AbortMessageTag {
    fn tag(&self) -> &str {
        "abort_message"
    }

    fn description(&self) -> &str {
        "Stops rendering the message; the send ends `aborted` with the optional reason."
    }
}

impl ParseTag for AbortMessageTag {
    fn parse(
        &self,
        mut arguments: TagTokenIter<'_>,
        options: &Language,
    ) -> Result<Box<dyn Renderable>> {
        let reason = match arguments.next() {
            None => None,
            Some(token) => Some(token.expect_filter_chain(options).into_result()?),
        };
        arguments.expect_nothing()?;
        Ok(Box::new(AbortMessage { reason }))
    }

    fn reflection(&self) -> &dyn TagReflection {
        self
    }
}

/// A parsed `abort_message` tag.
#[derive(Debug)]
struct AbortMessage {
    reason: Option<FilterChain>,
}

impl Renderable for AbortMessage {
    fn render_to(&self, _writer: &mut dyn Write, runtime: &dyn Runtime) -> Result<()> {
        let reason = match &self.reason {
            None => None,
            Some(chain) => {
                let text = chain.evaluate(runtime)?.to_kstr().into_owned();
                (!text.is_empty()).then(|| text.to_string())
            }
        };
        Err(Error::with_msg("abort_message").cause(AbortCarrier(AbortSignal { reason })))
    }
}

/// Why a template stopped: the payload of an abort.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("abort_message")]
pub(crate) struct AbortSignal {
    /// The reason given to the tag, if any.
    pub(crate) reason: Option<String>,
}

/// Wraps the signal so that it is reachable through `source()` whichever
/// way `liquid::Error` exposes its cause.
#[derive(Debug, Clone, thiserror::Error)]
#[error("abort_message")]
struct AbortCarrier(#[source] AbortSignal);

/// The abort carried by a render error, if it is one.
pub(crate) fn abort_reason(error: &Error) -> Option<AbortSignal> {
    let mut cause: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(current) = cause {
        if let Some(signal) = current.downcast_ref::<AbortSignal>() {
            return Some(signal.clone());
        }
        if let Some(AbortCarrier(signal)) = current.downcast_ref::<AbortCarrier>() {
            return Some(signal.clone());
        }
        cause = current.source();
    }
    None
}
