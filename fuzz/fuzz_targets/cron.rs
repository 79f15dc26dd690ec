//! Fuzzes the cron parser of `on.schedule` (`check::cron::Cron::parse`) and the time zone
//! lookup. Oracles: no panic, no hang; fields are split at any whitespace, so the same fields
//! joined by one space parse the same; a parsed schedule's first runs are strictly increasing and
//! after the epoch, and its shortest interval is the smallest gap between them.

#![no_main]

use gantry_workflow::check::cron::{is_valid_timezone, Cron};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = is_valid_timezone(text);
    let parsed = Cron::parse(text);
    let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        Cron::parse(&normalized),
        parsed,
        "{normalized:?} parses differently"
    );
    match parsed {
        Ok(cron) => {
            let runs = cron.first_runs(64);
            assert!(runs.first().is_none_or(|first| *first > 0), "{runs:?}");
            assert!(runs.windows(2).all(|w| w[0] < w[1]), "{runs:?}");
            let shortest = runs.windows(2).map(|w| (w[1] - w[0]) * 60).min();
            assert_eq!(cron.shortest_interval_seconds(), shortest);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
