//! Liquid's loops, variable tags and string-multiplying filters, with
//! bounds on what one render may cost.
//!
//! The `liquid` crate's standard versions trust their inputs, and those
//! inputs include values from events, which an app's SDK key lets anyone
//! send: `{% for i in (1..event_properties.n) %}` collects the whole range
//! into memory before the first iteration (an `n` of a few billion fails
//! the allocation, which aborts the process; the send then stays pending
//! and aborts it again after every restart), and `replace` or `join` with
//! an event's text as the replacement or separator multiplies the sizes of
//! two inputs. The versions here replace the standard ones by name
//! ([`register`]) and keep their syntax and output, with these bounds:
//!
//! - every loop (`for`, `tablerow`) charges its iterations to one budget
//!   per render, [`MAX_LOOP_ITERATIONS`], before it starts: a counted range
//!   is never collected past what the budget allows, and nested loops
//!   cannot multiply their way to hours of work; a loop left by `break`
//!   gives back the iterations it did not run;
//! - loops stop [`MAX_LOOP_TIME`] after the render's first loop started:
//!   iterations are counted, not what each one does, and 100,000 bodies
//!   that each run a filter over megabytes of event text would still take
//!   minutes;
//! - a variable set by `assign` or `capture` may hold at most
//!   [`MAX_VARIABLE_BYTES`] of text (the largest request body), which stops
//!   doubling loops (`s | append: s`);
//! - `replace`, `replace_first` and `join` compute the length of their
//!   result before building it and refuse past [`MAX_VARIABLE_BYTES`].
//!
//! Each refusal is a `liquid` error, so the send ends `render_error` with
//! the message saying which bound was hit.
//!
//! The loops (module `loops`) are liquid-lib 0.26.11's `for` and
//! `tablerow` (MIT OR Apache-2.0) changed only where noted there.

mod filters;
mod loops;
mod variables;

use std::time::{Duration, Instant};

use liquid_core::{Error, Result, Runtime};

pub(crate) use filters::{Join, Replace, ReplaceFirst};
pub(crate) use loops::{ForBlock, TableRowBlock};
pub(crate) use variables::{AssignTag, CaptureBlock};

/// Most loop iterations (all `for` and `tablerow` loops together,
/// nested ones counted each time they run) one render may do.
pub const MAX_LOOP_ITERATIONS: usize = 100_000;

/// Largest value, in bytes of text as Liquid renders it, a variable or a
/// string filter's result may hold: 4 MiB, the largest request body. (A
/// value can render longer than the JSON it came in: `1e300` renders as
/// 301 digits.)
pub const MAX_VARIABLE_BYTES: usize = 4 * 1024 * 1024;

/// How long the loops of one render may run, counted from its first
/// loop's start. A wall-clock bound, so only the pathological templates it
/// exists for can meet it: an ordinary message renders in microseconds.
pub const MAX_LOOP_TIME: Duration = Duration::from_secs(2);

/// Iterations spent so far in one render and when its loops must end, kept
/// in the render's registers (`liquid` makes them fresh for every render).
#[derive(Debug, Default)]
struct LoopBudget {
    spent: usize,
    deadline: Option<Instant>,
}

/// Charges `iterations` to the render's loop budget, or refuses when they
/// would take it past [`MAX_LOOP_ITERATIONS`]. The register is borrowed
/// only in these functions, never while a loop body renders (a nested loop
/// charges it too).
fn charge_iterations(runtime: &dyn Runtime, iterations: usize) -> Result<()> {
    let mut budget = runtime.registers().get_mut::<LoopBudget>();
    budget
        .deadline
        .get_or_insert_with(|| Instant::now() + MAX_LOOP_TIME);
    match budget.spent.checked_add(iterations) {
        Some(total) if total <= MAX_LOOP_ITERATIONS => {
            budget.spent = total;
            Ok(())
        }
        _ => Err(Error::with_msg(format!(
            "the template's loops would run more than {MAX_LOOP_ITERATIONS} iterations"
        ))),
    }
}

/// Gives back iterations a loop charged but did not run (it was left by
/// `break`).
fn refund_iterations(runtime: &dyn Runtime, iterations: usize) {
    let mut budget = runtime.registers().get_mut::<LoopBudget>();
    budget.spent = budget.spent.saturating_sub(iterations);
}

/// Refuses to start another iteration once [`MAX_LOOP_TIME`] has passed.
fn check_loop_time(runtime: &dyn Runtime) -> Result<()> {
    let budget = runtime.registers().get_mut::<LoopBudget>();
    match budget.deadline {
        Some(deadline) if Instant::now() > deadline => Err(Error::with_msg(format!(
            "the template's loops ran longer than {} s",
            MAX_LOOP_TIME.as_secs()
        ))),
        _ => Ok(()),
    }
}

/// Refuses a text of `bytes` bytes (or more: `None` is an overflow) as a
/// variable's value or a filter's result.
fn check_text_size(bytes: Option<usize>, what: &str) -> Result<()> {
    match bytes {
        Some(n) if n <= MAX_VARIABLE_BYTES => Ok(()),
        _ => Err(Error::with_msg(format!(
            "{what} would be longer than {MAX_VARIABLE_BYTES} bytes"
        ))),
    }
}

/// Registers the bounded versions over the standard ones.
pub(crate) fn register<P: liquid::partials::PartialCompiler>(
    builder: liquid::ParserBuilder<P>,
) -> liquid::ParserBuilder<P> {
    builder
        .block(ForBlock)
        .block(TableRowBlock)
        .block(CaptureBlock)
        .tag(AssignTag)
        .filter(Replace)
        .filter(ReplaceFirst)
        .filter(Join)
}

#[cfg(test)]
mod tests;
