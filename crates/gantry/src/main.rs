//! The `gantry` binary: CLI parsing, wiring of the library crates, terminal output.
fn main() {}
