//! POSIX cron expressions of `on.schedule`: validation, the time between the first runs (GitHub
//! runs scheduled workflows at most once every 5 minutes), and time zone names.
//!
//! Syntax: five fields (minute, hour, day of month, month, day of week); each a comma list of
//! `*`, `?`, `N`, `N-M`, optionally followed by `/STEP`; months and weekdays accept English
//! three-letter names. When both day fields are restricted a day matches either (cron's rule).
//! Invariant: never panics, whatever the input. Tests are at the bottom.

use super::timezones::TIMEZONES;

/// GitHub's shortest interval between two runs of a scheduled workflow, in seconds.
pub const MIN_INTERVAL_SECONDS: u64 = 5 * 60;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// Whether the day-of-month / day-of-week field was `*` or `?` (unrestricted).
    dom_star: bool,
    dow_star: bool,
}

/// Why a cron expression is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CronError {
    pub message: String,
}

fn err<T>(message: impl Into<String>) -> Result<T, CronError> {
    Err(CronError {
        message: message.into(),
    })
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTH_NAMES: &[&str] = &[
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DOW_NAMES: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [FieldSpec; 5] = [
    FieldSpec {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    FieldSpec {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    FieldSpec {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    FieldSpec {
        name: "month",
        min: 1,
        max: 12,
        names: MONTH_NAMES,
    },
    FieldSpec {
        name: "day of week",
        min: 0,
        max: 6,
        names: DOW_NAMES,
    },
];

fn parse_value(text: &str, spec: &FieldSpec) -> Result<u32, CronError> {
    if let Some(i) = spec.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        // Months are 1-based, weekdays 0-based.
        return Ok(i as u32 + spec.min);
    }
    match text.parse::<u32>() {
        Ok(v) if text.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        _ => err(format!(
            "{text:?} is not a number in the {} field",
            spec.name
        )),
    }
}

/// Parses one field into a bit set; the flag says whether it was `*` / `?`.
fn parse_field(field: &str, spec: &FieldSpec) -> Result<(u64, bool), CronError> {
    let mut bits = 0u64;
    let mut star = false;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step = match step.parse::<u32>() {
                    Ok(s) if step.bytes().all(|b| b.is_ascii_digit()) => s,
                    _ => return err(format!("invalid step {step:?} in the {} field", spec.name)),
                };
                if step == 0 {
                    return err(format!("step cannot be zero in the {} field", spec.name));
                }
                (range, Some(step))
            }
            None => (part, None),
        };
        let (start, end) = if range == "*" || range == "?" {
            if step.is_none_or(|s| s == 1) {
                star = true;
            }
            (spec.min, spec.max)
        } else if range.is_empty() {
            return err(format!("empty value in the {} field", spec.name));
        } else {
            match range.split_once('-') {
                Some((lo, hi)) => (parse_value(lo, spec)?, parse_value(hi, spec)?),
                None => {
                    let v = parse_value(range, spec)?;
                    // `N/STEP` means `N-max/STEP`.
                    (v, if step.is_some() { spec.max } else { v })
                }
            }
        };
        if start < spec.min {
            return err(format!(
                "{start} is below the minimum {} of the {} field",
                spec.min, spec.name
            ));
        }
        if end > spec.max {
            return err(format!(
                "{end} is above the maximum {} of the {} field",
                spec.max, spec.name
            ));
        }
        if start > end {
            return err(format!(
                "range start {start} is after its end {end} in the {} field",
                spec.name
            ));
        }
        let step = step.unwrap_or(1);
        let mut v = start;
        while v <= end {
            bits |= 1 << v;
            match v.checked_add(step) {
                Some(next) => v = next,
                None => break,
            }
        }
    }
    Ok((bits, star))
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return err(format!("expected 5 fields, found {}", fields.len()));
        }
        let mut parsed = [(0u64, false); 5];
        for ((field, spec), out) in fields.iter().zip(FIELDS.iter()).zip(parsed.iter_mut()) {
            *out = parse_field(field, spec)?;
        }
        let [(minutes, _), (hours, _), (days_of_month, dom_star), (months, _), (days_of_week, dow_star)] =
            parsed;
        Ok(Cron {
            minutes,
            hours,
            days_of_month,
            months,
            days_of_week,
            dom_star,
            dow_star,
        })
    }

    fn day_matches(&self, month: u32, dom: u32, dow: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let dom_ok = self.days_of_month & (1 << dom) != 0;
        let dow_ok = self.days_of_week & (1 << dow) != 0;
        if self.dom_star || self.dow_star {
            dom_ok && dow_ok
        } else {
            dom_ok || dow_ok
        }
    }

    /// The first `n` run times (minutes since 1970-01-01 00:00 UTC) strictly after the epoch,
    /// looking at most 28 years ahead (one full calendar cycle).
    pub fn first_runs(&self, n: usize) -> Vec<u64> {
        let mut runs = Vec::with_capacity(n);
        for day in 0..(28 * 366) {
            let (_, month, dom) = civil_from_days(day);
            let dow = ((day + 4) % 7) as u32; // 1970-01-01 was a Thursday
            if !self.day_matches(month, dom, dow) {
                continue;
            }
            for hour in 0..24u64 {
                if self.hours & (1 << hour) == 0 {
                    continue;
                }
                for minute in 0..60u64 {
                    if self.minutes & (1 << minute) == 0 {
                        continue;
                    }
                    let t = day as u64 * 1440 + hour * 60 + minute;
                    if t == 0 {
                        continue;
                    }
                    runs.push(t);
                    if runs.len() >= n {
                        return runs;
                    }
                }
            }
        }
        runs
    }

    /// The shortest time between two consecutive runs among the first 64, in seconds (GitHub
    /// runs a schedule at most every [`MIN_INTERVAL_SECONDS`]).
    pub fn shortest_interval_seconds(&self) -> Option<u64> {
        self.first_runs(64)
            .windows(2)
            // `windows(2)` slices have two elements; runs are increasing.
            .map(|w| (w[1] - w[0]) * 60)
            .min()
    }
}

/// Proleptic Gregorian (year, month 1-12, day 1-31) of `days` since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Whether `name` is an IANA time zone name of the Area/Location form.
pub fn is_valid_timezone(name: &str) -> bool {
    TIMEZONES.binary_search(&name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, interval: Option<u64>) {
        match Cron::parse(text) {
            Ok(cron) => assert_eq!(cron.shortest_interval_seconds(), interval, "{text}"),
            Err(e) => assert_eq!(None, interval, "{text}: {e}"),
        }
    }

    #[test]
    fn intervals() {
        check("*/5 * * * *", Some(300));
        check("*/4 * * * *", Some(240));
        check("* */3 * * *", Some(60));
        check("* * * * *", Some(60));
        check("0 6 * * *", Some(86_400));
        check("30 5 * * 1-5", Some(86_400));
        check("0 0 * * MON", Some(7 * 86_400));
        check("0 0 1 jan *", Some(365 * 86_400));
        check("0,3 * * * *", Some(180));
        check("0 0 29 2 *", Some(4 * 365 * 86_400 + 86_400));
        check("15/20 * * * *", Some(1200));
        check("0 0 13 * 5", Some(86_400));
    }

    #[test]
    fn invalid() {
        check("0 */3 * *", None);
        check("", None);
        check("60 * * * *", None);
        check("* 24 * * *", None);
        check("* * 0 * *", None);
        check("* * * 13 *", None);
        check("* * * * 7", None);
        check("*/0 * * * *", None);
        check("5-1 * * * *", None);
        check("a * * * *", None);
        check("@daily", None);
        check("1,,2 * * * *", None);
        check("* * * * * *", None);
        check("0/4294967295 * * * *", Some(3600));
    }

    #[test]
    fn timezones() {
        assert!(is_valid_timezone("America/New_York"));
        assert!(is_valid_timezone("Europe/London"));
        assert!(is_valid_timezone("Etc/UTC"));
        assert!(!is_valid_timezone("UTC"));
        assert!(!is_valid_timezone("local"));
        assert!(!is_valid_timezone("Not/A/Timezone"));
        assert!(!is_valid_timezone("Asia/Somewhere"));
        assert!(TIMEZONES.windows(2).all(|w| w[0] < w[1]));
    }
}
