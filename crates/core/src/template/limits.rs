//! Bounds on what one template may cost: nesting depth at parse time,
//! output size at render time, and the text of a panic caught while
//! rendering (see the module documentation of `template`).

use std::io;

use super::TemplateError;

/// Deepest nesting of block tags (`if`, `for`, `case`, …) a template may
/// have. Real messages nest a handful of levels.
pub const MAX_BLOCK_DEPTH: usize = 64;

/// Most bytes one template renders to (an email's HTML included).
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

/// Tags that open a block closed by `end<tag>`.
const BLOCK_TAGS: [&str; 9] = [
    "if",
    "unless",
    "for",
    "case",
    "capture",
    "tablerow",
    "comment",
    "raw",
    "ifchanged",
];

/// Refuses Liquid source whose block tags nest deeper than
/// [`MAX_BLOCK_DEPTH`]. Counts tags as written, without parsing them, so
/// the check itself cannot recurse.
pub fn check_block_depth(liquid_source: &str) -> Result<(), TemplateError> {
    let mut depth = 0usize;
    let mut rest = liquid_source;
    while let Some(open) = rest.find("{%") {
        let tag = rest[open + 2..].trim_start_matches('-').trim_start();
        let name_len = tag
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tag.len());
        let name = &tag[..name_len];
        if name.starts_with("end") {
            depth = depth.saturating_sub(1);
        } else if BLOCK_TAGS.contains(&name) {
            depth += 1;
            if depth > MAX_BLOCK_DEPTH {
                return Err(TemplateError::Syntax(format!(
                    "blocks nested deeper than {MAX_BLOCK_DEPTH} levels"
                )));
            }
        }
        rest = &rest[open + 2..];
    }
    Ok(())
}

/// A render's output buffer that refuses to grow past its cap: the write
/// that would pass it fails, which stops `liquid` with an error.
pub struct CappedOutput {
    bytes: Vec<u8>,
    cap: usize,
    overflowed: bool,
}

impl CappedOutput {
    /// An empty buffer holding at most `cap` bytes.
    pub fn new(cap: usize) -> CappedOutput {
        CappedOutput {
            bytes: Vec::new(),
            cap,
            overflowed: false,
        }
    }

    /// True when a write was refused for the cap.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The text rendered (`liquid` writes UTF-8; anything else is replaced).
    pub fn into_text(self) -> String {
        String::from_utf8(self.bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.cap {
            self.overflowed = true;
            return Err(io::Error::other("rendered text too long"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The message of a caught panic payload.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic")
}
