//! A channel message as a template (R-X step 8): every string leaf of the
//! message JSON — object values and array items, at any depth — is a
//! [`Template`]; numbers, booleans, `null` and object keys are kept as they
//! are. Rendering returns the same shape with rendered strings; an abort in
//! any field aborts the whole message.
//!
//! Example: `{"url":"https://x/{{ ${user_id} }}","method":"POST",
//! "headers":{"X-Cart":"{{event_properties.${cart_id}}}"},"body":"…"}`.

use serde_json::{Map, Value as Json};

use super::{RenderContext, RenderFailure, Template};
use crate::validation::{Report, index, join};

/// A message whose string leaves are parsed templates.
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    root: Shape,
}

/// The message's structure, with templates at the string leaves.
#[derive(Debug, Clone)]
enum Shape {
    /// A string leaf, with its path for error messages.
    Text { path: String, template: Template },
    /// An array.
    List(Vec<Shape>),
    /// An object (keys in the order of the input).
    Object(Vec<(String, Shape)>),
    /// A number, boolean or `null`.
    Fixed(Json),
}

impl MessageTemplate {
    /// Parses every string leaf of `message`. `path` names the message in
    /// the definition (e.g. `message`); each parse error is reported at
    /// the leaf's path (`message.subject`, `message.buttons[0].text`).
    /// Returns `None` when any leaf failed (all failures are reported).
    pub fn compile(message: &Json, path: &str, report: &mut Report) -> Option<MessageTemplate> {
        let before = report.errors.len();
        let root = compile_shape(message, path, report);
        (report.errors.len() == before).then_some(MessageTemplate { root })
    }

    /// Renders every leaf; the first abort or error ends the whole render.
    pub fn render(&self, ctx: &RenderContext) -> Result<Json, RenderFailure> {
        render_shape(&self.root, ctx)
    }
}

fn compile_shape(value: &Json, path: &str, report: &mut Report) -> Shape {
    match value {
        Json::String(src) => match Template::parse(src) {
            Ok(template) => Shape::Text {
                path: path.to_string(),
                template,
            },
            Err(e) => {
                report.error(path, e.to_string());
                Shape::Fixed(Json::Null)
            }
        },
        Json::Array(items) => Shape::List(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| compile_shape(item, &index(path, i), report))
                .collect(),
        ),
        Json::Object(map) => Shape::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), compile_shape(item, &join(path, key), report)))
                .collect(),
        ),
        other => Shape::Fixed(other.clone()),
    }
}

fn render_shape(shape: &Shape, ctx: &RenderContext) -> Result<Json, RenderFailure> {
    Ok(match shape {
        Shape::Text { path, template } => match template.render(ctx) {
            Ok(text) => Json::String(text),
            Err(RenderFailure::Error { message }) => {
                return Err(RenderFailure::Error {
                    message: format!("{path}: {message}"),
                });
            }
            Err(aborted) => return Err(aborted),
        },
        Shape::List(items) => Json::Array(
            items
                .iter()
                .map(|item| render_shape(item, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Shape::Object(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, item)| Ok((key.clone(), render_shape(item, ctx)?)))
                .collect::<Result<Map<_, _>, RenderFailure>>()?,
        ),
        Shape::Fixed(value) => value.clone(),
    })
}
