//! When reports are due: a cron expression (5 fields, or 6 with seconds first)
//! evaluated in a time zone, so "Mondays 08:00" stays 08:00 across daylight saving.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds};
use croner::Cron;

/// How far back a missed report is caught up: one at most, the latest.
const CATCH_UP: chrono::Duration = chrono::Duration::days(62);

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

impl Schedule {
    /// Parses `expression` in time zone `zone` (IANA name, e.g. `Europe/Berlin`).
    pub fn parse(expression: &str, zone: &str) -> Result<Self, String> {
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .build()
            .parse(expression)
            .map_err(|e| format!("{expression:?} is not a cron expression: {e}"))?;
        let zone = Tz::from_str(zone).map_err(|_| format!("{zone:?} is not an IANA time zone"))?;
        let schedule = Self { cron, zone };
        // A pattern that never fires (e.g. 30 February) would silently send nothing.
        schedule
            .next_after(Utc::now())
            .ok_or_else(|| format!("{expression:?} never fires"))?;
        Ok(schedule)
    }

    /// The time zone the schedule is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The next time after `at`.
    pub fn next_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&at.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The latest time at or before `at`, if within the catch-up window.
    pub fn latest_due(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&at.with_timezone(&self.zone), true)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| at - *t <= CATCH_UP)
    }

    /// The time before `due`: where the period ending at `due` begins.
    pub fn previous_before(&self, due: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_previous_occurrence(&due.with_timezone(&self.zone), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn mondays_at_eight_in_five_or_six_fields() {
        for expression in ["0 8 * * MON", "0 0 8 * * Mon", "0 8 * * 1"] {
            let schedule = Schedule::parse(expression, "UTC").unwrap();
            // Wednesday 2026-11-25.
            let now = at("2026-11-25T10:00:00Z");
            assert_eq!(schedule.latest_due(now), Some(at("2026-11-23T08:00:00Z")));
            assert_eq!(schedule.next_after(now), Some(at("2026-11-30T08:00:00Z")));
            assert_eq!(
                schedule.previous_before(at("2026-11-23T08:00:00Z")),
                Some(at("2026-11-16T08:00:00Z"))
            );
            // Exactly at the due time, it is due.
            assert_eq!(
                schedule.latest_due(at("2026-11-23T08:00:00Z")),
                Some(at("2026-11-23T08:00:00Z"))
            );
        }
    }

    #[test]
    fn the_time_zone_keeps_local_time_across_daylight_saving() {
        let schedule = Schedule::parse("0 8 * * MON", "Europe/Berlin").unwrap();
        // Summer (UTC+2) and winter (UTC+1).
        assert_eq!(
            schedule.latest_due(at("2026-07-07T00:00:00Z")),
            Some(at("2026-07-06T06:00:00Z"))
        );
        assert_eq!(
            schedule.latest_due(at("2026-11-25T00:00:00Z")),
            Some(at("2026-11-23T07:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_refused() {
        assert!(Schedule::parse("every monday", "UTC").is_err());
        assert!(Schedule::parse("0 8 * * MON", "Mars/Olympus").is_err());
        assert!(Schedule::parse("0 8 30 2 *", "UTC").is_err());
    }
}
