//! Project chores: tidy checks (module heads, layer table), benchmarks.
fn main() {}
