//! The data-subject request queue: intake, deadlines computed from the
//! jurisdiction's rules, listing by due date, completion. Every change is
//! audited (the reference, type and jurisdiction; never the requester's
//! details, which are sealed with the request).

use chrono::NaiveDate;
use serde::Serialize;

use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::model::request::{Request, RequestKind, Requester, Status, Step, Verification};
use crate::policy::deadlines::{self, Rules};
use crate::store::Change;

/// The history step that records the acknowledgement sent to the requester.
pub const ACKNOWLEDGED: &str = "acknowledged to the requester";

/// Days before the deadline from which a request counts as due soon.
pub const DUE_SOON_DAYS: i64 = 7;

pub use crate::model::request::NewRequest;

/// A request with its deadlines, as listed and shown.
#[derive(Clone, Debug, Serialize)]
pub struct RequestView {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(rename = "type")]
    pub kind: RequestKind,
    pub jurisdiction: String,
    pub received: NaiveDate,
    pub due: NaiveDate,
    pub days_left: i64,
    pub overdue: bool,
    pub due_soon: bool,
    pub acknowledge_by: Option<NaiveDate>,
    /// When receipt was acknowledged to the requester (a history step).
    pub acknowledged: Option<NaiveDate>,
    pub extension_notice_by: Option<NaiveDate>,
    pub status: Status,
    pub channel: String,
    pub requester: Requester,
    pub verification: Verification,
    pub records: Vec<crate::model::RecordId>,
    pub notes: Vec<String>,
    pub history: Vec<Step>,
    pub answers: Vec<String>,
    pub requester_erased: Option<String>,
}

/// What a request still lacks before it can be fulfilled (erased or
/// exported): the one rule the service enforces and the screens explain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// The requester's identity is not verified.
    Verification,
    /// No record is linked to it.
    Records,
}

/// See [`Missing`].
pub fn missing(verification_status: &str, linked: usize) -> Option<Missing> {
    if verification_status != "verified" {
        Some(Missing::Verification)
    } else if linked == 0 {
        Some(Missing::Records)
    } else {
        None
    }
}

impl RequestView {
    /// What this request still lacks before it can be fulfilled.
    pub fn missing(&self) -> Option<Missing> {
        missing(&self.verification.status, self.records.len())
    }
}

/// "an erasure", "an access", "a portability" ... request.
pub fn a_kind(k: RequestKind) -> String {
    let name = k.name();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {name}")
}

fn rules_under(jurisdiction: &str, policy: &crate::policy::Policy) -> Result<Rules, ServiceError> {
    Rules::for_policy(jurisdiction, policy).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "unknown jurisdiction `{}` (gdpr, ccpa)",
            crate::model::text::fit(jurisdiction, 20)
        ))
    })
}

/// The view of `r` on `today` (holidays of the jurisdictions' default calendars).
pub fn view(r: Request, today: NaiveDate) -> Result<RequestView, ServiceError> {
    view_under(r, today, &crate::policy::Policy::default())
}

/// The view of `r` on `today`, its deadline counted with the public
/// holidays `policy` names for its jurisdiction.
pub fn view_under(r: Request, today: NaiveDate, policy: &crate::policy::Policy) -> Result<RequestView, ServiceError> {
    let rules = rules_under(&r.jurisdiction, policy)?;
    let due = rules.due(r.received, matches!(r.status, Status::Extended { .. }));
    let days_left = deadlines::days_left(today, due);
    let open = r.status.is_open();
    Ok(RequestView {
        reference: r.reference,
        kind: r.kind,
        jurisdiction: r.jurisdiction,
        received: r.received,
        due,
        days_left,
        overdue: open && days_left < 0,
        due_soon: open && (0..=DUE_SOON_DAYS).contains(&days_left),
        acknowledge_by: rules.acknowledge_by(r.received),
        acknowledged: r.history.iter().find(|s| s.what == ACKNOWLEDGED).map(|s| s.time.date_naive()),
        extension_notice_by: rules.extension_deadline(r.received),
        status: r.status,
        channel: r.channel,
        requester: r.requester,
        verification: r.verification,
        records: r.records,
        notes: r.notes,
        history: r.history,
        answers: r.answers,
        requester_erased: r.requester_erased,
    })
}

impl Service {
    pub(crate) fn stored_requests(&self) -> Result<Vec<Request>, ServiceError> {
        self.store
            .requests()?
            .iter()
            .map(|b| serde_json::from_slice(b).map_err(|_| ServiceError::Invalid("an unreadable request".into())))
            .collect()
    }

    fn masked_view(&self, r: Request) -> Result<RequestView, ServiceError> {
        let (policy, _) = self.policy()?;
        let mut v = view_under(r, crate::model::now().date_naive(), &policy)?;
        if self.masks() {
            let q = &mut v.requester;
            q.name = q.name.as_deref().map(super::mask::name);
            q.email = q.email.as_deref().map(super::mask::email);
            q.phone = q.phone.as_deref().map(super::mask::phone);
            q.customer_number = q.customer_number.as_deref().map(super::mask::identifier);
            q.date_of_birth = q.date_of_birth.as_deref().map(|d| d.chars().take(4).collect());
            q.postcode = q.postcode.as_deref().map(super::mask::postcode);
            q.address = q.address.as_ref().map(|_| "***".into());
        }
        Ok(v)
    }

    /// The still-open request `reference` (refused, audited, when closed).
    pub(crate) fn open_request(
        &self,
        reference: &str,
        draft: &crate::store::audit::Draft,
    ) -> Result<Request, ServiceError> {
        let Some(r) = self.stored_requests()?.into_iter().find(|r| r.reference == reference) else {
            return Err(ServiceError::NotFound(crate::model::text::fit(reference, 40)));
        };
        if !r.status.is_open() {
            return Err(self.refuse(draft.clone(), format!("request {reference} is already {}", r.status.name())));
        }
        Ok(r)
    }

    /// Writes a changed request with its audit entry.
    pub(crate) fn save_request(
        &self,
        r: Request,
        draft: crate::store::audit::Draft,
    ) -> Result<RequestView, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let change = Change {
            requests: vec![(r.reference.clone(), serde_json::to_vec(&r).unwrap_or_default())],
            ..Change::default()
        };
        self.commit(change, draft)?;
        self.masked_view(r)
    }

    /// A new request from intake, checked against the references taken so
    /// far (`taken`, which it joins). The error says what is wrong (no
    /// personal data).
    fn build_request(&self, new: NewRequest, taken: &mut Vec<String>) -> Result<Request, String> {
        rules_under(&new.jurisdiction, &crate::policy::Policy::default()).map_err(|e| e.to_string())?;
        let q = &new.requester;
        if q.name.is_none() && q.email.is_none() && q.phone.is_none() {
            return Err("a request needs the requester's name, email or phone".into());
        }
        // The address is what the reply and the matching use: a malformed
        // one is refused (without repeating it: it is personal data).
        if let Some(reason) =
            q.email.as_deref().filter(|e| !e.trim().is_empty()).and_then(crate::findings::validate::email)
        {
            return Err(format!("the requester's {reason}"));
        }
        let reference = match new.reference {
            Some(r) => {
                let r = r.trim().to_owned();
                if r.is_empty() || r.len() > 40 || !r.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                    return Err("a reference is 1-40 letters, digits, '-', '_', '.' or '/'".into());
                }
                r
            }
            None => {
                let year = chrono::Datelike::year(&new.received);
                let prefix = format!("REQ-{year}-");
                let n = taken.iter().filter(|r| r.starts_with(&prefix)).count() + 1;
                (n..).map(|n| format!("{prefix}{n:04}")).find(|r| !taken.contains(r)).unwrap_or_default()
            }
        };
        if taken.contains(&reference) {
            return Err(format!("request {reference} exists"));
        }
        taken.push(reference.clone());
        let fit = |s: Option<String>| s.map(|v| crate::model::text::fit(v.trim(), 200)).filter(|v| !v.is_empty());
        Ok(Request {
            reference,
            kind: new.kind,
            jurisdiction: new.jurisdiction.to_ascii_lowercase(),
            received: new.received,
            channel: crate::model::text::fit(&new.channel, 40),
            requester: {
                let q = new.requester;
                if let Some(d) = q.date_of_birth.as_deref().map(str::trim).filter(|d| !d.is_empty())
                    && crate::model::DateParts::parse(d).is_none()
                {
                    return Err("the requester's date of birth is not a date (YYYY-MM-DD)".into());
                }
                Requester {
                    name: fit(q.name),
                    email: fit(q.email),
                    phone: fit(q.phone),
                    customer_number: fit(q.customer_number),
                    date_of_birth: fit(q.date_of_birth),
                    postcode: fit(q.postcode),
                    address: fit(q.address),
                }
            },
            verification: Verification { status: "unverified".into(), method: None },
            records: Vec::new(),
            status: Status::New,
            notes: Vec::new(),
            history: vec![Step { time: crate::model::now(), user: self.session.user.clone(), what: "received".into() }],
            answers: Vec::new(),
            requester_erased: None,
        })
    }

    /// Takes in a request; the deadline comes from its jurisdiction.
    pub fn request_add(&self, new: NewRequest) -> Result<RequestView, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("request-add", &[]);
        self.require(Role::Steward, "take in requests", &[])?;
        let mut taken: Vec<String> = self.stored_requests()?.into_iter().map(|r| r.reference).collect();
        let request = self.build_request(new, &mut taken).map_err(|e| self.refuse(draft.clone(), e))?;
        let reference = request.reference.clone();
        draft.detail = Some(format!("{reference}: {} under {}", request.kind.name(), request.jurisdiction));
        draft.request = Some(reference.clone());
        let change = Change {
            requests: vec![(reference, serde_json::to_vec(&request).unwrap_or_default())],
            ..Change::default()
        };
        self.commit(change, draft)?;
        self.masked_view(request)
    }

    /// Takes in many requests (a web form's or ticket system's export), all
    /// or none: any bad row refuses the whole file, naming its line. One
    /// audit entry.
    pub fn request_import(&self, rows: Vec<(u64, NewRequest)>) -> Result<Vec<RequestView>, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("request-import", &[]);
        self.require(Role::Steward, "take in requests", &[])?;
        let mut taken: Vec<String> = self.stored_requests()?.into_iter().map(|r| r.reference).collect();
        let mut built = Vec::new();
        let mut bad = Vec::new();
        for (line, new) in rows {
            match self.build_request(new, &mut taken) {
                Ok(r) => built.push(r),
                Err(reason) => bad.push(crate::import::RowError { line, reason }),
            }
        }
        if !bad.is_empty() {
            draft.outcome = Some(crate::store::audit::Outcome::Denied);
            draft.detail = Some(format!("{} invalid row(s); nothing was taken in", bad.len()));
            self.store.audit(draft)?;
            return Err(ServiceError::ImportRejected(bad));
        }
        if built.is_empty() {
            return Err(self.refuse(draft, "the file holds no requests".into()));
        }
        draft.detail = Some(format!(
            "{} request(s): {} to {}",
            built.len(),
            built.first().map(|r| r.reference.as_str()).unwrap_or(""),
            built.last().map(|r| r.reference.as_str()).unwrap_or("")
        ));
        let change = Change {
            requests: built.iter().map(|r| (r.reference.clone(), serde_json::to_vec(r).unwrap_or_default())).collect(),
            ..Change::default()
        };
        self.commit(change, draft)?;
        built.into_iter().map(|r| self.masked_view(r)).collect()
    }

    /// The queue, soonest due first (closed requests last).
    pub fn requests(&self) -> Result<Vec<RequestView>, ServiceError> {
        let mut out =
            self.stored_requests()?.into_iter().map(|r| self.masked_view(r)).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|v| (!v.status.is_open(), v.due, v.reference.clone()));
        Ok(out)
    }

    /// One request by reference.
    pub fn request(&self, reference: &str) -> Result<RequestView, ServiceError> {
        let r = self
            .stored_requests()?
            .into_iter()
            .find(|r| r.reference == reference)
            .ok_or_else(|| ServiceError::NotFound(crate::model::text::fit(reference, 40)))?;
        self.masked_view(r)
    }

    /// Marks a request completed, with what answered it (a receipt id, an
    /// export file name).
    /// Erasure, access and portability requests with linked records are
    /// answered by `request erase` / `request export`, which complete them.
    pub fn request_complete(&self, reference: &str, answer: Option<&str>) -> Result<RequestView, ServiceError> {
        self.complete_request(reference, answer, false)
    }

    /// [`Service::request_complete`]; `answered` when an export just answered it.
    pub(crate) fn complete_request(
        &self,
        reference: &str,
        answer: Option<&str>,
        answered: bool,
    ) -> Result<RequestView, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("request-complete", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "complete requests", &[])?;
        let mut r = self.open_request(reference, &draft)?;
        let live = r.records.iter().filter(|id| self.store.get(**id).ok().flatten().is_some()).count();
        let fulfil = match r.kind {
            RequestKind::Erasure => Some("request erase"),
            RequestKind::Access | RequestKind::Portability => Some("request export"),
            _ => None,
        };
        if fulfil.is_some() && !answered && r.verification.status != "verified" {
            return Err(self.refuse(
                draft,
                format!(
                    "verify the requester of {reference} first (`request verify`, v): completing {} request says what \
                     is held about them",
                    a_kind(r.kind)
                ),
            ));
        }
        if let Some(how) = fulfil
            && live > 0
            && !answered
        {
            return Err(self.refuse(
                draft,
                format!(
                    "{reference} has {live} linked record(s): answer it with `{how}` (x or E on the Requests screen)"
                ),
            ));
        }
        r.status = Status::Completed;
        if let Some(a) = answer.map(str::trim).filter(|a| !a.is_empty()) {
            r.answers.push(crate::model::text::fit(a, 200));
        }
        r.history.push(Step { time: crate::model::now(), user: self.session.user.clone(), what: "completed".into() });
        draft.detail = Some(format!("{reference}: completed"));
        self.save_request(r, draft)
    }
}

impl Service {
    /// Records that receipt was acknowledged to the requester (CCPA: within
    /// 10 business days).
    pub fn request_acknowledge(&self, reference: &str) -> Result<RequestView, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("request-acknowledge", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "update requests", &[])?;
        let mut r = self.open_request(reference, &draft)?;
        if r.history.iter().any(|s| s.what == ACKNOWLEDGED) {
            return Err(self.refuse(draft, format!("{reference} was acknowledged already")));
        }
        r.history.push(Step { time: crate::model::now(), user: self.session.user.clone(), what: ACKNOWLEDGED.into() });
        draft.detail = Some(format!("{reference}: acknowledged"));
        self.save_request(r, draft)
    }

    /// Moves a request to `status` (verifying, in progress, extended,
    /// rejected), with a history step.
    pub fn request_set_status(&self, reference: &str, status: Status) -> Result<RequestView, ServiceError> {
        let _hold = self.store.hold()?; // see `Store::hold`
        let mut draft = self.draft("request-status", &[]);
        draft.request = Some(crate::model::text::fit(reference, 40));
        self.require(Role::Steward, "update requests", &[])?;
        let mut r = self.open_request(reference, &draft)?;
        let what = match &status {
            Status::Extended { notified, .. } => {
                if matches!(r.status, Status::Extended { .. }) {
                    return Err(
                        self.refuse(draft, format!("{reference} is extended already (once is all the law allows)"))
                    );
                }
                let rules = rules_under(&r.jurisdiction, &self.policy()?.0)?;
                if rules.extension.is_none() {
                    return Err(self.refuse(draft, format!("{} allows no extension", rules.name)));
                }
                if let Some(last) = rules.extension_deadline(r.received)
                    && *notified > last
                {
                    return Err(self.refuse(draft, format!("an extension must be notified by {last}")));
                }
                format!("extended (requester told {notified})")
            }
            other => other.name().to_owned(),
        };
        r.status = status;
        r.history.push(Step { time: crate::model::now(), user: self.session.user.clone(), what: what.clone() });
        draft.detail = Some(format!("{reference}: {what}"));
        self.save_request(r, draft)
    }
}
