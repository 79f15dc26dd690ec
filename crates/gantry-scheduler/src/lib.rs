//! Runs a plan: ready set, if:, matrix, outputs, concurrency, timeouts, cancellation.
