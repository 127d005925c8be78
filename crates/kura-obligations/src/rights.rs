//! Data-subject requests: the deadlines of access/export, rectification, erasure and
//! restriction requests, their extensions, and the state machine a request goes through.
//!
//! # Purity
//! No IO and no clock: the time of receipt and "now" are parameters (unix milliseconds), the
//! time zone and the public holidays are given by the caller (for CCPA, the crate's US
//! calendar: [`crate::builtin_holidays`]`("US")`). The arithmetic is the crate's
//! [`crate::deadline`], so the conventions of decision 0016 apply:
//! - a **calendar month** or a count of **calendar days** runs from the local date of receipt
//!   and ends at the end of the last local day (23:59:59.999 in `tz`); a month from
//!   31 January ends at the end of 28 February (29 in a leap year);
//! - **business days** skip Saturdays, Sundays and the given public holidays; the day of
//!   receipt never counts; a count reaching a year the calendar does not cover is refused
//!   ([`RightsError::code`] `no_calendar`), never guessed.
//!
//! The deadlines do not depend on the kind of request ([`RequestKind`]): each law sets one
//! time limit for all the rights it grants.
//!
//! # The rules (see `notes/breach-law.md` §2.1)
//! - **GDPR** ([`Regime::Gdpr`]): "without undue delay and in any event within one month of
//!   receipt", extendable by two further months where necessary, the person being told of
//!   the extension and its reasons within the first month (Art. 12(3)). The month is a
//!   calendar month (EDPB Guidelines 01/2022 on the right of access). Here: due at the end of
//!   the local day one calendar month after receipt; one extension, given no later than the
//!   first deadline, moves it to three calendar months after receipt (not "first deadline +
//!   two months": from 31 January that would end on 28 April instead of 30 April).
//! - **CCPA/CPRA** ([`Regime::Ccpa`], California Consumer Privacy Act regulations): confirm
//!   receipt within 10 business days (§7021(a)); answer within 45 calendar days of receipt,
//!   verification time included; one extension of 45 more days (90 in all) with notice and
//!   explanation given within the first 45 days (§7021(b); Civ. Code §1798.130).
//! - **APPI** ([`Regime::Appi`], Japan, Arts. 33–35): disclosure, correction and cessation of
//!   use/deletion "遅滞なく" (without delay). The law names no number of days, so the due date
//!   is an internal target the operator chooses (`appi_target_days`) and is marked
//!   [`Deadlines::soft`]; there is no statutory extension.
//! - **Default** ([`Regime::Default`], any other country): treated like GDPR — one calendar
//!   month, extendable to three, not soft — as the strictest common reading.
//!
//! # State machine
//! `AwaitingVerification -> Verified | Expired | Denied`; `Verified -> Erasing | Completed |
//! Denied`; `Erasing -> Completed`; nothing leaves `Completed`, `Denied` or `Expired`, and no
//! state goes to itself. Open states (the clock runs): `AwaitingVerification`, `Verified`,
//! `Erasing`.
//!
//! Nothing here is legal advice.

use std::fmt;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::{Holidays, ObligationError, Unit, deadline};

/// What can go wrong with a request's deadlines or state.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RightsError {
    /// The extension comes after the first deadline: the notice and reasons had to be given
    /// before it.
    #[error(
        "an extension must be given by the first deadline ({first_due_ms} ms); it is now {now_ms} ms"
    )]
    ExtensionTooLate {
        /// The first deadline, unix milliseconds.
        first_due_ms: u64,
        /// When the extension was attempted, unix milliseconds.
        now_ms: u64,
    },
    /// The deadline was already extended once (at the given unix milliseconds).
    #[error("the deadline was already extended (at {0} ms); the law allows one extension")]
    AlreadyExtended(u64),
    /// The regime has no extension (APPI: "without delay").
    #[error("{0} allows no extension")]
    ExtensionNotAllowed(Regime),
    /// The state machine forbids this step.
    #[error("a request cannot go from {from} to {to}")]
    InvalidTransition {
        /// The current state.
        from: State,
        /// The refused state.
        to: State,
    },
    /// The deadline arithmetic failed (no holiday calendar, time out of range).
    #[error(transparent)]
    Clock(#[from] ObligationError),
}

impl RightsError {
    /// A stable snake_case code: `extension_too_late`, `already_extended`,
    /// `extension_not_allowed`, `invalid_transition`, and for clock errors `no_calendar`,
    /// `time`, `holidays`, `rules`, `template`.
    pub fn code(&self) -> &'static str {
        match self {
            RightsError::ExtensionTooLate { .. } => "extension_too_late",
            RightsError::AlreadyExtended(_) => "already_extended",
            RightsError::ExtensionNotAllowed(_) => "extension_not_allowed",
            RightsError::InvalidTransition { .. } => "invalid_transition",
            RightsError::Clock(e) => match e {
                ObligationError::NoCalendar(_) => "no_calendar",
                ObligationError::Time(_) => "time",
                ObligationError::Holidays(_) => "holidays",
                ObligationError::Rules { .. } => "rules",
                ObligationError::Template { .. } => "template",
            },
        }
    }
}

/// The law whose time limits a request follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// GDPR (EU/EEA) and UK GDPR: one calendar month, extendable by two (Art. 12(3)).
    Gdpr,
    /// CCPA/CPRA (California): acknowledge in 10 business days, answer in 45 calendar days,
    /// extendable by 45 (regs §7021).
    Ccpa,
    /// APPI (Japan): "without delay" (Arts. 33–35); a soft internal target, no extension.
    Appi,
    /// Any other country: treated like GDPR.
    Default,
}

/// EU 27, then the EEA (IS, LI, NO), then GB (UK GDPR).
const GDPR_COUNTRIES: [&str; 31] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "GB",
];

impl Regime {
    /// The stable name (`gdpr`, `ccpa`, `appi`, `default`), as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Gdpr => "gdpr",
            Regime::Ccpa => "ccpa",
            Regime::Appi => "appi",
            Regime::Default => "default",
        }
    }

    /// The regime named by [`Regime::as_str`], or `None`.
    pub fn parse(s: &str) -> Option<Regime> {
        [Regime::Gdpr, Regime::Ccpa, Regime::Appi, Regime::Default]
            .into_iter()
            .find(|r| r.as_str() == s)
    }

    /// The regime for the data subject's country, an ISO 3166-1 alpha-2 code (upper case;
    /// lower case and surrounding spaces are tolerated):
    /// - the 27 EU member states, the EEA states IS, LI, NO, and GB (UK GDPR keeps the same
    ///   one-month rule) -> [`Regime::Gdpr`];
    /// - `US` -> [`Regime::Ccpa`]: kura does not hold the person's US state, so the strictest
    ///   applicable state law, California's, is assumed;
    /// - `JP` -> [`Regime::Appi`];
    /// - anything else -> [`Regime::Default`].
    pub fn for_country(cc: &str) -> Regime {
        let cc = cc.trim().to_ascii_uppercase();
        match cc.as_str() {
            "US" => Regime::Ccpa,
            "JP" => Regime::Appi,
            c if GDPR_COUNTRIES.contains(&c) => Regime::Gdpr,
            _ => Regime::Default,
        }
    }
}

impl fmt::Display for Regime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The right a request exercises. All kinds share the same deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Access and export/portability (GDPR Arts. 15, 20; APPI Art. 33; CCPA §1798.110).
    Access,
    /// Rectification/correction (GDPR Art. 16; APPI Art. 34).
    Rectification,
    /// Erasure/deletion (GDPR Art. 17; APPI Art. 35; CCPA §1798.105).
    Erasure,
    /// Restriction/cessation of use (GDPR Art. 18; APPI Art. 35).
    Restriction,
}

impl RequestKind {
    /// The stable name (`access`, `rectification`, `erasure`, `restriction`), as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Rectification => "rectification",
            RequestKind::Erasure => "erasure",
            RequestKind::Restriction => "restriction",
        }
    }

    /// The kind named by [`RequestKind::as_str`], or `None`.
    pub fn parse(s: &str) -> Option<RequestKind> {
        [
            RequestKind::Access,
            RequestKind::Rectification,
            RequestKind::Erasure,
            RequestKind::Restriction,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request's deadlines; all times are unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadlines {
    /// The law followed.
    pub regime: Regime,
    /// When the request was received.
    pub received_ms: u64,
    /// CCPA only: when the acknowledgement is due (10 business days, §7021(a)).
    pub ack_due_ms: Option<u64>,
    /// The answer's deadline now in force (after an extension, the extended one).
    pub due_ms: u64,
    /// The original deadline; an extension must be given no later than this.
    pub first_due_ms: u64,
    /// When the deadline was extended, if it was.
    pub extended_at_ms: Option<u64>,
    /// APPI "without delay": `due_ms` is an internal target, not a statutory date.
    pub soft: bool,
}

fn to_ts(ms: u64) -> Result<Timestamp, RightsError> {
    let ms =
        i64::try_from(ms).map_err(|_| ObligationError::Time(format!("{ms} ms is out of range")))?;
    Ok(Timestamp::from_millisecond(ms).map_err(|e| ObligationError::Time(e.to_string()))?)
}

fn to_ms(ts: Timestamp) -> Result<u64, RightsError> {
    let ms = ts.as_millisecond();
    Ok(u64::try_from(ms)
        .map_err(|_| ObligationError::Time(format!("{ms} ms is before the unix epoch")))?)
}

/// `amount` `unit`s after `received_ms`, in `tz`, as unix milliseconds.
fn after(
    received_ms: u64,
    unit: Unit,
    amount: u32,
    tz: &TimeZone,
    holidays: &Holidays,
) -> Result<u64, RightsError> {
    to_ms(deadline(to_ts(received_ms)?, unit, amount, tz, holidays)?)
}

/// GDPR/Default: the answer is due one calendar month after receipt.
const GDPR_MONTHS: u32 = 1;
/// GDPR/Default: after the extension, three calendar months after receipt.
const GDPR_EXTENDED_MONTHS: u32 = 3;
/// CCPA: acknowledgement within 10 business days.
const CCPA_ACK_BUSINESS_DAYS: u32 = 10;
/// CCPA: answer within 45 calendar days.
const CCPA_DAYS: u32 = 45;
/// CCPA: after the extension, 90 calendar days in all.
const CCPA_EXTENDED_DAYS: u32 = 90;

/// The deadlines of a request received at `received_ms` under `regime`, in the time zone
/// `tz` (the controller's or regulator's), with `holidays` the public holidays used for
/// business days (only CCPA counts them: pass [`crate::builtin_holidays`]`("US")`).
/// `appi_target_days` is the internal target, in calendar days, for APPI's "without delay";
/// other regimes ignore it.
///
/// # Errors
/// [`RightsError::Clock`]: `no_calendar` when the CCPA acknowledgement reaches a year
/// `holidays` does not cover; `time` when a time is out of range.
pub fn deadlines(
    regime: Regime,
    received_ms: u64,
    tz: &TimeZone,
    holidays: &Holidays,
    appi_target_days: u32,
) -> Result<Deadlines, RightsError> {
    let (ack_due_ms, due_ms, soft) = match regime {
        Regime::Gdpr | Regime::Default => (
            None,
            after(received_ms, Unit::CalendarMonths, GDPR_MONTHS, tz, holidays)?,
            false,
        ),
        Regime::Ccpa => (
            Some(after(
                received_ms,
                Unit::BusinessDays,
                CCPA_ACK_BUSINESS_DAYS,
                tz,
                holidays,
            )?),
            after(received_ms, Unit::CalendarDays, CCPA_DAYS, tz, holidays)?,
            false,
        ),
        Regime::Appi => (
            None,
            after(
                received_ms,
                Unit::CalendarDays,
                appi_target_days,
                tz,
                holidays,
            )?,
            true,
        ),
    };
    Ok(Deadlines {
        regime,
        received_ms,
        ack_due_ms,
        due_ms,
        first_due_ms: due_ms,
        extended_at_ms: None,
        soft,
    })
}

/// `d` extended at `now_ms` (the moment the person is told of the extension and its
/// reasons): GDPR/Default to three calendar months after receipt, CCPA to 90 calendar days
/// after receipt, both in `tz` (use the same zone as for [`deadlines`]).
///
/// # Errors
/// `extension_not_allowed` for APPI; `already_extended` for a second extension;
/// `extension_too_late` when `now_ms` is after `d.first_due_ms`; `time` when a time is out
/// of range.
pub fn extend(d: &Deadlines, now_ms: u64, tz: &TimeZone) -> Result<Deadlines, RightsError> {
    let (unit, amount) = match d.regime {
        Regime::Gdpr | Regime::Default => (Unit::CalendarMonths, GDPR_EXTENDED_MONTHS),
        Regime::Ccpa => (Unit::CalendarDays, CCPA_EXTENDED_DAYS),
        Regime::Appi => return Err(RightsError::ExtensionNotAllowed(d.regime)),
    };
    if let Some(at) = d.extended_at_ms {
        return Err(RightsError::AlreadyExtended(at));
    }
    if now_ms > d.first_due_ms {
        return Err(RightsError::ExtensionTooLate {
            first_due_ms: d.first_due_ms,
            now_ms,
        });
    }
    // Calendar units: no holidays needed.
    let due_ms = after(d.received_ms, unit, amount, tz, &Holidays::default())?;
    Ok(Deadlines {
        due_ms,
        extended_at_ms: Some(now_ms),
        ..*d
    })
}

/// Whether a request in `state` is overdue at `now_ms`: it is open and `now_ms` is after
/// `d.due_ms` (for a soft deadline: the internal target is missed).
pub fn is_overdue(d: &Deadlines, state: State, now_ms: u64) -> bool {
    state.is_open() && now_ms > d.due_ms
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Received; the requester's identity is being verified.
    AwaitingVerification,
    /// Identity verified; the request is being carried out.
    Verified,
    /// Erasure under way (across systems, processors, backups).
    Erasing,
    /// Answered or carried out.
    Completed,
    /// Refused, with reasons.
    Denied,
    /// Closed because the identity was never verified.
    Expired,
}

impl State {
    /// The stable name (`awaiting_verification`, `verified`, `erasing`, `completed`,
    /// `denied`, `expired`), as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            State::AwaitingVerification => "awaiting_verification",
            State::Verified => "verified",
            State::Erasing => "erasing",
            State::Completed => "completed",
            State::Denied => "denied",
            State::Expired => "expired",
        }
    }

    /// The state named by [`State::as_str`], or `None`.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the request is still open (its deadline runs): `AwaitingVerification`,
    /// `Verified`, `Erasing`.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            State::AwaitingVerification | State::Verified | State::Erasing
        )
    }

    /// Every state.
    pub const ALL: [State; 6] = [
        State::AwaitingVerification,
        State::Verified,
        State::Erasing,
        State::Completed,
        State::Denied,
        State::Expired,
    ];
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a request may go from `from` to `to` (see the module's state machine).
///
/// # Errors
/// `invalid_transition` for any other step, including a state to itself.
pub fn transition(from: State, to: State) -> Result<(), RightsError> {
    use State::{AwaitingVerification, Completed, Denied, Erasing, Expired, Verified};
    let ok = matches!(
        (from, to),
        (AwaitingVerification, Verified | Expired | Denied)
            | (Verified, Erasing | Completed | Denied)
            | (Erasing, Completed)
    );
    if ok {
        Ok(())
    } else {
        Err(RightsError::InvalidTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin_holidays;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("time zone")
    }

    /// Unix ms of a local civil time (`2027-01-31T10:00`) in `zone`.
    fn ms(civil: &str, zone: &str) -> u64 {
        let dt: jiff::civil::DateTime = civil.parse().expect("civil time");
        let ts = dt.to_zoned(tz(zone)).expect("zoned").timestamp();
        u64::try_from(ts.as_millisecond()).expect("after epoch")
    }

    /// Unix ms of the end of the local day `date` in `zone`.
    fn end_of(date: &str, zone: &str) -> u64 {
        ms(&format!("{date}T23:59:59.999"), zone)
    }

    const DAY: u64 = 86_400_000;
    const BERLIN: &str = "Europe/Berlin";
    const LA: &str = "America/Los_Angeles";

    fn gdpr(received: &str) -> Deadlines {
        deadlines(
            Regime::Gdpr,
            ms(received, BERLIN),
            &tz(BERLIN),
            &Holidays::default(),
            0,
        )
        .expect("deadlines")
    }

    fn ccpa(received: &str) -> Deadlines {
        let us = builtin_holidays("US").expect("US holidays");
        deadlines(Regime::Ccpa, ms(received, LA), &tz(LA), &us, 0).expect("deadlines")
    }

    #[test]
    fn gdpr_month_from_31_january_ends_28_february() {
        let d = gdpr("2027-01-31T10:00");
        assert_eq!(d.due_ms, end_of("2027-02-28", BERLIN));
        assert_eq!(d.first_due_ms, d.due_ms);
        assert_eq!(d.ack_due_ms, None);
        assert_eq!(d.extended_at_ms, None);
        assert!(!d.soft);
    }

    #[test]
    fn gdpr_month_from_31_january_leap_year_ends_29_february() {
        let d = gdpr("2028-01-31T10:00");
        assert_eq!(d.due_ms, end_of("2028-02-29", BERLIN));
    }

    #[test]
    fn gdpr_extension_within_first_month_gives_three_months_from_receipt() {
        let d = gdpr("2027-01-31T10:00");
        let now = d.received_ms + 20 * DAY;
        let e = extend(&d, now, &tz(BERLIN)).expect("extend");
        // Received + 3 months (30 April), not first due + 2 months (28 April).
        assert_eq!(e.due_ms, end_of("2027-04-30", BERLIN));
        assert_eq!(e.first_due_ms, d.first_due_ms);
        assert_eq!(e.extended_at_ms, Some(now));
        assert_eq!(e.received_ms, d.received_ms);
        // The last moment of the first month still counts.
        assert!(extend(&d, d.first_due_ms, &tz(BERLIN)).is_ok());
    }

    #[test]
    fn gdpr_extension_after_first_month_is_too_late() {
        let d = gdpr("2027-01-31T10:00");
        let err = extend(&d, d.received_ms + 32 * DAY, &tz(BERLIN)).expect_err("too late");
        assert_eq!(err.code(), "extension_too_late");
        let err = extend(&d, d.first_due_ms + 1, &tz(BERLIN)).expect_err("too late");
        assert_eq!(err.code(), "extension_too_late");
    }

    #[test]
    fn gdpr_second_extension_is_refused() {
        let d = gdpr("2027-01-31T10:00");
        let e = extend(&d, d.received_ms + 20 * DAY, &tz(BERLIN)).expect("extend");
        let err = extend(&e, d.received_ms + 21 * DAY, &tz(BERLIN)).expect_err("twice");
        assert_eq!(err.code(), "already_extended");
    }

    #[test]
    fn default_regime_is_like_gdpr() {
        let d = deadlines(
            Regime::Default,
            ms("2027-01-31T10:00", BERLIN),
            &tz(BERLIN),
            &Holidays::default(),
            0,
        )
        .expect("deadlines");
        assert_eq!(d.due_ms, end_of("2027-02-28", BERLIN));
        assert!(!d.soft);
        let e = extend(&d, d.received_ms + DAY, &tz(BERLIN)).expect("extend");
        assert_eq!(e.due_ms, end_of("2027-04-30", BERLIN));
    }

    #[test]
    fn ccpa_ack_skips_thanksgiving_and_weekend() {
        // Monday 23 Nov 2026; Thursday 26 Nov is Thanksgiving.
        // Business days: 24, 25, 27 Nov, 30 Nov, 1, 2, 3, 4, 7, 8 Dec.
        let d = ccpa("2026-11-23T10:00");
        assert_eq!(d.ack_due_ms, Some(end_of("2026-12-08", LA)));
        assert_eq!(d.due_ms, end_of("2027-01-07", LA));
        assert_eq!(d.first_due_ms, d.due_ms);
        assert!(!d.soft);
    }

    #[test]
    fn ccpa_ack_skips_christmas_and_new_year() {
        // Friday 18 Dec 2026; Friday 25 Dec 2026 and Friday 1 Jan 2027 are holidays.
        // Business days: 21, 22, 23, 24, 28, 29, 30, 31 Dec, 4, 5 Jan.
        let d = ccpa("2026-12-18T10:00");
        assert_eq!(d.ack_due_ms, Some(end_of("2027-01-05", LA)));
        assert_eq!(d.due_ms, end_of("2027-02-01", LA));
    }

    #[test]
    fn ccpa_extension_gives_ninety_days() {
        let d = ccpa("2026-12-18T10:00");
        let e = extend(&d, d.received_ms + 40 * DAY, &tz(LA)).expect("extend");
        assert_eq!(e.due_ms, end_of("2027-03-18", LA));
        assert_eq!(e.first_due_ms, end_of("2027-02-01", LA));
        assert_eq!(e.ack_due_ms, d.ack_due_ms);
        let err = extend(&e, d.received_ms + 41 * DAY, &tz(LA)).expect_err("twice");
        assert_eq!(err.code(), "already_extended");
        let err = extend(&d, d.received_ms + 46 * DAY, &tz(LA)).expect_err("late");
        assert_eq!(err.code(), "extension_too_late");
    }

    #[test]
    fn ccpa_without_calendar_is_no_calendar() {
        let us = builtin_holidays("US").expect("US holidays");
        let err = deadlines(Regime::Ccpa, ms("2028-03-01T10:00", LA), &tz(LA), &us, 0)
            .expect_err("no 2028 calendar");
        assert_eq!(err.code(), "no_calendar");
    }

    #[test]
    fn appi_target_is_soft_and_not_extendable() {
        let tokyo = "Asia/Tokyo";
        let d = deadlines(
            Regime::Appi,
            ms("2027-03-10T09:00", tokyo),
            &tz(tokyo),
            &Holidays::default(),
            14,
        )
        .expect("deadlines");
        assert!(d.soft);
        assert_eq!(d.due_ms, end_of("2027-03-24", tokyo));
        assert_eq!(d.ack_due_ms, None);
        let err = extend(&d, d.received_ms + DAY, &tz(tokyo)).expect_err("no extension");
        assert_eq!(err.code(), "extension_not_allowed");
    }

    #[test]
    fn for_country_maps_regimes() {
        assert_eq!(Regime::for_country("DE"), Regime::Gdpr);
        assert_eq!(Regime::for_country("FR"), Regime::Gdpr);
        assert_eq!(Regime::for_country("GB"), Regime::Gdpr);
        assert_eq!(Regime::for_country("NO"), Regime::Gdpr);
        assert_eq!(Regime::for_country("US"), Regime::Ccpa);
        assert_eq!(Regime::for_country("JP"), Regime::Appi);
        assert_eq!(Regime::for_country("KR"), Regime::Default);
        assert_eq!(Regime::for_country("BR"), Regime::Default);
        assert_eq!(Regime::for_country("de"), Regime::Gdpr);
    }

    #[test]
    fn names_round_trip() {
        for r in [Regime::Gdpr, Regime::Ccpa, Regime::Appi, Regime::Default] {
            assert_eq!(Regime::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).expect("json");
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        for k in [
            RequestKind::Access,
            RequestKind::Rectification,
            RequestKind::Erasure,
            RequestKind::Restriction,
        ] {
            assert_eq!(RequestKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_string(&k).expect("json");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
        }
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            let json = serde_json::to_string(&s).expect("json");
            assert_eq!(json, format!("\"{}\"", s.as_str()));
        }
        assert_eq!(Regime::parse("GDPR"), None);
        assert_eq!(State::parse("open"), None);
        let d = gdpr("2027-01-31T10:00");
        let back: Deadlines =
            serde_json::from_str(&serde_json::to_string(&d).expect("json")).expect("parse");
        assert_eq!(back, d);
    }

    #[test]
    fn transitions_allowed_and_refused() {
        use State::{AwaitingVerification, Completed, Denied, Erasing, Expired, Verified};
        let allowed = [
            (AwaitingVerification, Verified),
            (AwaitingVerification, Expired),
            (AwaitingVerification, Denied),
            (Verified, Erasing),
            (Verified, Completed),
            (Verified, Denied),
            (Erasing, Completed),
        ];
        for from in State::ALL {
            for to in State::ALL {
                let r = transition(from, to);
                if allowed.contains(&(from, to)) {
                    assert_eq!(r, Ok(()), "{from} -> {to}");
                } else {
                    let err = r.expect_err("refused");
                    assert_eq!(err.code(), "invalid_transition", "{from} -> {to}");
                    assert_eq!(err, RightsError::InvalidTransition { from, to });
                }
            }
        }
    }

    #[test]
    fn overdue_only_when_open_and_past_due() {
        let d = gdpr("2027-01-31T10:00");
        for s in State::ALL {
            assert!(!is_overdue(&d, s, d.due_ms), "{s} at due");
            assert_eq!(is_overdue(&d, s, d.due_ms + 1), s.is_open(), "{s} past due");
        }
        assert!(State::AwaitingVerification.is_open());
        assert!(State::Verified.is_open());
        assert!(State::Erasing.is_open());
        assert!(!State::Completed.is_open());
        assert!(!State::Denied.is_open());
        assert!(!State::Expired.is_open());
        // After an extension the extended deadline counts.
        let e = extend(&d, d.received_ms + DAY, &tz(BERLIN)).expect("extend");
        assert!(!is_overdue(&e, State::Verified, d.due_ms + 1));
        assert!(is_overdue(&e, State::Verified, e.due_ms + 1));
    }

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(
            RightsError::ExtensionTooLate {
                first_due_ms: 1,
                now_ms: 2
            }
            .code(),
            "extension_too_late"
        );
        assert_eq!(RightsError::AlreadyExtended(1).code(), "already_extended");
        assert_eq!(
            RightsError::ExtensionNotAllowed(Regime::Appi).code(),
            "extension_not_allowed"
        );
        assert_eq!(
            RightsError::Clock(ObligationError::NoCalendar(2030)).code(),
            "no_calendar"
        );
        assert_eq!(
            RightsError::Clock(ObligationError::Time("x".into())).code(),
            "time"
        );
    }
}
