//! Deadlines of data-subject requests, computed from the jurisdiction's
//! rules (data, not code: more jurisdictions can be added).
//!
//! - GDPR (Art. 12(3)): one month from receipt, extendable by two further
//!   months. Periods follow EU Regulation 1182/71: a period in months ends on
//!   the same day of the month as the day of receipt, or on the last day of
//!   the month when it has no such day; a period ending on a Saturday,
//!   Sunday or public holiday ends on the next working day.
//! - CCPA/CPRA (Cal. Civ. Code 1798.130): 45 calendar days, extendable once
//!   by 45 with notice; receipt must be acknowledged within 10 business days.
//!
//! Pure: no clock, no I/O.

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// A length of time as a law states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Calendar months (same day of the month, or the month's last day).
    Months(u32),
    /// Calendar days.
    Days(u64),
    /// Working days (not Saturday, Sunday or a listed holiday).
    BusinessDays(u64),
}

/// The rules of one jurisdiction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub name: String,
    /// Time to answer, from receipt.
    pub respond: Period,
    /// How much longer an extension may add (None: no extension).
    pub extension: Option<Period>,
    /// An extension must be notified within this time from receipt.
    pub extension_notice: Option<Period>,
    /// Time to acknowledge receipt, if the law sets one.
    pub acknowledge: Option<Period>,
    /// A deadline on a weekend or holiday moves to the next working day.
    pub roll_to_working_day: bool,
    /// Public holidays (the weekend is always non-working).
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

impl Rules {
    /// The GDPR's rules (no public holidays listed: add the member state's).
    pub fn gdpr() -> Rules {
        Rules {
            name: "GDPR".into(),
            respond: Period::Months(1),
            extension: Some(Period::Months(2)),
            extension_notice: Some(Period::Months(1)),
            acknowledge: None,
            roll_to_working_day: true,
            holidays: Vec::new(),
        }
    }

    /// California's CCPA/CPRA rules.
    pub fn ccpa() -> Rules {
        Rules {
            name: "CCPA/CPRA".into(),
            respond: Period::Days(45),
            extension: Some(Period::Days(45)),
            extension_notice: Some(Period::Days(45)),
            acknowledge: Some(Period::BusinessDays(10)),
            roll_to_working_day: false,
            holidays: Vec::new(),
        }
    }

    /// The rules for a jurisdiction key (`gdpr`, `ccpa`), with the public
    /// holidays of its default calendar (see `policy::holidays`).
    pub fn for_key(key: &str) -> Option<Rules> {
        Rules::for_calendar(key, super::holidays::default_for(key))
    }

    /// The rules for a jurisdiction with the holidays of `calendar`.
    pub fn for_calendar(key: &str, calendar: &str) -> Option<Rules> {
        let mut r = match key.to_ascii_lowercase().as_str() {
            "gdpr" => Rules::gdpr(),
            "ccpa" | "cpra" => Rules::ccpa(),
            _ => return None,
        };
        r.holidays = super::holidays::dates(calendar).unwrap_or_default();
        Some(r)
    }

    /// The rules for a jurisdiction under `policy` (its holiday calendar).
    pub fn for_policy(key: &str, policy: &super::Policy) -> Option<Rules> {
        let key_l = key.to_ascii_lowercase();
        // The CPRA amends the CCPA: one calendar for both.
        let alias = match key_l.as_str() {
            "ccpa" => "cpra",
            "cpra" => "ccpa",
            other => other,
        };
        let calendar = policy
            .holidays
            .get(&key_l)
            .or_else(|| policy.holidays.get(alias))
            .map_or_else(|| super::holidays::default_for(key), String::as_str);
        Rules::for_calendar(key, calendar)
    }

    fn working(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&d)
    }

    /// The end of `period` counted from `from`.
    pub fn add(&self, from: NaiveDate, period: Period) -> NaiveDate {
        let end = match period {
            // chrono clamps to the month's last day, as 1182/71 says.
            Period::Months(n) => from.checked_add_months(Months::new(n)).unwrap_or(from),
            Period::Days(n) => from.checked_add_days(Days::new(n)).unwrap_or(from),
            Period::BusinessDays(n) => {
                let mut d = from;
                let mut left = n;
                while left > 0 {
                    d = d.succ_opt().unwrap_or(d);
                    if self.working(d) {
                        left -= 1;
                    }
                }
                return d;
            }
        };
        if self.roll_to_working_day { self.next_working(end) } else { end }
    }

    fn next_working(&self, mut d: NaiveDate) -> NaiveDate {
        while !self.working(d) {
            d = d.succ_opt().unwrap_or(d);
        }
        d
    }

    /// When a request received on `received` is due; with an extension, the
    /// extension is added to the original period (GDPR: three months in all).
    pub fn due(&self, received: NaiveDate, extended: bool) -> NaiveDate {
        match (extended, self.extension) {
            (true, Some(Period::Months(e))) => match self.respond {
                Period::Months(m) => self.add(received, Period::Months(m + e)),
                other => self.add(self.add(received, other), Period::Months(e)),
            },
            (true, Some(Period::Days(e))) => match self.respond {
                Period::Days(d) => self.add(received, Period::Days(d + e)),
                other => self.add(self.add(received, other), Period::Days(e)),
            },
            (true, Some(ext)) => self.add(self.add(received, self.respond), ext),
            _ => self.add(received, self.respond),
        }
    }

    /// The last day an extension may be notified, if extensions exist.
    pub fn extension_deadline(&self, received: NaiveDate) -> Option<NaiveDate> {
        self.extension_notice.map(|p| self.add(received, p))
    }

    /// When receipt must be acknowledged, if the law says.
    pub fn acknowledge_by(&self, received: NaiveDate) -> Option<NaiveDate> {
        self.acknowledge.map(|p| self.add(received, p))
    }
}

/// Days from `today` to `due` (negative: overdue).
pub fn days_left(today: NaiveDate, due: NaiveDate) -> i64 {
    (due - today).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn gdpr_deadlines_table() {
        let g = Rules::gdpr();
        for (received, due, why) in [
            ("2026-03-31", "2026-04-30", "April has no 31st: its last day (a Thursday)"),
            ("2026-01-31", "2026-03-02", "28 February 2026 is a Saturday: the next working day"),
            ("2026-03-10", "2026-04-10", "same day next month (a Friday)"),
            ("2026-04-11", "2026-05-11", "a Monday"),
            ("2026-02-07", "2026-03-09", "7 March 2026 is a Saturday"),
            ("2026-12-31", "2027-02-01", "31 January 2027 is a Sunday"),
            ("2027-12-31", "2028-01-31", "across the year"),
            ("2028-01-31", "2028-02-29", "leap year: 29 February 2028 is a Tuesday"),
            ("2027-01-29", "2027-03-01", "no 29 February in 2027: 28th, a Sunday, then Monday"),
            ("2026-08-31", "2026-09-30", "30 September 2026 is a Wednesday"),
        ] {
            assert_eq!(g.due(d(received), false), d(due), "{received}: {why}");
        }
    }

    /// Issue 14: deadlines skip the public holidays of the jurisdiction's
    /// calendar. Received 2026-11-25, a GDPR request is not due on Christmas
    /// Day: the weekend follows, then Monday 28 December — except where 28
    /// December is itself a holiday (the UK's Boxing Day observed).
    #[test]
    fn deadlines_skip_public_holidays_of_the_calendar() {
        let gdpr = Rules::for_key("gdpr").expect("gdpr");
        assert_eq!(gdpr.due(d("2026-11-25"), false), d("2026-12-28"), "EU: every member state keeps 25 December");
        for (calendar, due) in [("DE", "2026-12-28"), ("IE", "2026-12-28"), ("GB", "2026-12-29"), ("BG", "2026-12-29")]
        {
            let r = Rules::for_calendar("gdpr", calendar).expect("rules");
            assert_eq!(r.due(d("2026-11-25"), false), d(due), "{calendar}");
        }
        // Easter Monday 2027 (29 March) in Germany; not a holiday for the
        // whole EU (Romania and others follow the Orthodox date).
        let de = Rules::for_calendar("gdpr", "DE").expect("rules");
        assert_eq!(de.due(d("2027-02-28"), false), d("2027-03-30"), "28 March is a Sunday, 29 Easter Monday");
        // The CCPA's 10 business days skip Thanksgiving and the day after.
        let ca = Rules::for_key("ccpa").expect("ccpa");
        assert_eq!(ca.add(d("2026-11-20"), Period::BusinessDays(10)), d("2026-12-08"));
        let mut policy = crate::policy::Policy::default();
        policy.holidays.insert("gdpr".into(), "GB".into());
        let r = Rules::for_policy("gdpr", &policy).expect("rules");
        assert_eq!(r.due(d("2026-11-25"), false), d("2026-12-29"), "the policy's calendar");
        policy.holidays.insert("gdpr".into(), "XX".into());
        assert!(policy.validate().is_err(), "an unknown calendar is refused");
        let mut policy = crate::policy::Policy::default();
        policy.holidays.insert("GDPR".into(), "DE".into());
        assert!(policy.validate().is_err(), "a key that would be ignored is refused");
        let mut policy = crate::policy::Policy::default();
        policy.holidays.insert("cpra".into(), "EU".into());
        let r = Rules::for_policy("ccpa", &policy).expect("rules");
        assert_eq!(r.add(d("2026-11-20"), Period::BusinessDays(10)), d("2026-12-04"), "cpra's calendar is ccpa's");
    }

    #[test]
    fn gdpr_extension_is_three_months_in_all_and_must_be_notified_in_the_first() {
        let g = Rules::gdpr();
        assert_eq!(g.due(d("2026-03-31"), true), d("2026-06-30"));
        assert_eq!(g.due(d("2026-01-31"), true), d("2026-04-30"));
        assert_eq!(g.extension_deadline(d("2026-01-31")), Some(d("2026-03-02")));
        assert_eq!(g.acknowledge_by(d("2026-01-31")), None);
    }

    #[test]
    fn holidays_move_the_deadline() {
        let mut g = Rules::gdpr();
        g.holidays = vec![d("2026-04-30"), d("2026-05-01")];
        assert_eq!(g.due(d("2026-03-31"), false), d("2026-05-04"), "Thu and Fri holidays, then a weekend");
    }

    #[test]
    fn ccpa_deadlines_table() {
        let c = Rules::ccpa();
        for (received, due) in [
            ("2026-11-01", "2026-12-16"),
            ("2026-01-01", "2026-02-15"),
            ("2028-02-01", "2028-03-17"),
            ("2026-12-20", "2027-02-03"),
        ] {
            assert_eq!(c.due(d(received), false), d(due), "{received}");
        }
        assert_eq!(c.due(d("2026-11-01"), true), d("2027-01-30"), "45 + 45 days");
        // Acknowledge within 10 business days: 2026-11-01 is a Sunday.
        assert_eq!(c.acknowledge_by(d("2026-11-01")), Some(d("2026-11-13")));
        let mut c2 = Rules::ccpa();
        c2.holidays = vec![d("2026-11-11"), d("2026-11-26")];
        assert_eq!(c2.acknowledge_by(d("2026-11-01")), Some(d("2026-11-16")), "Veterans Day skipped");
    }

    #[test]
    fn days_left_counts_down_and_goes_negative() {
        assert_eq!(days_left(d("2026-11-24"), d("2026-12-16")), 22);
        assert_eq!(days_left(d("2026-11-24"), d("2026-11-20")), -4);
    }
}
