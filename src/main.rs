//! triggerd daemon entry point.
fn main() {}
