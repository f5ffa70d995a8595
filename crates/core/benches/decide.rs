//! Decision benchmark (filled by the core issue).
fn main() {}
