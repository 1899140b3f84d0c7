//! The dashboard's service calls, run on the action thread: each job calls
//! the service (which checks the role, audits and commits), then the
//! records it touched are re-read so the screens show the store as it is.

use std::sync::Arc;

use super::app::{Data, Event, Job};
use super::forms::{NotePurpose, Remedy};
use crate::model::RecordId;
use crate::model::request::Status;
use crate::service::Service;
use crate::service::actions::AuditFilter;
use crate::service::breach::BreachStep;
use crate::service::export::Target;

/// Runs `job`; returns the events to post, in order. `progress` hears
/// about long steps (the key rotation after an erasure).
pub fn run(
    service: &Service,
    data: Option<&Arc<Data>>,
    job: Job,
    progress: &(dyn Fn(String) + Sync),
    scan: &std::sync::Mutex<Rescanner>,
) -> Vec<Event> {
    let (result, touched) = match job {
        Job::LoadRequests => return load_requests(service),
        Job::MatchRequest { reference } => {
            return match service.request_match(&reference) {
                Ok(m) => vec![Event::Matched { reference, candidates: Arc::new(m.candidates), advice: m.advice }],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::PlanRequestErase { reference, strategy } => {
            return match service.request_plan_erase(&reference, strategy) {
                Ok(plan) => vec![Event::ErasePlanned(Box::new(plan))],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::LinkRecords { reference, ids, link } => (
            service.request_link(&reference, &ids, link).map(|v| {
                let verb = if link { "linked" } else { "withdrew" };
                (format!("{reference}: {verb} {} record(s); {} linked in all", ids.len(), v.records.len()), None)
            }),
            Vec::new(),
        ),
        Job::AcknowledgeRequest { reference } => (
            service.request_acknowledge(&reference).map(|v| (format!("{}: acknowledged", v.reference), None)),
            Vec::new(),
        ),
        Job::NoteRequest { purpose: NotePurpose::Distinct(ids), text, .. } => {
            let done = service.mark_apart(&ids, &text);
            if done.is_ok() {
                // The kept scan does not know the new decision: the records
                // are scanned again in full (see `patched`), and the
                // cluster splits there.
                scan.lock().unwrap_or_else(std::sync::PoisonError::into_inner).state = None;
            }
            (
                done.map(|n| {
                    (format!("{n} pair(s) marked as different people; the scan keeps them apart from now on"), None)
                }),
                ids,
            )
        }
        Job::NoteRequest { purpose, text, failed } => (
            match purpose {
                NotePurpose::Verify(r) => service
                    .request_verify(&r, !failed, &text)
                    .map(|v| (format!("{}: identity {}", v.reference, v.verification.status), None)),
                NotePurpose::Complete(r) => {
                    service.request_complete(&r, Some(&text)).map(|v| (format!("{}: completed", v.reference), None))
                }
                NotePurpose::Extend(r) => {
                    let notified = crate::model::now().date_naive();
                    service
                        .request_set_status(&r, Status::Extended { reason: text, notified })
                        .map(|v| (format!("{}: extended, now due {}", v.reference, v.due), None))
                }
                NotePurpose::Note(r) => service
                    .request_note(&r, &text)
                    .map(|v| (format!("{}: note added ({} in all)", v.reference, v.notes.len()), None)),
                NotePurpose::Reject(r) => service
                    .request_set_status(&r, Status::Rejected { reason: text })
                    .map(|v| (format!("{}: rejected", v.reference), None)),
                NotePurpose::BreachNote(r) => service
                    .breach_step(&r, BreachStep::Note(text))
                    .map(|b| (format!("{}: added to the timeline", b.reference), None)),
                NotePurpose::BreachAuthority(r) => breach_told(service, &r, true, text),
                NotePurpose::BreachPeople(r) => breach_told(service, &r, false, text),
                NotePurpose::BreachRisk(r, level) => service
                    .breach_step(&r, BreachStep::Risk(level, text))
                    .map(|b| (format!("{}: {}", b.reference, b.risk.name()), None)),
                NotePurpose::BreachReport(r) => service
                    .write_breach_report(&r, std::path::Path::new(text.trim()))
                    .map(|p| (format!("{r}: the report for the authority is in {}", p.display()), None)),
                NotePurpose::BreachClose(r) => {
                    service.breach_step(&r, BreachStep::Close(text)).map(|b| (format!("{}: closed", b.reference), None))
                }
                NotePurpose::Distinct(_) => Ok((String::new(), None)),
            },
            Vec::new(),
        ),
        Job::RequestErase { reference, plan, reason } => {
            let ids = plan.records.clone();
            (
                service
                    .request_erase(&reference, &plan, &reason, true, &|pages| {
                        progress(format!("erased; rotating the data key ({pages} pages re-wrapped)"))
                    })
                    .map(|r| {
                        (
                            format!(
                                "{reference} completed: erased {} record(s); receipt {} (audit entry {})",
                                r.records_erased, r.receipt, r.audit_entry
                            ),
                            None,
                        )
                    }),
                ids,
            )
        }
        Job::RequestExport { reference, recipient, file } => {
            let target = Target::Recipients(vec![recipient]);
            (
                service.request_export(&reference, &target, false, &file).map(|(r, _)| {
                    let path = std::path::absolute(&r.file).unwrap_or(r.file);
                    (format!("{reference} completed: exported {} record(s) to {}", r.subjects, path.display()), None)
                }),
                Vec::new(),
            )
        }
        Job::LoadBreaches => {
            return match service.breaches() {
                Ok(list) => {
                    let list = list.into_iter().map(|mut b| {
                        b.affected = Vec::new();
                        b
                    });
                    vec![Event::BreachesLoaded(Arc::new(list.collect()))]
                }
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::LoadSources => {
            return match service.source_overview() {
                Ok(mut list) => {
                    if let Some(d) = data {
                        super::screens::sources::count_held(&mut list, d);
                    }
                    vec![Event::SourcesLoaded(Arc::new(list))]
                }
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::LoadAudit => {
            return match service.audit_list(&AuditFilter::default()) {
                Ok(entries) => vec![Event::AuditLoaded(Arc::new(entries))],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::Unlock { secret } => {
            let creds = crate::service::Credentials::Passphrase((*secret).clone());
            return match service.check_secret(creds) {
                Ok(()) => vec![Event::Unlocked],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::Reveal { id, reason } => {
            return match service.reveal(&[id], &[], &reason) {
                Ok(mut r) if !r.is_empty() => vec![Event::Revealed(Box::new(r.remove(0)))],
                Ok(_) => vec![Event::ActFailed("the record is gone".into())],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::Receipt { id } => {
            return match service.receipt(&id) {
                Ok(Some(r)) => {
                    let text = serde_json::to_string_pretty(&r).unwrap_or_default();
                    vec![Event::ReceiptShown(id, text.lines().map(str::to_owned).collect())]
                }
                Ok(None) => vec![Event::ActFailed(format!("no stored receipt {}", crate::model::text::fit(&id, 40)))],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::AuditVerify => {
            return match service.audit_verify() {
                Ok(v) => match &v.broken {
                    None => vec![Event::Acted {
                        message: format!(
                            "audit trail intact: {} entries, chain head sealed at entry {}",
                            v.entries, v.sealed_head
                        ),
                        merge: None,
                        changed: false,
                    }],
                    Some(b) => vec![Event::ActFailed(format!(
                        "the audit trail is BROKEN at entry {}: {}",
                        b.seq,
                        crate::model::text::sanitize(&b.problem)
                    ))],
                },
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::PrepareEdit { id, request } => {
            return match service.reveal(&[id], &[], "to rectify it (edit form)") {
                Ok(mut r) if !r.is_empty() => vec![Event::EditReady(Box::new(r.remove(0)), request)],
                Ok(_) => vec![Event::ActFailed("the record is gone".into())],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::PrepareMerge { ids } => {
            let plan = service.plan_merge(&ids, None);
            return match plan {
                Ok(p) => vec![Event::MergeReady(Box::new(p))],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::PlanErase { ids, strategy } => {
            return match service.plan_erase(&ids, strategy) {
                Ok(plan) => vec![Event::ErasePlanned(Box::new(plan))],
                Err(e) => vec![Event::ActFailed(e.to_string())],
            };
        }
        Job::Refresh { ids } => {
            let Some(data) = data else { return vec![Event::ExternalDone(String::new())] };
            let mut out = match patched(service, data, &ids, scan) {
                Ok(evs) => evs,
                Err(e) => vec![Event::LoadFailed(format!("could not read another session's changes: {e}"))],
            };
            out.push(Event::ExternalDone(format!(
                "another session changed {} record(s): shown as they are now",
                ids.len()
            )));
            return out;
        }
        Job::Update { seen, edits, reason, request } => (
            service.update_seen(&seen, &edits, &reason, request.as_deref()).map(|u| {
                let fields: Vec<&str> = u.diffs.iter().map(|d| d.field.as_str()).collect();
                (format!("saved {} (audit entry {}; u undoes it)", fields.join(", "), u.entry.seq), Some(u.change_id))
            }),
            vec![seen.id],
        ),
        Job::Merge { plan, reason } => {
            let ids: Vec<RecordId> = plan.records.iter().map(|r| r.id).collect();
            (
                service.merge(&plan, &reason).map(|o| {
                    (
                        format!("merged {} record(s) into one ({}; u undoes it)", o.merged.len() + 1, o.merge_id),
                        Some(o.merge_id),
                    )
                }),
                ids,
            )
        }
        Job::Undo { merge } => match service.undo(&merge, "undone in the dashboard (key u)") {
            Ok(r) => (Ok((r.summary, None)), r.ids),
            Err(e) => (Err(e), Vec::new()),
        },
        Job::Erase { plan, reason, request } => {
            let ids = plan.records.clone();
            (
                service
                    .erase(&plan, &reason, request.as_deref(), true, &|pages| {
                        progress(format!("erased; rotating the data key ({pages} pages re-wrapped)"))
                    })
                    .map(|r| {
                        (
                            format!(
                                "erased {} record(s); receipt {} (audit entry {}, data key rotated)",
                                r.records_erased, r.receipt, r.audit_entry
                            ),
                            None,
                        )
                    }),
                ids,
            )
        }
        Job::PlanRemedy(remedy) => return vec![plan_remedy(service, data, *remedy)],
        Job::PlanBulkMerge { clusters, min } => return vec![plan_bulk(service, data, clusters, min)],
        Job::ApplyRemedy { remedy, inputs, given } => {
            let ids = remedy.ids();
            let input = |l: &str| inputs.iter().find(|(k, _)| k == l).map_or(String::new(), |(_, v)| v.clone());
            let reason = input("Reason");
            let done = match *remedy {
                Remedy::Sync { source, .. } => {
                    return match service.sync(&source, crate::service::OnInvalid::Refuse, false, false, &|_| {}) {
                        Ok(r) => vec![Event::Resynced(sync_lines(&r).join(" · "))],
                        Err(e) => vec![Event::ActFailed(e.to_string())],
                    };
                }
                Remedy::Push { source, .. } => {
                    return match service.push(&source, PUSH_BATCH, false, &|done, total| {
                        progress(format!("pushing: {done} of {total} change(s)"))
                    }) {
                        Ok(r) => {
                            let lines = push_lines(&r);
                            match &r.stopped {
                                Some(why) => {
                                    vec![Event::ActFailed(format!("push stopped: {why}; the rest stays pending"))]
                                }
                                None => vec![Event::Acted {
                                    message: lines.into_iter().take(2).collect::<Vec<_>>().join(" · "),
                                    merge: None,
                                    changed: false,
                                }],
                            }
                        }
                        Err(e) => vec![Event::ActFailed(e.to_string())],
                    };
                }
                Remedy::BulkMerge { plan: Some(plan), .. } => service.bulk_merge(&plan, &reason),
                Remedy::DropField { plan: Some(plan), .. } => service.drop_field(&plan, &reason),
                Remedy::Redact { ids, .. } => service.redact(&ids, None, &reason),
                Remedy::ClearValue { id, field } => service.clear_value(id, &field, &reason),
                Remedy::Verified { ids } => service.mark_verified(&ids, &input("How"), &reason),
                Remedy::Reverify { ids } => {
                    let target = Target::Recipients(vec![input("Recipient")]);
                    let file = std::path::PathBuf::from(input("File"));
                    // The records listed are marked as asked (for the grace period).
                    let listed = match service.reverify_list(&ids, &target, false, &file) {
                        Ok(r) => r,
                        Err(e) => return vec![Event::ActFailed(e.to_string())],
                    };
                    Ok(crate::service::remedies::Remedied {
                        change_id: None,
                        records: listed.listed,
                        audit_entry: listed.audit_entry,
                        summary: format!(
                            "{} customer(s) listed in {} (encrypted); left out: {} restricted, {} unreachable",
                            listed.listed,
                            std::path::absolute(&listed.file).unwrap_or(listed.file).display(),
                            listed.restricted,
                            listed.unreachable
                        ),
                        ids: ids.clone(),
                    })
                }
                Remedy::Consent { id } => match chrono::NaiveDate::parse_from_str(&input("Date"), "%Y-%m-%d") {
                    Ok(date) => service.record_consent(id, &input("Purpose"), given, date, &input("Source"), &reason),
                    Err(_) => Err(crate::service::ServiceError::Invalid("the date must be YYYY-MM-DD".into())),
                },
                Remedy::Restrict { ids } => service.restrict(&ids, true, &reason),
                Remedy::Declare { field } => {
                    let retention = match input("Retention days") {
                        t if t.is_empty() => None,
                        t => match t.parse::<u32>() {
                            Ok(n) => Some(n),
                            Err(_) => return vec![Event::ActFailed("retention: a number of days, or empty".into())],
                        },
                    };
                    let basis = input("Legal basis");
                    let basis = Some(basis.as_str()).filter(|b| !b.is_empty());
                    return match service.declare_field(&field, &input("Purpose"), basis, retention, &input("Category"))
                    {
                        Ok(info) => {
                            let mut out = vec![Event::Acted {
                                message: format!(
                                    "policy revision {}: `{field}` declared for `{}`",
                                    info.revision,
                                    input("Purpose")
                                ),
                                merge: None,
                                changed: true,
                            }];
                            // The policy changed: every record is checked again.
                            if let Some(d) = data {
                                match service.scan_keeping(&d.records, &|_| {}) {
                                    Ok((report, state)) => {
                                        scan.lock()
                                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                                            .keep(state, d.version);
                                        out.push(Event::ScannedAt(Arc::new(report), d.version));
                                    }
                                    Err(e) => out.push(Event::LoadFailed(format!("scan failed: {e}"))),
                                }
                            }
                            out
                        }
                        Err(e) => vec![Event::ActFailed(e.to_string())],
                    };
                }
                Remedy::BulkMerge { plan: None, .. } | Remedy::DropField { plan: None, .. } => {
                    Err(crate::service::ServiceError::Invalid("the plan is not ready".into()))
                }
            };
            match done {
                Ok(r) => {
                    let undo = if r.change_id.is_some() { "; u undoes it" } else { "" };
                    let touched = if r.ids.is_empty() { ids } else { r.ids.clone() };
                    (Ok((format!("{} (audit entry {}{undo})", r.summary, r.audit_entry), r.change_id)), touched)
                }
                Err(e) => (Err(e), Vec::new()),
            }
        }
        Job::BreachOpen { discovered, what, source, ids } => (
            crate::model::breach::parse_when(&discovered, crate::model::now())
                .map_err(crate::service::ServiceError::Invalid)
                .and_then(|discovered| {
                    let scope = crate::model::breach::Scope {
                        sources: source.into_iter().collect(),
                        ids,
                        ..Default::default()
                    };
                    service.breach_open(crate::service::breach::NewBreach { discovered, what, scope }, &mut |n| {
                        progress(format!("scoping the breach: {n} records read"))
                    })
                })
                .map(|b| {
                    (
                        format!(
                            "{} opened: {} record(s) in scope; authority: {}",
                            b.reference,
                            b.figures.records,
                            b.clock(crate::model::now()).short()
                        ),
                        None,
                    )
                }),
            Vec::new(),
        ),
        Job::BreachList { reference, recipient, file } => {
            let target = Target::Recipients(vec![recipient]);
            (
                service.breach_notification_list(&reference, &target, false, &file).map(|r| {
                    let path = std::path::absolute(&r.file).unwrap_or(r.file);
                    (
                        format!(
                            "{reference}: {} people listed in {} ({} erased since, {} unreachable); once told: p",
                            r.people,
                            path.display(),
                            r.erased,
                            r.unreachable
                        ),
                        None,
                    )
                }),
                Vec::new(),
            )
        }
        Job::Extract { ids, purpose, recipient, file } => {
            let target = Target::Recipients(vec![recipient]);
            (
                service.extract(&purpose, Some(&ids), &target, false, &file).map(|r| {
                    let path = std::path::absolute(&r.file).unwrap_or(r.file);
                    let left = r.plan.considered - r.plan.included.len();
                    (
                        format!(
                            "extracted {} of {} record(s) for `{}` to {} ({left} left out: no consent, restricted, objected or past retention)",
                            r.plan.included.len(),
                            r.plan.considered,
                            r.plan.purpose,
                            path.display()
                        ),
                        None,
                    )
                }),
                Vec::new(),
            )
        }
        Job::Export { ids, recipient, file } => {
            let target = Target::Recipients(vec![recipient]);
            (
                service.export(&ids, &target, false, &file).map(|r| {
                    let path = std::path::absolute(&r.file).unwrap_or(r.file);
                    (format!("exported {} record(s) to {}", r.subjects, path.display()), None)
                }),
                Vec::new(),
            )
        }
    };
    match result {
        Err(e) => vec![Event::ActFailed(e.to_string())],
        Ok((message, merge)) => {
            let changed = !touched.is_empty();
            let mut out = Vec::new();
            if changed && let Some(data) = data {
                match patched(service, data, &touched, scan) {
                    Ok(mut evs) => out.append(&mut evs),
                    Err(e) => out.push(Event::LoadFailed(format!("could not re-read the changed records: {e}"))),
                }
            }
            // Last: `Acted` ends the job (the next may start), so the screens
            // hold the changed records before another job can be sent.
            out.push(Event::Acted { message, merge, changed });
            out
        }
    }
}

/// What the action thread keeps between jobs: the scan of the records at
/// data version `version`, for incremental rescans.
#[derive(Default)]
pub struct Rescanner {
    pub state: Option<crate::findings::ScanState>,
    pub version: u64,
}

impl Rescanner {
    /// Keeps the scan of data version `version`, unless a later one is kept.
    pub fn keep(&mut self, state: crate::findings::ScanState, version: u64) {
        if version >= self.version {
            self.state = Some(state);
            self.version = version;
        }
    }
}

/// A record id standing in for the record, where only ids are needed.
struct IdOnly(RecordId);

impl crate::model::Identified for IdOnly {
    fn id(&self) -> RecordId {
        self.0
    }
    fn source_id(&self) -> &str {
        ""
    }
    fn email(&self) -> Option<&str> {
        None
    }
    fn created(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::<chrono::Utc>::UNIX_EPOCH
    }
    fn country(&self) -> Option<&str> {
        None
    }
}

/// The events that bring the screens up to date after `touched` records
/// changed: the changed records re-read, and the findings rescanned for
/// them alone when the scan of `data` is kept (else in full, here).
fn patched(
    service: &Service,
    data: &Arc<Data>,
    touched: &[RecordId],
    scan: &std::sync::Mutex<Rescanner>,
) -> Result<Vec<Event>, crate::service::ServiceError> {
    // STEWARD_TRACE=1: the time of each step on stderr (no data).
    let trace = std::env::var_os("STEWARD_TRACE").is_some();
    let t0 = std::time::Instant::now();
    let lap = |what: &str| {
        if trace {
            eprintln!("  {:>8} ms  {what}", t0.elapsed().as_millis());
        }
    };
    let mut patch = super::app::DataPatch::default();
    let mut seen = std::collections::BTreeSet::new();
    for id in touched.iter().filter(|id| seen.insert(**id)) {
        match service.get(*id) {
            // The search index stays over the real values (see
            // `Service::records_and_index`).
            Ok(r) => {
                let text = crate::search::SearchIndex::text_of(&service.real(*id)?);
                patch.put.push((r, text));
            }
            Err(crate::service::ServiceError::NotFound(_)) => {
                if data.records.binary_search_by(|r| r.id.cmp(id)).is_ok() {
                    patch.remove.push(*id);
                }
            }
            Err(e) => return Err(e),
        }
    }
    // Every change went through this session: the data is the store's now.
    service.records_are_current();
    lap("re-read the changed records");
    let version = super::app::next_version();
    let at = |id: &RecordId| data.records.binary_search_by(|r| r.id.cmp(id)).ok();
    let moved = !patch.remove.is_empty() || patch.put.iter().any(|(r, _)| at(&r.id).is_none());
    // Records removed or added move the ones after them; otherwise every
    // record keeps its place (and nothing is worked out for a million).
    let (ids, remap) = if moved {
        let ids = data.ids_after(&patch);
        let old: Vec<RecordId> = data.records.iter().map(|r| r.id).collect();
        let remap = crate::findings::Remap::between(&old, &ids);
        (ids, remap)
    } else {
        (Vec::new(), None)
    };
    let changed: Vec<u32> = patch
        .put
        .iter()
        .filter_map(|(r, _)| if moved { ids.binary_search(&r.id).ok() } else { at(&r.id) }.map(|i| i as u32))
        .collect();
    lap("worked out where records moved");
    let mut rescanner = scan.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let current = rescanner.version == data.version;
    let findings = match &mut rescanner.state {
        Some(state) if current => {
            let rescanned = if moved {
                let slim: Vec<IdOnly> = ids.iter().map(|id| IdOnly(*id)).collect();
                service.rescan(state, &slim, &changed, remap.as_ref())
            } else {
                service.rescan(state, &data.records, &changed, None)
            };
            match rescanned {
                Ok(p) => {
                    rescanner.version = version;
                    Some(Arc::new(p))
                }
                Err(_) => None,
            }
        }
        _ => None,
    };
    lap("rescanned");
    let patch = Arc::new(patch);
    let mut out = vec![Event::Patched { data: patch.clone(), findings: findings.clone(), base: data.version, version }];
    if findings.is_none() {
        // No scan to patch (the first is still running, or failed): the
        // records as they are now are scanned in full.
        rescanner.state = None;
        let mut d = (**data).clone();
        d.apply(&patch, version);
        match service.scan_keeping(&d.records, &|_| {}) {
            Ok((report, state)) => {
                rescanner.keep(state, version);
                out.push(Event::ScannedAt(Arc::new(report), version));
            }
            Err(e) => out.push(Event::LoadFailed(format!("scan failed: {e}"))),
        }
    }
    Ok(out)
}

/// Who a record is, for previews: its name (as this session sees it) or source id.
fn label(data: Option<&Arc<Data>>, id: RecordId) -> String {
    let Some(d) = data else { return id.to_string() };
    match d.records.binary_search_by(|r| r.id.cmp(&id)) {
        Ok(i) => {
            let r = &d.records[i];
            let n = r.display_name();
            let n = if n.is_empty() { r.source_id.clone() } else { n };
            crate::model::text::fit(&n, 28)
        }
        Err(_) => id.to_string(),
    }
}

/// Works out what a remedy will change (the service plans it), for the
/// dialog's preview.
fn plan_remedy(service: &Service, data: Option<&Arc<Data>>, remedy: Remedy) -> Event {
    const SHOWN: usize = 200;
    let planned = match remedy {
        Remedy::DropField { field, ids, .. } => service.plan_drop_field_in(&field, &ids).map(|p| {
            let lines = vec![
                format!("`{}` ({}) is dropped from {} record(s).", p.field, p.category, p.records.len()),
                "Undo (u) restores it until the next key rotation; after that".into(),
                "the old values cannot be recovered, as for an erasure.".into(),
            ];
            (Remedy::DropField { field, ids, plan: Some(p) }, lines)
        }),
        Remedy::Redact { ids, .. } => service.plan_redact(&ids, None).map(|items| {
            let records: std::collections::BTreeSet<RecordId> = items.iter().map(|i| i.record).collect();
            let mut lines = vec![format!("{} value(s) in {} record(s) are replaced:", items.len(), records.len())];
            lines.extend(
                items
                    .iter()
                    .take(SHOWN)
                    .map(|i| format!("{} · {}: {} → {}", label(data, i.record), i.field, i.found, i.becomes)),
            );
            if items.len() > SHOWN {
                lines.push(format!("… and {} more", items.len() - SHOWN));
            }
            (Remedy::Redact { ids, plan: Some(items) }, lines)
        }),
        Remedy::Sync { source, .. } => {
            service.sync(&source, crate::service::OnInvalid::Refuse, false, true, &|_| {}).map(|r| {
                let mut lines = sync_lines(&r);
                lines.push("Enter syncs: every row is written in one step, or none.".into());
                (Remedy::Sync { source, planned: true }, lines)
            })
        }
        Remedy::Push { source, .. } => service.push(&source, PUSH_BATCH, true, &|_, _| {}).map(|r| {
            let mut lines = push_lines(&r);
            lines.push("This was a dry run, rolled back.".into());
            lines.push(format!("Enter applies them ({PUSH_BATCH} per transaction); refused ones stay pending."));
            (Remedy::Push { source, planned: true }, lines)
        }),
        _ => return Event::ActFailed("this remedy needs no plan".into()),
    };
    match planned {
        Ok((remedy, lines)) => Event::RemedyPlanned(Box::new(remedy), lines),
        Err(e) => Event::ActFailed(e.to_string()),
    }
}

/// Changes per transaction when the dashboard pushes.
const PUSH_BATCH: usize = 500;

/// What a sync did or would do, in lines (counts only).
fn sync_lines(r: &crate::service::sources::SyncReport) -> Vec<String> {
    let i = &r.import;
    let mut lines = vec![
        format!(
            "{} row(s) read ({})",
            r.read,
            if r.incremental { "changed since the last sync" } else { "the whole table" }
        ),
        format!("{} new, {} updated, {} unchanged, {} rejected", i.inserted, i.updated, i.unchanged, i.rejected),
    ];
    if i.suppressed > 0 {
        lines.push(format!("{} row(s) of erased customers suppressed (never stored)", i.suppressed));
    }
    if i.merged_away > 0 {
        lines.push(format!("{} row(s) of merged-away records wait until the merge is pushed", i.merged_away));
    }
    if i.conflicts > 0 {
        lines.push(format!(
            "{} value(s) changed in the source since a pending rectification: steward's kept",
            i.conflicts
        ));
    }
    lines
}

/// What a push did or would do, in lines (counts and reasons, no values).
fn push_lines(r: &crate::service::sources::PushReport) -> Vec<String> {
    let applied: Vec<String> = r.applied.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mut lines = vec![
        format!(
            "{}: {} change(s) {}, {} refused",
            crate::model::text::fit(&r.source, 30),
            r.done,
            if r.dry_run { "would be done" } else { "done" },
            r.refused.len()
        ),
        format!("statements: {}", if applied.is_empty() { "none".to_owned() } else { applied.join(", ") }),
        format!("found applied already: {} · about fields it has no column for: {}", r.already, r.not_mapped),
    ];
    lines.extend(r.refused.iter().map(|f| format!("change {} ({}): {}", f.seq, f.op, f.why)));
    if let Some(why) = &r.stopped {
        lines.push(format!("stopped: {why}"));
    }
    lines
}

/// Plans a bulk merge at `min` (the dialog's probability).
fn plan_bulk(service: &Service, data: Option<&Arc<Data>>, clusters: Vec<(Vec<RecordId>, f64)>, min: f64) -> Event {
    const SHOWN: usize = 200;
    match service.plan_bulk_merge(&clusters, min) {
        Ok(plan) => {
            let items = plan.items();
            let mut lines = vec![format!(
                "{} cluster(s) at or above p {min:.2}: {} records become {}; one undo (u) reverts them all.",
                items.len(),
                plan.records(),
                items.len()
            )];
            lines.extend(items.iter().take(SHOWN).map(|i| {
                let merged: Vec<String> = i.merged.iter().map(|id| label(data, *id)).collect();
                format!("p {:.3}  {} ← {}", i.probability, label(data, i.survivor), merged.join(", "))
            }));
            if items.len() > SHOWN {
                lines.push(format!("… and {} more", items.len() - SHOWN));
            }
            Event::RemedyPlanned(Box::new(Remedy::BulkMerge { clusters, plan: Some(Box::new(plan)) }), lines)
        }
        Err(e) => Event::ActFailed(e.to_string()),
    }
}

/// Records that the authority (or the people) were told now, and how.
fn breach_told(
    service: &Service,
    reference: &str,
    authority: bool,
    how: String,
) -> Result<(String, Option<String>), crate::service::ServiceError> {
    let now = crate::model::now();
    let b = service.breach_step(reference, BreachStep::Notified { authority, at: now, how })?;
    let who = if authority { "the authority" } else { "the people" };
    Ok((format!("{}: {who} told; clock: {}", b.reference, b.clock(now).short()), None))
}

/// The request queue and the dashboard's overview figures.
pub fn load_requests(service: &Service) -> Vec<Event> {
    match (service.requests(), service.overview()) {
        (Ok(list), Ok(o)) => vec![Event::RequestsLoaded(Arc::new(list)), Event::OverviewLoaded(Arc::new(o))],
        (Err(e), _) | (_, Err(e)) => vec![Event::ActFailed(e.to_string())],
    }
}
