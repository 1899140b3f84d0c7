//! The bundled demo: a throwaway store built from `demo-data/`, so that
//! `steward demo` opens the dashboard on a fresh machine with no set-up.

use std::path::Path;

use secrecy::SecretString;

use super::{OnInvalid, Service, ServiceError};
use crate::crypto::KdfCost;
use crate::import::{self, Format, Options};
use crate::store::NewSlot;

/// Source name used when `--source` is not given.
pub const DEFAULT_SOURCE: &str = "default";

/// The demo customers, embedded so the binary works from anywhere.
pub const DEMO_CSV: &str = include_str!("../../demo-data/customers.csv");

/// The demo shop's data inventory, imported into every demo store.
pub const DEMO_POLICY: &str = include_str!("../../demo-data/policy.toml");

/// Passphrase of demo stores (they hold synthetic data only).
pub const DEMO_PASSPHRASE: &str = "demo";

/// The demo shop's web shop opened its own sign-up form this many days
/// before the generator's "today": customers who signed up since came from
/// source `webshop` (a second import), the others from `crm`.
pub const WEBSHOP_DAYS: i64 = 365;

/// Source of the demo customers who signed up through the web shop.
pub const WEBSHOP_SOURCE: &str = "webshop";

/// Builds a demo store in `dir` (which must not exist or be empty), owned by
/// `user`, at a low KDF cost, and imports the demo customers: the CRM's
/// export, then the web shop's (customers who signed up in the last
/// [`WEBSHOP_DAYS`]).
pub fn build(dir: &Path, user: &str) -> Result<Service, ServiceError> {
    let slot = NewSlot::Passphrase(SecretString::from(DEMO_PASSPHRASE.to_owned()), KdfCost::LOW);
    let service = Service::init(dir, user, slot)?;
    service.import_policy(DEMO_POLICY)?;
    let opts = Options { format: Format::Csv, id_column: None, source: "crm".into(), now: chrono::Utc::now() };
    let mut parsed = import::parse(DEMO_CSV.as_bytes(), &opts, &mut |_| {});
    // The generator planted ages relative to its own "today"; move every
    // timestamp so that day is today, and the demo finds the same things
    // whenever it is run.
    let shift = chrono::Utc::now() - crate::synth::as_of();
    let moved = |t: chrono::DateTime<chrono::Utc>| crate::model::to_seconds(t + shift);
    let webshop_since = crate::synth::as_of() - chrono::Duration::days(WEBSHOP_DAYS);
    let mut webshop =
        import::Parsed { rows: Vec::new(), errors: Vec::new(), columns: parsed.columns.clone(), unusable: false };
    for row in &mut parsed.rows {
        if row.record.times.created >= webshop_since {
            row.record.provenance.source = WEBSHOP_SOURCE.into();
        }
        let t = &mut row.record.times;
        t.created = moved(t.created);
        t.updated = moved(t.updated);
        t.last_verified = t.last_verified.map(moved);
        t.last_activity = t.last_activity.map(moved);
        row.record.provenance.collected_at = moved(row.record.provenance.collected_at);
    }
    let (shop, crm): (Vec<_>, Vec<_>) =
        parsed.rows.into_iter().partition(|r| r.record.provenance.source == WEBSHOP_SOURCE);
    parsed.rows = crm;
    webshop.rows = shop;
    service.import(parsed, OnInvalid::Refuse, false, &|_| {})?;
    service.import(webshop, OnInvalid::Refuse, false, &|_| {})?;
    add_requests(&service)?;
    Ok(service)
}

/// About a dozen requests in various states, received relative to today so
/// that some are overdue and some due soon whenever the demo runs. The
/// requesters are demo customers (some with near-duplicate records).
fn add_requests(service: &Service) -> Result<(), ServiceError> {
    use crate::findings::duplicates::{self, Features};
    use crate::model::request::{RequestKind as K, Requester, Status};
    use crate::service::requests::NewRequest;
    let records = service.records(&mut |_| {})?;
    let today = crate::model::now().date_naive();
    let requester = |r: &crate::model::Record| Requester {
        name: Some(r.display_name()).filter(|n| !n.is_empty()),
        email: r.email.clone(),
        ..Requester::default()
    };
    // The first two requesters have near-duplicate records (three and two),
    // so that matching a request to its records has something to find.
    let mut features = Features::all(&records);
    let settings = duplicates::Settings { match_probability: 0.98, cluster_probability: 0.05 };
    let clusters = duplicates::find(&mut features, settings, &duplicates::Apart::default()).clusters;
    // Prefer people whose records do not all share one email: matching
    // must find them by name and through their duplicates too.
    let with_email = |n: usize| {
        let mut fit: Vec<_> = clusters.iter().filter(|c| c.members.len() == n && c.score > 0.95).collect();
        fit.sort_by_key(|c| {
            let emails: std::collections::BTreeSet<_> =
                c.members.iter().map(|m| records[*m as usize].email.as_deref().map(str::to_lowercase)).collect();
            std::cmp::Reverse(emails.len())
        });
        fit.into_iter().find_map(|c| c.members.iter().map(|m| &records[*m as usize]).find(|r| r.email.is_some()))
    };
    let chosen = [with_email(3), with_email(2)];
    let person = |i: usize| match chosen.get(i - 1).copied().flatten() {
        Some(r) => requester(r),
        // The completed erasure was someone the shop holds nothing about.
        None if i == 9 => Requester {
            name: Some("Jordan Tanaka-Reyes".into()),
            email: Some("jordan.tr@example.invalid".into()),
            ..Requester::default()
        },
        // A letter that gives a name and nothing else: matching must not
        // propose anyone, however many customers share the name.
        None if i == 7 => Requester {
            name: Some(records[(i * 37) % records.len()].display_name()).filter(|n| !n.is_empty()),
            ..Requester::default()
        },
        None => requester(&records[(i * 37) % records.len()]),
    };
    let plan: [(K, &str, i64, &str, Option<Status>); 12] = [
        (K::Erasure, "gdpr", 40, "email", None),
        (K::Access, "gdpr", 33, "web", Some(Status::InProgress)),
        (K::Erasure, "ccpa", 50, "web", Some(Status::Verifying)),
        (K::Portability, "gdpr", 27, "email", None),
        (K::Rectification, "gdpr", 12, "phone", Some(Status::InProgress)),
        (K::Objection, "ccpa", 8, "web", None),
        (K::Erasure, "gdpr", 3, "letter", None),
        (K::Access, "ccpa", 1, "email", None),
        (K::Erasure, "gdpr", 20, "email", Some(Status::Completed)),
        (K::Access, "gdpr", 70, "email", Some(Status::Rejected { reason: "identity could not be verified".into() })),
        (K::Restriction, "gdpr", 45, "email", None),
        (K::Access, "gdpr", 25, "web", None),
    ];
    for (i, (kind, jurisdiction, days_ago, channel, status)) in plan.into_iter().enumerate() {
        let received = today - chrono::Days::new(days_ago.unsigned_abs());
        let v = service.request_add(NewRequest {
            reference: None,
            kind,
            jurisdiction: jurisdiction.into(),
            received,
            channel: channel.into(),
            requester: person(i + 1),
        })?;
        match status {
            Some(Status::Completed) => {
                service.request_verify(&v.reference, true, "replied from the email given")?;
                service.request_complete(&v.reference, Some("no data held about the requester; told by email"))?;
            }
            Some(s) => {
                service.request_set_status(&v.reference, s)?;
            }
            None => {}
        }
    }
    Ok(())
}
