//! Scheduler overhead benchmark (filled in below).
fn main() {}
