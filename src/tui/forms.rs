//! The keyboard workflows that change data: edit form, merge, erase and
//! export dialogs. Pure state and key handling; the rules (validation, merge
//! defaults, what an erasure removes) come from `service::actions`, and the
//! work runs on a worker thread (see `tui::mod`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::actions::{self, Action, Mode};
use crate::model::{Record, RecordId};
use crate::service::actions::{
    Diff, ErasePlan, FieldEdit, FieldName, MergePlan, Problem, Strategy, apply_edits, fields_of,
};

/// A one-line text input, bounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextInput {
    pub value: String,
}

impl TextInput {
    /// Longest input, in characters.
    pub const MAX: usize = 512;

    pub fn new(s: &str) -> TextInput {
        TextInput { value: s.chars().take(Self::MAX).collect() }
    }

    /// Applies a typing key; true when it was one.
    pub fn key(&mut self, k: &KeyEvent) -> bool {
        match k.code {
            KeyCode::Backspace => {
                self.value.pop();
                true
            }
            KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                self.value.clear();
                true
            }
            KeyCode::Char(c) if !k.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) => {
                if !c.is_control() && self.value.chars().count() < Self::MAX {
                    self.value.push(c);
                }
                true
            }
            _ => false,
        }
    }

    pub fn trimmed(&self) -> &str {
        self.value.trim()
    }
}

/// What a form wants after a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Stay,
    Cancel,
    Submit,
}

/// Edit form: one line per field, then the reason; a diff preview before saving.
#[derive(Clone, Debug)]
pub struct EditForm {
    pub original: Record,
    pub fields: Vec<(FieldName, TextInput)>,
    /// Per field: the masked text shown instead of a value holding a card
    /// number (as every other view masks it). Typing into such a field
    /// replaces the whole value, unseen; leaving it as shown changes nothing.
    pub masked: Vec<Option<String>>,
    /// Line with the cursor; `fields.len()` is the reason line.
    pub cursor: usize,
    pub reason: TextInput,
    /// Showing the diff, waiting for the final Enter.
    pub preview: bool,
    /// The rectification request the edit answers, if any.
    pub for_request: Option<String>,
}

impl EditForm {
    pub fn new(r: &Record) -> EditForm {
        let (fields, masked) = fields_of(std::slice::from_ref(r))
            .into_iter()
            .map(|f| {
                let v = f.get(r).unwrap_or_default();
                let shown = crate::findings::pii::mask_cards(&v);
                let masked = (shown != v).then(|| shown.into_owned());
                let input = TextInput::new(masked.as_deref().unwrap_or(&v));
                ((f, input), masked)
            })
            .unzip();
        EditForm {
            original: r.clone(),
            fields,
            masked,
            cursor: 0,
            reason: TextInput::default(),
            preview: false,
            for_request: None,
        }
    }

    /// The edits typed so far (fields whose text differs from the record;
    /// a masked field left as shown is unchanged).
    pub fn edits(&self) -> Vec<FieldEdit> {
        self.fields
            .iter()
            .zip(&self.masked)
            .filter(|((f, t), masked)| {
                masked.as_deref() != Some(t.value.as_str()) && f.get(&self.original).unwrap_or_default() != t.value
            })
            .map(|((f, t), _)| FieldEdit {
                field: f.clone(),
                value: Some(t.value.clone()).filter(|v| !v.trim().is_empty()),
            })
            .collect()
    }

    /// The diff with card numbers masked on both sides, for showing.
    pub fn shown_diff(&self) -> (Vec<Diff>, Vec<Problem>) {
        let (mut diffs, problems) = self.check();
        for d in &mut diffs {
            for v in [&mut d.before, &mut d.after].into_iter().flatten() {
                *v = crate::findings::pii::mask_cards(v).into_owned();
            }
        }
        (diffs, problems)
    }

    /// The result of the edits: the diff and the problems (validated as you type).
    pub fn check(&self) -> (Vec<Diff>, Vec<Problem>) {
        let (_, diffs, problems) = apply_edits(&self.original, &self.edits());
        (diffs, problems)
    }

    pub fn key(&mut self, k: &KeyEvent) -> Outcome {
        let n = self.fields.len() + 1;
        match actions::lookup(Mode::Form, k) {
            Some(Action::FormCancel) => {
                if self.preview {
                    self.preview = false;
                    return Outcome::Stay;
                }
                return Outcome::Cancel;
            }
            Some(Action::FormSubmit) => {
                let (diffs, problems) = self.check();
                if self.preview {
                    return if problems.is_empty() && !diffs.is_empty() && !self.reason.trimmed().is_empty() {
                        Outcome::Submit
                    } else {
                        Outcome::Stay
                    };
                }
                if self.cursor + 1 < n {
                    self.cursor += 1;
                } else if problems.is_empty() && !diffs.is_empty() && !self.reason.trimmed().is_empty() {
                    self.preview = true;
                }
                return Outcome::Stay;
            }
            Some(Action::FormNext) => {
                self.cursor = (self.cursor + 1) % n;
                return Outcome::Stay;
            }
            Some(Action::FormPrev) => {
                self.cursor = (self.cursor + n - 1) % n;
                return Outcome::Stay;
            }
            _ => {}
        }
        if self.preview {
            return Outcome::Stay;
        }
        let masked = self.masked.get(self.cursor).cloned().flatten();
        let input = match self.fields.get_mut(self.cursor) {
            Some((_, t)) => t,
            None => &mut self.reason,
        };
        // The first key on a masked value starts a new one: the number is
        // never shown, nor edited piecemeal.
        if masked.is_some_and(|m| m == input.value) {
            *input = TextInput::default();
        }
        input.key(k);
        Outcome::Stay
    }
}

/// Merge dialog: the records side by side, the value kept per field.
#[derive(Clone, Debug)]
pub struct MergeForm {
    pub plan: MergePlan,
    pub cursor: usize,
    pub reason: TextInput,
    /// The reason line has the focus (after Enter on the table).
    pub confirming: bool,
}

impl MergeForm {
    pub fn new(plan: MergePlan) -> MergeForm {
        MergeForm { plan, cursor: 0, reason: TextInput::default(), confirming: false }
    }

    pub fn key(&mut self, k: &KeyEvent) -> Outcome {
        if self.confirming {
            return match actions::lookup(Mode::Form, k) {
                Some(Action::FormCancel) => {
                    self.confirming = false;
                    Outcome::Stay
                }
                Some(Action::FormSubmit) if !self.reason.trimmed().is_empty() => Outcome::Submit,
                Some(_) => Outcome::Stay,
                None => {
                    self.reason.key(k);
                    Outcome::Stay
                }
            };
        }
        let n = self.plan.choice.len();
        match actions::lookup(Mode::Merge, k) {
            Some(Action::MergeCancel) => return Outcome::Cancel,
            Some(Action::MergeContinue) => self.confirming = true,
            Some(Action::Down) => self.cursor = (self.cursor + 1).min(n.saturating_sub(1)),
            Some(Action::Up) => self.cursor = self.cursor.saturating_sub(1),
            Some(Action::MergeLeft) => self.plan.cycle(self.cursor, false),
            Some(Action::MergeRight) => self.plan.cycle(self.cursor, true),
            Some(Action::MergeSurvivor) => self.plan.survivor = (self.plan.survivor + 1) % self.plan.records.len(),
            Some(Action::MergeSecondary) => self.plan.keep_secondary = !self.plan.keep_secondary,
            _ => {}
        }
        Outcome::Stay
    }
}

/// Erase dialog: what goes (planned by the service), strategy, reason,
/// request reference, and the word `erase` typed to confirm.
#[derive(Clone, Debug)]
pub struct EraseForm {
    pub ids: Vec<RecordId>,
    /// Who is being erased, for the admin's eyes (names and source ids).
    pub labels: Vec<String>,
    pub strategy: Strategy,
    /// The service's plan for `ids` and `strategy` (None: being computed).
    pub plan: Option<ErasePlan>,
    pub reason: TextInput,
    pub request: TextInput,
    pub confirm: TextInput,
    /// 0 reason, 1 request, 2 confirmation.
    pub focus: usize,
    /// Fulfilling this request: its linked records, the reference fixed,
    /// the request completed with the receipt.
    pub for_request: Option<String>,
}

impl EraseForm {
    pub fn new(ids: Vec<RecordId>, labels: Vec<String>) -> EraseForm {
        EraseForm {
            ids,
            labels,
            strategy: Strategy::Delete,
            plan: None,
            reason: TextInput::default(),
            request: TextInput::default(),
            confirm: TextInput::default(),
            focus: 0,
            for_request: None,
        }
    }

    /// The erasure that answers request `reference` (its records come with the plan).
    pub fn for_request(reference: &str) -> EraseForm {
        let mut f = EraseForm::new(Vec::new(), Vec::new());
        f.request = TextInput::new(reference);
        f.reason = TextInput::new(&format!("erasure request {reference}"));
        f.for_request = Some(reference.to_owned());
        f.focus = 2;
        f
    }

    pub fn ready(&self) -> bool {
        self.plan.as_ref().is_some_and(|p| p.strategy == self.strategy)
            && !self.reason.trimmed().is_empty()
            && self.confirm.trimmed() == "erase"
    }

    /// Returns `Submit` to erase; a changed strategy needs a new plan (the
    /// caller sees `plan` reset to `None`).
    pub fn key(&mut self, k: &KeyEvent) -> Outcome {
        match actions::lookup(Mode::Form, k) {
            Some(Action::FormCancel) => return Outcome::Cancel,
            Some(Action::FormSubmit) => {
                if self.ready() {
                    return Outcome::Submit;
                }
                self.focus = (self.focus + 1).min(2);
                return Outcome::Stay;
            }
            Some(Action::FormNext) => {
                self.focus = (self.focus + 1) % 3;
                return Outcome::Stay;
            }
            Some(Action::FormPrev) => {
                self.focus = (self.focus + 2) % 3;
                return Outcome::Stay;
            }
            Some(Action::FormToggle) => {
                self.strategy = match self.strategy {
                    Strategy::Delete => Strategy::Anonymize,
                    Strategy::Anonymize => Strategy::Delete,
                };
                self.plan = None;
                return Outcome::Stay;
            }
            _ => {}
        }
        match self.focus {
            0 => self.reason.key(k),
            // A request's erasure keeps its reference.
            1 if self.for_request.is_some() => false,
            1 => self.request.key(k),
            _ => self.confirm.key(k),
        };
        Outcome::Stay
    }
}

/// Export dialog: recipient and file name.
#[derive(Clone, Debug)]
pub struct ExportForm {
    pub ids: Vec<RecordId>,
    pub recipient: TextInput,
    pub file: TextInput,
    /// 0 recipient, 1 file.
    pub focus: usize,
    /// Answering this access or portability request (its linked records).
    pub for_request: Option<String>,
    /// An extract for a purpose (its name typed here): only the records
    /// and fields the purpose may use (see `service::extract`).
    pub purpose: Option<TextInput>,
    /// The notification list of this breach instead of an export.
    pub breach: Option<String>,
}

impl ExportForm {
    pub fn new(ids: Vec<RecordId>) -> ExportForm {
        let stamp = crate::model::now().format("%Y%m%d-%H%M%S");
        let file = TextInput::new(&format!("steward-export-{stamp}.age"));
        ExportForm {
            ids,
            recipient: TextInput::default(),
            file,
            focus: 0,
            for_request: None,
            purpose: None,
            breach: None,
        }
    }

    /// The notification list of breach `reference`.
    pub fn breach_list(reference: &str) -> ExportForm {
        let dir = std::env::current_dir().unwrap_or_default();
        let mut f = ExportForm::new(Vec::new());
        f.file = TextInput::new(&dir.join(format!("{reference}-notify.age")).to_string_lossy());
        f.breach = Some(reference.to_owned());
        f
    }

    /// An extract for a purpose of `ids` (the records in view).
    pub fn extract(ids: Vec<RecordId>) -> ExportForm {
        let stamp = crate::model::now().format("%Y%m%d-%H%M%S");
        let mut f = ExportForm::new(ids);
        f.file = TextInput::new(&format!("steward-extract-{stamp}.age"));
        f.purpose = Some(TextInput::new("marketing"));
        f
    }

    /// The inputs in order: (purpose,) recipient, file.
    fn fields(&self) -> usize {
        if self.purpose.is_some() { 3 } else { 2 }
    }

    /// Which input has the focus: 0 purpose, 1 recipient, 2 file (an
    /// export has no purpose: its focus 0 is the recipient).
    pub fn focused(&self) -> usize {
        if self.purpose.is_some() { self.focus } else { self.focus + 1 }
    }

    /// The export that answers request `reference`.
    pub fn for_request(reference: &str, linked: Vec<RecordId>) -> ExportForm {
        let safe: String =
            reference.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        let mut f = ExportForm::new(linked);
        // A full path: where the file goes is never a guess.
        let dir = std::env::current_dir().unwrap_or_default();
        f.file = TextInput::new(&dir.join(format!("{safe}-answer.age")).to_string_lossy());
        f.for_request = Some(reference.to_owned());
        f
    }

    pub fn key(&mut self, k: &KeyEvent) -> Outcome {
        match actions::lookup(Mode::Form, k) {
            Some(Action::FormCancel) => return Outcome::Cancel,
            Some(Action::FormSubmit) => {
                if self.focus + 1 < self.fields() {
                    self.focus += 1;
                    return Outcome::Stay;
                }
                let no_purpose = self.purpose.as_ref().is_some_and(|p| p.trimmed().is_empty());
                return if self.recipient.trimmed().is_empty() || self.file.trimmed().is_empty() || no_purpose {
                    Outcome::Stay
                } else {
                    Outcome::Submit
                };
            }
            Some(Action::FormNext) => {
                self.focus = (self.focus + 1) % self.fields();
                return Outcome::Stay;
            }
            Some(Action::FormPrev) => {
                self.focus = (self.focus + self.fields() - 1) % self.fields();
                return Outcome::Stay;
            }
            _ => {}
        }
        match self.focused() {
            0 => {
                if let Some(p) = self.purpose.as_mut() {
                    p.key(k);
                }
            }
            1 => {
                self.recipient.key(k);
            }
            _ => {
                self.file.key(k);
            }
        }
        Outcome::Stay
    }
}

/// Reveal dialog: why the personal data is needed.
#[derive(Clone, Debug)]
pub struct RevealForm {
    pub id: RecordId,
    pub reason: TextInput,
}

impl RevealForm {
    pub fn key(&mut self, k: &KeyEvent) -> Outcome {
        match actions::lookup(Mode::Form, k) {
            Some(Action::FormCancel) => Outcome::Cancel,
            Some(Action::FormSubmit) if !self.reason.trimmed().is_empty() => Outcome::Submit,
            Some(Action::FormSubmit | Action::FormNext | Action::FormPrev | Action::FormToggle) => Outcome::Stay,
            _ => {
                self.reason.key(k);
                Outcome::Stay
            }
        }
    }
}

/// What a one-line note answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotePurpose {
    /// How the requester's identity was checked.
    Verify(String),
    /// What answered the request.
    Complete(String),
    /// Why the deadline is extended (the requester is told today).
    Extend(String),
    /// Why the request is rejected.
    Reject(String),
    /// A note for the request's file.
    Note(String),
    /// Why these records are different people ("not the same person").
    Distinct(Vec<crate::model::RecordId>),
    /// A step for a breach's timeline.
    BreachNote(String),
    /// How the authority was told (now).
    BreachAuthority(String),
    /// How the people were told (now).
    BreachPeople(String),
    /// The risk assessment of a breach (Ctrl-t: the next level), and why.
    BreachRisk(String, crate::model::breach::Risk),
    /// Why a breach is closed.
    BreachClose(String),
    /// Where to write a breach's report for the authority (a file name).
    BreachReport(String),
}

/// A one-line note for a request: how the identity was verified, or what
/// answered it.
#[derive(Clone, Debug)]
pub struct NoteForm {
    pub purpose: NotePurpose,
    pub text: TextInput,
    /// The identity check failed (Ctrl-t toggles; verification only).
    pub failed: bool,
}

impl NoteForm {
    pub fn key(&mut self, k: &KeyEvent) -> Outcome {
        match actions::lookup(Mode::Form, k) {
            Some(Action::FormCancel) => Outcome::Cancel,
            Some(Action::FormSubmit) if !self.text.trimmed().is_empty() => Outcome::Submit,
            Some(Action::FormToggle) => {
                use crate::model::breach::Risk;
                match &mut self.purpose {
                    NotePurpose::Verify(_) => self.failed = !self.failed,
                    NotePurpose::BreachRisk(_, level) => {
                        *level = match level {
                            Risk::Unlikely => Risk::Risk,
                            Risk::Risk => Risk::High,
                            Risk::High | Risk::Unassessed => Risk::Unlikely,
                        }
                    }
                    _ => {}
                }
                Outcome::Stay
            }
            Some(Action::FormSubmit | Action::FormNext | Action::FormPrev) => Outcome::Stay,
            _ => {
                self.text.key(k);
                Outcome::Stay
            }
        }
    }
}

/// A remedy for findings, as the dialog holds it: what it acts on, and
/// its plan once the service has worked it out.
#[derive(Clone, Debug)]
pub enum Remedy {
    /// Merge every duplicate cluster at or above a probability.
    BulkMerge { clusters: Vec<(Vec<RecordId>, f64)>, plan: Option<Box<crate::service::remedies::BulkPlan>> },
    /// Drop `field` from `ids` (the records flagged for it).
    DropField { field: String, ids: Vec<RecordId>, plan: Option<crate::service::remedies::DropPlan> },
    /// Redact the personal data found in the free text of `ids`.
    Redact { ids: Vec<RecordId>, plan: Option<Vec<crate::service::remedies::Redaction>> },
    /// Clear the invalid value of `field`.
    ClearValue { id: RecordId, field: String },
    /// The customers confirmed their details.
    Verified { ids: Vec<RecordId> },
    /// Write the re-verification list of `ids`.
    Reverify { ids: Vec<RecordId> },
    /// Record consent given (or, toggled, withdrawn).
    Consent { id: RecordId },
    /// Restrict processing.
    Restrict { ids: Vec<RecordId> },
    /// Declare the over-collected `field` in the policy, under a purpose.
    Declare { field: String },
    /// Sync a database source (`planned`: the dry run is shown).
    Sync { source: String, planned: bool },
    /// Push a database source's pending changes (`planned`: the dry run is shown).
    Push { source: String, planned: bool },
}

impl Remedy {
    /// The records it acts on (before planning).
    pub fn ids(&self) -> Vec<RecordId> {
        match self {
            Remedy::BulkMerge { clusters, .. } => clusters.iter().flat_map(|(ids, _)| ids.iter().copied()).collect(),
            Remedy::DropField { ids, .. }
            | Remedy::Redact { ids, .. }
            | Remedy::Verified { ids }
            | Remedy::Reverify { ids }
            | Remedy::Restrict { ids } => ids.clone(),
            Remedy::ClearValue { id, .. } | Remedy::Consent { id } => vec![*id],
            Remedy::Declare { .. } | Remedy::Sync { .. } | Remedy::Push { .. } => Vec::new(),
        }
    }

    /// True when the dialog waits for the service's plan before it can apply.
    pub fn needs_plan(&self) -> bool {
        matches!(
            self,
            Remedy::BulkMerge { plan: None, .. }
                | Remedy::DropField { plan: None, .. }
                | Remedy::Redact { plan: None, .. }
                | Remedy::Sync { planned: false, .. }
                | Remedy::Push { planned: false, .. }
        )
    }
}

/// A remedy's dialog: the preview of exactly what will change, the inputs
/// it needs (a reason, how, a recipient...), then Enter applies it.
#[derive(Clone, Debug)]
pub struct RemedyForm {
    pub remedy: Remedy,
    pub title: String,
    /// What will change: one line each (masked values only).
    pub preview: Vec<String>,
    /// How many findings of which kind the remedy removes, as promised.
    pub promise: Option<(crate::findings::Kind, usize)>,
    pub inputs: Vec<(&'static str, TextInput)>,
    pub focus: usize,
    /// Consent: given (false: withdrawn), switched with Ctrl-t.
    pub given: bool,
    /// Preview lines scrolled past (PgDn/PgUp), after its first line.
    pub scroll: usize,
}

/// What a remedy dialog wants after a key, besides the common outcomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemedyOutcome {
    Stay,
    Cancel,
    /// Work the plan out again (the bulk merge's probability changed).
    Replan,
    Submit,
}

impl RemedyForm {
    pub fn new(remedy: Remedy, title: String, inputs: Vec<(&'static str, TextInput)>) -> RemedyForm {
        RemedyForm { remedy, title, preview: Vec::new(), promise: None, inputs, focus: 0, given: true, scroll: 0 }
    }

    /// The value typed in the input labelled `label`.
    pub fn input(&self, label: &str) -> &str {
        self.inputs.iter().find(|(l, _)| *l == label).map_or("", |(_, t)| t.trimmed())
    }

    pub fn key(&mut self, k: &KeyEvent) -> RemedyOutcome {
        let n = self.inputs.len();
        // A long preview (every cluster of a bulk merge) scrolls.
        match k.code {
            KeyCode::PageDown => {
                self.scroll = (self.scroll + 10).min(self.preview.len().saturating_sub(2));
                return RemedyOutcome::Stay;
            }
            KeyCode::PageUp => {
                self.scroll = self.scroll.saturating_sub(10);
                return RemedyOutcome::Stay;
            }
            _ => {}
        }
        match actions::lookup(Mode::Form, k) {
            Some(Action::FormCancel) => return RemedyOutcome::Cancel,
            Some(Action::FormToggle) => {
                if matches!(self.remedy, Remedy::Consent { .. }) {
                    self.given = !self.given;
                }
                return RemedyOutcome::Stay;
            }
            Some(Action::FormNext) => {
                self.focus = (self.focus + 1) % n.max(1);
                return RemedyOutcome::Stay;
            }
            Some(Action::FormPrev) => {
                self.focus = (self.focus + n.max(1) - 1) % n.max(1);
                return RemedyOutcome::Stay;
            }
            Some(Action::FormSubmit) => {
                // The bulk merge's probability is applied by working the
                // plan out again: what is confirmed is what was shown.
                if let Remedy::BulkMerge { .. } = self.remedy
                    && self.focus == 0
                {
                    self.focus = 1.min(n.saturating_sub(1));
                    return RemedyOutcome::Replan;
                }
                if self.focus + 1 < n {
                    self.focus += 1;
                    return RemedyOutcome::Stay;
                }
                let optional = |l: &str| matches!(l, "Reason" | "Legal basis" | "Retention days");
                let filled = self.inputs.iter().all(|(l, t)| optional(l) || !t.trimmed().is_empty());
                let reason_needed = !matches!(
                    self.remedy,
                    Remedy::Verified { .. }
                        | Remedy::Consent { .. }
                        | Remedy::Reverify { .. }
                        | Remedy::Sync { .. }
                        | Remedy::Push { .. }
                );
                let reason_ok = !reason_needed || !self.input("Reason").is_empty();
                return if filled && reason_ok && !self.remedy.needs_plan() && !self.preview.is_empty() {
                    RemedyOutcome::Submit
                } else {
                    RemedyOutcome::Stay
                };
            }
            _ => {}
        }
        if let Some((_, t)) = self.inputs.get_mut(self.focus) {
            t.key(k);
        }
        RemedyOutcome::Stay
    }
}

/// A stored erasure receipt, shown (it holds no personal data).
#[derive(Clone, Debug)]
pub struct ReceiptView {
    pub id: String,
    pub lines: Vec<String>,
    pub scroll: u16,
}

impl ReceiptView {
    pub fn key(&mut self, k: &KeyEvent) -> Outcome {
        match k.code {
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Outcome::Cancel,
            KeyCode::Down | KeyCode::Char('j') => {
                self.scroll = self.scroll.saturating_add(1).min(self.lines.len() as u16);
                Outcome::Stay
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.scroll = self.scroll.saturating_sub(1);
                Outcome::Stay
            }
            _ => Outcome::Stay,
        }
    }
}

/// The open dialog.
#[derive(Clone, Debug)]
pub enum Form {
    Remedy(Box<RemedyForm>),
    Receipt(Box<ReceiptView>),
    Note(Box<NoteForm>),
    Edit(Box<EditForm>),
    Merge(Box<MergeForm>),
    Erase(Box<EraseForm>),
    Export(Box<ExportForm>),
    Reveal(Box<RevealForm>),
    Breach(Box<BreachForm>),
}

/// Opening a breach: when it was discovered, what happened, and a source
/// that narrows the scope (the records in view, or all).
#[derive(Clone, Debug)]
pub struct BreachForm {
    pub discovered: TextInput,
    pub what: TextInput,
    pub source: TextInput,
    /// The records in view on the Records screen (a search, a filter or a
    /// selection); empty: every record.
    pub ids: Vec<RecordId>,
    /// 0 discovered, 1 what, 2 source.
    pub focus: usize,
}

impl BreachForm {
    pub fn new(ids: Vec<RecordId>) -> BreachForm {
        BreachForm {
            discovered: TextInput::new("now"),
            what: TextInput::default(),
            source: TextInput::default(),
            ids,
            focus: 0,
        }
    }

    pub fn key(&mut self, k: &KeyEvent) -> Outcome {
        match actions::lookup(Mode::Form, k) {
            Some(Action::FormCancel) => return Outcome::Cancel,
            Some(Action::FormSubmit) => {
                if self.focus < 2 {
                    self.focus += 1;
                    return Outcome::Stay;
                }
                return if self.what.trimmed().is_empty() || self.discovered.trimmed().is_empty() {
                    Outcome::Stay
                } else {
                    Outcome::Submit
                };
            }
            Some(Action::FormNext) => {
                self.focus = (self.focus + 1) % 3;
                return Outcome::Stay;
            }
            Some(Action::FormPrev) => {
                self.focus = (self.focus + 2) % 3;
                return Outcome::Stay;
            }
            _ => {}
        }
        match self.focus {
            0 => {
                self.discovered.key(k);
            }
            1 => {
                self.what.key(k);
            }
            _ => {
                self.source.key(k);
            }
        }
        Outcome::Stay
    }
}

impl Form {
    /// The key mode the dialog is in (for help and the status bar).
    pub fn mode(&self) -> Mode {
        match self {
            Form::Merge(m) if !m.confirming => Mode::Merge,
            _ => Mode::Form,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn typed(form: &mut EditForm, s: &str) {
        for c in s.chars() {
            form.key(&key(KeyCode::Char(c)));
        }
    }

    /// Issue 14 (safety): the edit dialog showed `card 4111111111111111` in
    /// full although every other view masks it. It shows the masked form;
    /// left alone nothing changes; typing replaces the whole value unseen,
    /// and the preview masks both sides.
    #[test]
    fn the_edit_dialog_masks_card_numbers() {
        let mut r = Record::new("crm", "1", chrono::Utc::now());
        r.extra.insert("card".into(), "4111111111111111".into());
        r.extra.insert("notes".into(), "paid with 4111 1111 1111 1111 last week".into());
        let mut form = EditForm::new(&r);
        for (f, t) in &form.fields {
            assert!(!t.value.contains("4111111111111111") && !t.value.contains("4111 1111 1111 1111"), "{}", f.name());
        }
        assert!(form.edits().is_empty(), "shown masked, unchanged");
        let card = form.fields.iter().position(|(f, _)| f.name() == "card").expect("the card field");
        form.cursor = card;
        typed(&mut form, "4000056655665556");
        let edits = form.edits();
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].value.as_deref(), Some("4000056655665556"), "typed over the masked value, whole");
        let (diffs, _) = form.shown_diff();
        let shown = format!("{diffs:?}");
        assert!(!shown.contains("4111111111111111") && !shown.contains("4000056655665556"), "{shown}");
    }

    #[test]
    fn edit_form_validates_as_you_type_and_previews_before_saving() {
        let mut r = Record::new("crm", "1", chrono::Utc::now());
        r.email = Some("ann@example.com".into());
        let mut form = EditForm::new(&r);
        form.cursor = form.fields.iter().position(|(f, _)| f.name() == "email").unwrap_or(0);
        form.key(&KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
        typed(&mut form, "ann@");
        assert_eq!(form.check().1.len(), 1, "an incomplete email is a problem");
        typed(&mut form, "example.org");
        assert!(form.check().1.is_empty());
        // Enter walks to the reason line; without a reason no preview.
        form.cursor = form.fields.len();
        assert_eq!(form.key(&key(KeyCode::Enter)), Outcome::Stay);
        assert!(!form.preview);
        typed(&mut form, "customer called");
        assert_eq!(form.key(&key(KeyCode::Enter)), Outcome::Stay);
        assert!(form.preview, "Enter shows the diff first");
        assert_eq!(form.key(&key(KeyCode::Enter)), Outcome::Submit);
        let diffs = form.check().0;
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].after.as_deref(), Some("ann@example.org"));
    }

    #[test]
    fn erase_needs_a_reason_and_the_word() {
        let mut form = EraseForm::new(vec![RecordId::new()], vec![]);
        form.plan = Some(ErasePlan {
            strategy: Strategy::Delete,
            records: form.ids.clone(),
            redirects: vec![],
            snapshots: vec![],
            categories: vec![],
            kept: vec![],
            request_entries: 0,
            requests: vec![],
        });
        assert_eq!(form.key(&key(KeyCode::Enter)), Outcome::Stay);
        form.focus = 0;
        for c in "asked".chars() {
            form.key(&key(KeyCode::Char(c)));
        }
        form.focus = 2;
        for c in "eras".chars() {
            form.key(&key(KeyCode::Char(c)));
        }
        assert_eq!(form.key(&key(KeyCode::Enter)), Outcome::Stay);
        form.key(&key(KeyCode::Char('e')));
        assert_eq!(form.key(&key(KeyCode::Enter)), Outcome::Submit);
    }
}
