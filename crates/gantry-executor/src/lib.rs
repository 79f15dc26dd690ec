//! Executes steps: host processes (and later Docker). The only crate that spawns processes.
