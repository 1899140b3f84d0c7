//! Encrypt-export (access and portability requests) and encrypted backups.
//!
//! An export is everything held about the people in question as one JSON
//! document (schema `steward-export/1`, documented in the README), streamed
//! straight into an age encryptor. Recipients are parsed before any record
//! is read, so a bad one costs nothing and leaves no file. The ciphertext
//! goes to a temporary file beside the target, is fsynced, then renamed: the
//! target appears whole or not at all, and plaintext never touches the disk.
//!
//! A backup is the whole store — the key-slot file and every sled value,
//! still sealed — in one age-encrypted stream; a restore writes it into an
//! empty directory. The store's own passphrases open the restored store.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Serialize;

use super::actions::FieldName;
use super::{Service, ServiceError};
use crate::crypto::{Role, slots};
use crate::model::{Record, RecordId};
use crate::store::{Store, StoreError};

/// Schema name of export documents.
pub const EXPORT_SCHEMA: &str = "steward-export/1";

/// The scrypt work factor (log2 N) used for passphrase exports unless told
/// otherwise: 2^18, about 1 s and 256 MiB to open, which the reference age
/// tool accepts.
pub const DEFAULT_WORK_FACTOR: u8 = 18;

/// Whom an export or backup is encrypted to.
pub enum Target {
    /// Public keys: `age1...`, `ssh-ed25519 ...`, `ssh-rsa ...`.
    Recipients(Vec<String>),
    /// A passphrase, with the scrypt work factor (log2 N).
    Passphrase(SecretString, u8),
}

pub(crate) type Recipients = Vec<Box<dyn age::Recipient + Send>>;

impl Target {
    /// Parses every recipient; the first bad one is refused by position
    /// (the key itself is not personal data, but it is not echoed either).
    pub(crate) fn recipients(&self) -> Result<Recipients, ServiceError> {
        match self {
            Target::Recipients(list) => {
                if list.is_empty() {
                    return Err(ServiceError::Invalid("no recipient given".into()));
                }
                list.iter()
                    .enumerate()
                    .map(|(i, r)| {
                        slots::parse_recipient(r).map_err(|e| {
                            ServiceError::Invalid(format!(
                                "recipient {} is not a public key steward can use ({}); paste the requester's \
                                 `age1…` key (from age-keygen) or `ssh-ed25519 …` line whole",
                                i + 1,
                                recipient_problem(&e)
                            ))
                        })
                    })
                    .collect()
            }
            Target::Passphrase(p, log_n) => {
                if !(10..=22).contains(log_n) {
                    return Err(ServiceError::Invalid("work factor must lie between 10 and 22".into()));
                }
                if secrecy::ExposeSecret::expose_secret(p).is_empty() {
                    return Err(ServiceError::Invalid("the passphrase is empty".into()));
                }
                let mut r = age::scrypt::Recipient::new(p.clone());
                r.set_work_factor(*log_n);
                Ok(vec![Box::new(r)])
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Target::Recipients(l) => format!("{} recipient(s)", l.len()),
            Target::Passphrase(_, n) => format!("passphrase, scrypt work factor {n}"),
        }
    }
}

fn recipient_problem(e: &slots::SlotError) -> String {
    match e {
        slots::SlotError::Recipient(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Reads a recipients file: one public key per line, `#` comments.
pub fn read_recipients_file(path: &Path) -> Result<Vec<String>, ServiceError> {
    let text = fs::read_to_string(path)
        .map_err(|e| ServiceError::Invalid(format!("could not read {}: {e}", path.display())))?;
    Ok(text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect())
}

/// Writes `body`'s output encrypted to `recipients` at `out`, atomically:
/// temp file in the same directory, fsync, rename, fsync the directory.
pub(crate) fn write_encrypted(
    out: &Path,
    recipients: Recipients,
    armor: bool,
    body: impl FnOnce(&mut dyn Write) -> Result<(), ServiceError>,
) -> Result<u64, ServiceError> {
    write_encrypted_then(out, recipients, armor, body, || Ok(()))
}

/// `~/…` as the home directory (a path typed in the dashboard is not
/// expanded by a shell).
pub(crate) fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), dirs::home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_owned(),
    }
}

/// [`write_encrypted`], calling `publish` once the encrypted file is
/// complete and synced, before it appears under its name: a failure before
/// that leaves no file and `publish` is not called.
pub(crate) fn write_encrypted_then(
    out: &Path,
    recipients: Recipients,
    armor: bool,
    body: impl FnOnce(&mut dyn Write) -> Result<(), ServiceError>,
    publish: impl FnOnce() -> Result<(), ServiceError>,
) -> Result<u64, ServiceError> {
    let io = |what: &str| {
        let what = what.to_owned();
        move |e: std::io::Error| ServiceError::Invalid(format!("{what}: {e}"))
    };
    if out.exists() {
        return Err(ServiceError::Invalid(format!("{} exists; choose another name or remove it first", out.display())));
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".steward-export-")
        .tempfile_in(&dir)
        .map_err(io(&format!("could not write in {}", dir.display())))?;
    let enc = age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
        .map_err(|e| ServiceError::Invalid(format!("could not encrypt: {e}")))?;
    let file = BufWriter::new(tmp.as_file().try_clone().map_err(io("could not write the export"))?);
    let format = if armor { age::armor::Format::AsciiArmor } else { age::armor::Format::Binary };
    let armored = age::armor::ArmoredWriter::wrap_output(file, format).map_err(io("could not write the export"))?;
    let mut w = enc.wrap_output(armored).map_err(io("could not write the export"))?;
    body(&mut w)?;
    let armored = w.finish().map_err(io("could not write the export"))?;
    let mut file = armored.finish().map_err(io("could not write the export"))?;
    file.flush().map_err(io("could not write the export"))?;
    drop(file);
    tmp.as_file().sync_all().map_err(io("could not write the export"))?;
    let size = tmp.as_file().metadata().map(|m| m.len()).unwrap_or(0);
    publish()?;
    tmp.persist_noclobber(out)
        .map_err(|e| ServiceError::Invalid(format!("could not create {}: {}", out.display(), e.error)))?;
    fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(io("could not sync the directory"))?;
    Ok(size)
}

/// A CSV row writer: one call per row (every cell made safe for a spreadsheet).
pub(crate) type EmitRow<'a> = dyn FnMut(&[String]) -> Result<(), ServiceError> + 'a;

/// [`write_encrypted_then`] for a CSV people open in a spreadsheet (a
/// mailing list, an extract): `header`, then the rows `rows` emits, each cell
/// through [`crate::model::text::csv_cell`].
pub(crate) fn write_encrypted_csv(
    out: &Path,
    recipients: Recipients,
    armor: bool,
    header: &[&str],
    rows: impl FnOnce(&mut EmitRow) -> Result<(), ServiceError>,
    publish: impl FnOnce() -> Result<(), ServiceError>,
) -> Result<u64, ServiceError> {
    write_encrypted_then(
        out,
        recipients,
        armor,
        |w| {
            let bad = |e: csv::Error| ServiceError::Invalid(format!("could not write: {e}"));
            let mut csv = csv::Writer::from_writer(w);
            csv.write_record(header).map_err(bad)?;
            rows(&mut |row: &[String]| {
                csv.write_record(row.iter().map(|v| crate::model::text::csv_cell(v).into_owned())).map_err(bad)
            })?;
            csv.flush().map_err(|e| ServiceError::Invalid(format!("could not write: {e}")))
        },
        publish,
    )
}

/// The export document (see the README for the schema).
#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    generated_at: chrono::DateTime<chrono::Utc>,
    generator: String,
    subjects: Vec<Subject<'a>>,
}

#[derive(Serialize)]
struct Subject<'a> {
    id: RecordId,
    source: &'a str,
    source_id: &'a str,
    collected_at: chrono::DateTime<chrono::Utc>,
    fields: BTreeMap<String, String>,
    extra_fields: BTreeMap<String, String>,
    timestamps: TimesJson,
    purposes: Vec<PurposeJson>,
    undeclared_fields: Vec<String>,
    consents: Vec<ConsentJson>,
    merged_from: Vec<MergedJson>,
    requests: Vec<RequestJson>,
    actions: Vec<ActionJson>,
}

/// A request the subject made about this record (no contact details).
#[derive(Serialize)]
struct RequestJson {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(rename = "type")]
    kind: &'static str,
    jurisdiction: String,
    received: chrono::NaiveDate,
    status: &'static str,
}

/// Timestamps in RFC 3339 (the store keeps seconds).
#[derive(Serialize)]
struct TimesJson {
    created: chrono::DateTime<chrono::Utc>,
    updated: chrono::DateTime<chrono::Utc>,
    last_verified: Option<chrono::DateTime<chrono::Utc>>,
    last_activity: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Serialize)]
struct PurposeJson {
    purpose: String,
    description: String,
    legal_basis: Option<crate::policy::LegalBasis>,
    retention_days: Option<u32>,
    fields: Vec<String>,
}

#[derive(Serialize)]
struct ConsentJson {
    purpose: String,
    field: String,
    value: Option<String>,
}

#[derive(Serialize)]
struct MergedJson {
    id: RecordId,
    source: String,
    source_id: String,
    merge: String,
}

#[derive(Serialize)]
struct ActionJson {
    time: chrono::DateTime<chrono::Utc>,
    action: String,
    outcome: &'static str,
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportReport {
    pub file: PathBuf,
    pub subjects: usize,
    pub bytes: u64,
    pub armored: bool,
    pub audit_entry: u64,
}

/// What a re-verification list wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ReverifyReport {
    pub file: PathBuf,
    pub listed: usize,
    pub restricted: usize,
    pub unreachable: usize,
    pub bytes: u64,
    pub audit_entry: u64,
}

impl Service {
    /// Exports everything held about `ids` to `out`, encrypted to `target`.
    pub fn export(
        &self,
        ids: &[RecordId],
        target: &Target,
        armor: bool,
        out: &Path,
    ) -> Result<ExportReport, ServiceError> {
        self.export_for(ids, target, armor, out, None)
    }

    /// [`Service::export`], answering request `request` (kept in the audit entry).
    pub(crate) fn export_for(
        &self,
        ids: &[RecordId],
        target: &Target,
        armor: bool,
        out: &Path,
        request: Option<&str>,
    ) -> Result<ExportReport, ServiceError> {
        let mut draft = self.draft("export", ids);
        draft.request = request.map(|r| crate::model::text::fit(r, 40));
        self.require(Role::Admin, "export", ids)?;
        // Refuse bad recipients before reading anything.
        let recipients = target.recipients().map_err(|e| self.refuse(draft.clone(), e.to_string()))?;
        if ids.is_empty() {
            return Err(self.refuse(draft, "nothing to export".into()));
        }
        let records = ids.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        let (policy, _) = self.policy()?;
        let redirects = self.store_redirects()?;
        let audit = self.store_audit()?;
        let requests = self.stored_requests()?;
        let subjects = records.iter().map(|r| subject(r, &policy, &redirects, &audit, &requests)).collect::<Vec<_>>();
        let doc = Document {
            schema: EXPORT_SCHEMA,
            generated_at: crate::model::now(),
            generator: format!("steward {}", env!("CARGO_PKG_VERSION")),
            subjects,
        };
        // Audited once, with its outcome: "ok" when the encrypted file is
        // complete, just before it appears under its name (so no export is
        // ever unaudited); "failed" when it could not be written (without
        // the path, which may name the person), and then no file is left.
        draft.detail = Some(format!(
            "{} subject(s), {}, {}",
            records.len(),
            target.describe(),
            if armor { "armored" } else { "binary" }
        ));
        let out = &expand_home(out);
        let mut entry = None;
        let written = write_encrypted_then(
            out,
            recipients,
            armor,
            |w| {
                serde_json::to_writer_pretty(&mut *w, &doc)
                    .map_err(|e| ServiceError::Invalid(format!("could not write: {e}")))
            },
            || {
                entry = Some(self.store_audit_only(draft.clone())?);
                Ok(())
            },
        );
        let bytes = match (written, &entry) {
            (Ok(bytes), Some(_)) => bytes,
            (Err(e), done) => {
                let mut d = draft.clone();
                d.outcome = Some(crate::store::audit::Outcome::Failed);
                d.detail = Some(match done {
                    Some(ok) => format!("the export of entry {} could not be put in place; no file was left", ok.seq),
                    None => "the export could not be written; no file was left".into(),
                });
                let _ = self.store_audit_only(d);
                return Err(e);
            }
            (Ok(_), None) => return Err(ServiceError::Invalid("the export was not audited".into())),
        };
        let entry = entry.ok_or_else(|| ServiceError::Invalid("the export was not audited".into()))?;
        Ok(ExportReport {
            file: out.to_owned(),
            subjects: records.len(),
            bytes,
            armored: armor,
            audit_entry: entry.seq,
        })
    }

    /// Writes the contact details of `ids` (stale customers, for a "please
    /// confirm your details" campaign) as CSV, encrypted to `target`.
    /// Restricted records (processing restricted) and records with neither
    /// email nor phone are left out and counted. Audited once, with the
    /// outcome, like an export.
    pub fn reverify_list(
        &self,
        ids: &[RecordId],
        target: &Target,
        armor: bool,
        out: &Path,
    ) -> Result<ReverifyReport, ServiceError> {
        let mut draft = self.draft("reverify-list", ids);
        self.require(Role::Admin, "export a re-verification list", ids)?;
        let recipients = target.recipients().map_err(|e| self.refuse(draft.clone(), e.to_string()))?;
        let records = ids.iter().map(|id| self.real(*id)).collect::<Result<Vec<_>, _>>()?;
        let restricted = records.iter().filter(|r| r.care.restricted.is_some()).count();
        let unreachable =
            records.iter().filter(|r| r.care.restricted.is_none() && r.email.is_none() && r.phone.is_none()).count();
        let listed: Vec<&Record> = records
            .iter()
            .filter(|r| r.care.restricted.is_none() && (r.email.is_some() || r.phone.is_some()))
            .collect();
        if listed.is_empty() {
            return Err(
                self.refuse(draft, "nobody to list: no record given can be reached (or all are restricted)".into())
            );
        }
        draft.detail = Some(format!(
            "{} customer(s) listed, {restricted} restricted and {unreachable} unreachable left out, {}",
            listed.len(),
            target.describe()
        ));
        let out = &expand_home(out);
        let mut entry = None;
        let header = [
            "id",
            "given_name",
            "family_name",
            "email",
            "phone",
            "address_1",
            "locality",
            "postcode",
            "country",
            "last_verified",
        ];
        let written = write_encrypted_csv(
            out,
            recipients,
            armor,
            &header,
            |emit| {
                for r in &listed {
                    let a = &r.address;
                    let verified = r.times.last_verified.unwrap_or(r.times.updated).date_naive().to_string();
                    let v = |o: &Option<String>| o.clone().unwrap_or_default();
                    let row = [
                        r.id.to_string(),
                        v(&r.given_name),
                        v(&r.family_name),
                        v(&r.email),
                        v(&r.phone),
                        v(&a.line1),
                        v(&a.locality),
                        v(&a.postcode),
                        v(&a.country),
                        verified,
                    ];
                    emit(&row)?;
                }
                Ok(())
            },
            || {
                // Who was asked, and when: unanswered past the grace period,
                // their records are due for housekeeping.
                let now = crate::model::now();
                let asked: Vec<Record> = listed
                    .iter()
                    .map(|r| {
                        let mut n = (*r).clone();
                        n.care.reverify_asked = Some(now);
                        n
                    })
                    .collect();
                let change = crate::store::Change { put: asked, ..Default::default() };
                entry = Some(self.commit(change, draft.clone())?);
                Ok(())
            },
        );
        let bytes = match (written, &entry) {
            (Ok(bytes), Some(_)) => bytes,
            (Err(e), _) => return Err(self.failed_write(&draft, "the re-verification list", e)),
            (Ok(_), None) => return Err(ServiceError::Invalid("the list was not audited".into())),
        };
        let entry = entry.ok_or_else(|| ServiceError::Invalid("the list was not audited".into()))?;
        Ok(ReverifyReport {
            file: out.to_owned(),
            listed: listed.len(),
            restricted,
            unreachable,
            bytes,
            audit_entry: entry.seq,
        })
    }

    /// Writes the whole store, still sealed, encrypted to `target`.
    pub fn backup(&self, target: &Target, armor: bool, out: &Path) -> Result<ExportReport, ServiceError> {
        let mut draft = self.draft("backup", &[]);
        self.require(Role::Admin, "back up the store", &[])?;
        let recipients = target.recipients().map_err(|e| self.refuse(draft.clone(), e.to_string()))?;
        // The audit entry goes in first, so the backup holds it.
        draft.detail = Some(format!("{}, {}", target.describe(), if armor { "armored" } else { "binary" }));
        let out = &expand_home(out);
        let entry = self.store_audit_only(draft)?;
        let bytes = write_encrypted(out, recipients, armor, |w| self.store.dump(w).map_err(ServiceError::Store))?;
        Ok(ExportReport { file: out.to_owned(), subjects: self.count(), bytes, armored: armor, audit_entry: entry.seq })
    }

    fn store_redirects(&self) -> Result<Vec<crate::store::Redirect>, ServiceError> {
        Ok(self.store.redirects()?)
    }

    fn store_audit(&self) -> Result<Vec<crate::store::audit::Entry>, ServiceError> {
        Ok(self.store.audit_entries()?)
    }

    /// Audits that a file could not be written (`what`: which file) and
    /// returns the error: nothing was left on disk.
    pub(crate) fn failed_write(&self, draft: &crate::store::audit::Draft, what: &str, e: ServiceError) -> ServiceError {
        let mut d = draft.clone();
        d.outcome = Some(crate::store::audit::Outcome::Failed);
        d.detail = Some(format!("{what} could not be written; no file was left"));
        let _ = self.store_audit_only(d);
        e
    }

    pub(crate) fn store_audit_only(
        &self,
        d: crate::store::audit::Draft,
    ) -> Result<crate::store::audit::Entry, ServiceError> {
        Ok(self.store.audit(d)?)
    }
}

fn subject<'a>(
    r: &'a Record,
    policy: &crate::policy::Policy,
    redirects: &[crate::store::Redirect],
    audit: &[crate::store::audit::Entry],
    requests: &[crate::model::request::Request],
) -> Subject<'a> {
    let present: Vec<FieldName> =
        super::actions::fields_of(std::slice::from_ref(r)).into_iter().filter(|f| f.get(r).is_some()).collect();
    let mut fields = BTreeMap::new();
    let mut extra_fields = BTreeMap::new();
    for f in &present {
        let v = f.get(r).unwrap_or_default();
        match f {
            FieldName::Core(_) => fields.insert(f.to_string(), v),
            FieldName::Extra(_) => extra_fields.insert(f.to_string(), v),
        };
    }
    let mut by_purpose: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut undeclared = Vec::new();
    for f in &present {
        let mut any = false;
        for (p, _) in policy.purposes_of(f.name()) {
            by_purpose.entry(p.to_owned()).or_default().push(f.to_string());
            any = true;
        }
        if !any {
            undeclared.push(f.to_string());
        }
    }
    let purposes = by_purpose
        .into_iter()
        .filter_map(|(name, fields)| {
            let p = policy.purposes.get(&name)?;
            Some(PurposeJson {
                purpose: name,
                description: p.description.clone(),
                legal_basis: p.legal_basis,
                retention_days: p.retention_days,
                fields,
            })
        })
        .collect();
    let consents = policy
        .purposes
        .iter()
        .filter_map(|(name, p)| {
            let field = p.consent_field.clone()?;
            let value = FieldName::parse(&field).get(r);
            Some(ConsentJson { purpose: name.clone(), field, value })
        })
        .collect();
    let merged_from: Vec<MergedJson> = redirects
        .iter()
        .filter(|d| d.into == r.id)
        .map(|d| MergedJson {
            id: d.from,
            source: d.source.clone(),
            source_id: d.source_id.clone(),
            merge: d.merge.clone(),
        })
        .collect();
    let mut about: Vec<String> = vec![r.id.to_string()];
    about.extend(merged_from.iter().map(|m| m.id.to_string()));
    let actions = audit
        .iter()
        .filter(|e| e.records.iter().any(|x| about.contains(x)))
        .map(|e| ActionJson { time: e.time, action: e.action.clone(), outcome: e.outcome.name() })
        .collect();
    let requests = requests
        .iter()
        .filter(|q| q.records.iter().any(|id| about.contains(&id.to_string())))
        .map(|q| RequestJson {
            reference: q.reference.clone(),
            kind: q.kind.name(),
            jurisdiction: q.jurisdiction.clone(),
            received: q.received,
            status: q.status.name(),
        })
        .collect();
    Subject {
        id: r.id,
        source: &r.provenance.source,
        source_id: &r.source_id,
        collected_at: r.provenance.collected_at,
        fields,
        extra_fields,
        timestamps: TimesJson {
            created: r.times.created,
            updated: r.times.updated,
            last_verified: r.times.last_verified,
            last_activity: r.times.last_activity,
        },
        purposes,
        undeclared_fields: undeclared,
        consents,
        merged_from,
        requests,
        actions,
    }
}

/// Restores a backup into `dir` (which must not exist or be empty).
/// `identity` is an age identity file / SSH key, or use `passphrase`.
pub fn restore(file: &Path, to: &crate::store::Location, secret: RestoreSecret) -> Result<u64, ServiceError> {
    let f =
        fs::File::open(file).map_err(|e| ServiceError::Invalid(format!("could not open {}: {e}", file.display())))?;
    let reader = age::armor::ArmoredReader::new(BufReader::new(f));
    let dec = age::Decryptor::new(reader).map_err(|e| ServiceError::Invalid(format!("not an age file: {e}")))?;
    let bad = |e: age::DecryptError| ServiceError::Invalid(format!("could not decrypt the backup: {e}"));
    let plain: Box<dyn Read> = match secret {
        RestoreSecret::Identity(bytes) => {
            let ids = slots::parse_identities(&bytes).map_err(|e| ServiceError::Invalid(e.to_string()))?;
            Box::new(dec.decrypt(ids.iter().map(|i| i.as_ref() as &dyn age::Identity)).map_err(bad)?)
        }
        RestoreSecret::Passphrase(p) => {
            let id = age::scrypt::Identity::new(p);
            Box::new(dec.decrypt(std::iter::once(&id as &dyn age::Identity)).map_err(bad)?)
        }
    };
    Store::restore(to, &mut BufReader::new(plain)).map_err(|e| match e {
        StoreError::Corrupt(m) => ServiceError::Invalid(format!("the backup is damaged or truncated: {m}")),
        other => ServiceError::Store(other),
    })
}

/// How a backup is opened.
pub enum RestoreSecret {
    Identity(zeroize::Zeroizing<Vec<u8>>),
    Passphrase(SecretString),
}
