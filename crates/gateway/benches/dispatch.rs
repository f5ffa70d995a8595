//! Dispatch benchmarks (written next).

fn main() {}
