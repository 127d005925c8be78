//! Deadline arithmetic in a regulator's time zone.
//!
//! # Conventions (decision 0016)
//! - **Clock hours** run on the instant, weekends and nights included: 72 hours after
//!   awareness is exactly 259,200 s later, whatever daylight saving does to the wall clock.
//! - **Calendar days** and **calendar months** count from the local date of the start and end
//!   at the end of the last local day (23:59:59.999 in the regulator's zone): "within 30
//!   days" of an event on 1 March is the end of 31 March. A month from 31 January is the end
//!   of 28 (or 29) February.
//! - **Business days** skip Saturdays, Sundays and the country's public holidays; the
//!   deadline is the end of the Nth business day after the start's local date (the start day
//!   itself never counts, even when it is a business day).
//! - A day or month count of 0 ends at the end of the start's local day.

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::ObligationError;

/// How a deadline is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Elapsed hours.
    Hours,
    /// Calendar days.
    CalendarDays,
    /// Business days (weekends and public holidays skipped).
    BusinessDays,
    /// Calendar months.
    CalendarMonths,
}

/// Public holidays of one country, by date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holidays {
    dates: BTreeSet<Date>,
    /// Years the calendar covers; a business-day count reaching outside them is refused
    /// rather than guessed.
    years: BTreeSet<i16>,
}

impl Holidays {
    /// Parses holiday files (`YYYY-MM-DD name` per line, `#` comments), each covering the
    /// whole `year` it is given for.
    ///
    /// # Errors
    /// [`ObligationError::Holidays`] naming the line that does not parse.
    pub fn parse<'a>(
        files: impl IntoIterator<Item = (i16, &'a str)>,
    ) -> Result<Self, ObligationError> {
        let mut h = Holidays::default();
        for (year, text) in files {
            h.years.insert(year);
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let day = line.split_whitespace().next().unwrap_or("");
                let date: Date = day.parse().map_err(|e| {
                    ObligationError::Holidays(format!("line {}: `{day}`: {e}", n + 1))
                })?;
                if date.year() != year {
                    return Err(ObligationError::Holidays(format!(
                        "line {}: {date} is not in {year}",
                        n + 1
                    )));
                }
                h.dates.insert(date);
            }
        }
        Ok(h)
    }

    /// Whether `d` is a business day: not a weekend, not a holiday.
    ///
    /// # Errors
    /// [`ObligationError::NoCalendar`] when `d`'s year is not covered.
    pub fn is_business_day(&self, d: Date) -> Result<bool, ObligationError> {
        if !self.years.contains(&d.year()) {
            return Err(ObligationError::NoCalendar(d.year()));
        }
        Ok(!matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) && !self.dates.contains(&d))
    }
}

fn end_of_day(d: Date, tz: &TimeZone) -> Result<Timestamp, ObligationError> {
    let next = d.checked_add(1.day()).map_err(time_err)?;
    let start = next.to_zoned(tz.clone()).map_err(time_err)?;
    start
        .timestamp()
        .checked_sub(1.millisecond())
        .map_err(time_err)
}

fn time_err(e: jiff::Error) -> ObligationError {
    ObligationError::Time(e.to_string())
}

/// The deadline `amount` `unit`s after `start`, in `tz` (see the module's conventions).
///
/// # Errors
/// [`ObligationError::NoCalendar`] for business days beyond the holiday data;
/// [`ObligationError::Time`] for arithmetic out of range.
pub fn deadline(
    start: Timestamp,
    unit: Unit,
    amount: u32,
    tz: &TimeZone,
    holidays: &Holidays,
) -> Result<Timestamp, ObligationError> {
    let local = start.to_zoned(tz.clone()).date();
    match unit {
        Unit::Hours => start
            .checked_add(i64::from(amount).hours())
            .map_err(time_err),
        Unit::CalendarDays => end_of_day(
            local
                .checked_add(i64::from(amount).days())
                .map_err(time_err)?,
            tz,
        ),
        Unit::CalendarMonths => end_of_day(
            local
                .checked_add(i64::from(amount).months())
                .map_err(time_err)?,
            tz,
        ),
        Unit::BusinessDays => {
            let mut d = local;
            let mut left = amount;
            while left > 0 {
                d = d.checked_add(1.day()).map_err(time_err)?;
                if holidays.is_business_day(d)? {
                    left -= 1;
                }
            }
            end_of_day(d, tz)
        }
    }
}
