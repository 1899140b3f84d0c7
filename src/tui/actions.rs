//! The one registry of actions and keys.
//!
//! Every action has a name, a description and default keys per mode. The
//! `?` help overlay, the status-bar hints and the README key table
//! (`steward keys`) are all generated from [`ACTIONS`]; a test checks that no
//! two actions share a key in the same mode.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::service::Role;

/// Where a key binding applies. `Global` keys work in every normal-mode
/// screen; text entry (`Search`) and overlays (`Help`) take keys first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    Global,
    Records,
    Findings,
    Requests,
    Audit,
    Sources,
    Breaches,
    Search,
    /// A dialog with text fields (edit, erase, export, a reason).
    Form,
    /// The merge dialog's field table.
    Merge,
    Help,
}

impl Mode {
    pub fn title(self) -> &'static str {
        match self {
            Mode::Global => "Everywhere",
            Mode::Records => "Records",
            Mode::Findings => "Findings",
            Mode::Requests => "Requests",
            Mode::Audit => "Audit",
            Mode::Sources => "Sources",
            Mode::Breaches => "Breaches",
            Mode::Search => "While searching",
            Mode::Form => "In a dialog (edit, erase, export)",
            Mode::Merge => "Merging",
            Mode::Help => "Help",
        }
    }
}

/// Everything a key can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    Search,
    NextScreen,
    PrevScreen,
    Dashboard,
    Records,
    Findings,
    Requests,
    Audit,
    Sources,
    Breaches,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    ToggleDetail,
    SortNext,
    SortReverse,
    FilterKind,
    OpenFinding,
    CloseFinding,
    ClearSearch,
    SearchAccept,
    SearchCancel,
    SearchDelete,
    SearchClear,
    SearchDown,
    SearchUp,
    CloseHelp,
    Edit,
    Erase,
    Export,
    Select,
    SelectAll,
    UndoMerge,
    Merge,
    FormSubmit,
    FormCancel,
    FormNext,
    FormPrev,
    FormToggle,
    FormClear,
    MergeLeft,
    MergeRight,
    MergeSurvivor,
    MergeSecondary,
    MergeContinue,
    MergeCancel,
    AuditFilterAction,
    AuditFilterUser,
    AuditFilterRecord,
    AuditClear,
    AuditVerify,
    Reveal,
    Housekeeping,
    OpenRequest,
    CloseRequest,
    Link,
    LinkProposed,
    VerifyIdentity,
    CompleteRequest,
    ExtendRequest,
    RejectRequest,
    MatchRequest,
    NoteRequest,
    AcknowledgeRequest,
    NotSamePerson,
    BulkMerge,
    DropField,
    Redact,
    ClearValue,
    MarkVerified,
    ReverifyList,
    RecordConsent,
    Restrict,
    JumpToRecord,
    DeclarePurpose,
    ShowReceipt,
    SourceSync,
    SourcePush,
    BreachNote,
    BreachAuthority,
    BreachPeople,
    BreachOpen,
    BreachRisk,
    BreachClose,
    BreachList,
    BreachReport,
    Extract,
}

impl Action {
    /// The least role that may use the action; keys of actions a role
    /// cannot use are hidden from its help and status bar (the service
    /// refuses them anyway).
    pub const fn min_role(self) -> Role {
        match self {
            Action::Edit
            | Action::Merge
            | Action::UndoMerge
            | Action::Reveal
            | Action::Link
            | Action::LinkProposed
            | Action::VerifyIdentity
            | Action::CompleteRequest
            | Action::ExtendRequest
            | Action::RejectRequest
            | Action::MatchRequest
            | Action::NoteRequest
            | Action::AcknowledgeRequest
            | Action::NotSamePerson
            | Action::BulkMerge
            | Action::Redact
            | Action::ClearValue
            | Action::MarkVerified
            | Action::RecordConsent
            | Action::Restrict
            | Action::SourceSync
            | Action::SourcePush
            | Action::BreachReport => Role::Steward,
            Action::Erase
            | Action::Export
            | Action::Housekeeping
            | Action::AuditVerify
            | Action::DropField
            | Action::DeclarePurpose
            | Action::ReverifyList
            | Action::BreachNote
            | Action::BreachAuthority
            | Action::BreachPeople
            | Action::BreachOpen
            | Action::BreachRisk
            | Action::BreachClose
            | Action::BreachList
            | Action::Extract => Role::Admin,
            _ => Role::Viewer,
        }
    }
}

/// One registry entry.
pub struct ActionSpec {
    pub action: Action,
    pub mode: Mode,
    /// Keys as written in help: `j`, `down`, `ctrl-d`, `G`, `enter`, ...
    pub keys: &'static [&'static str],
    pub desc: &'static str,
    /// Shown in the status bar (short label), if at all.
    pub hint: Option<&'static str>,
}

macro_rules! spec {
    ($a:ident, $m:ident, [$($k:literal),+], $d:literal) => {
        ActionSpec { action: Action::$a, mode: Mode::$m, keys: &[$($k),+], desc: $d, hint: None }
    };
    ($a:ident, $m:ident, [$($k:literal),+], $d:literal, $h:literal) => {
        ActionSpec { action: Action::$a, mode: Mode::$m, keys: &[$($k),+], desc: $d, hint: Some($h) }
    };
}

/// The registry.
pub const ACTIONS: &[ActionSpec] = &[
    spec!(Search, Global, ["/"], "Fuzzy-search records by name, email, phone or id", "search"),
    spec!(Help, Global, ["?"], "Show this help", "help"),
    spec!(Quit, Global, ["q", "ctrl-c"], "Quit steward", "quit"),
    spec!(NextScreen, Global, ["tab"], "Next screen"),
    spec!(PrevScreen, Global, ["backtab"], "Previous screen"),
    spec!(Dashboard, Global, ["1"], "Dashboard"),
    spec!(Records, Global, ["2"], "Records"),
    spec!(Findings, Global, ["3"], "Findings"),
    spec!(Requests, Global, ["4"], "Requests"),
    spec!(Audit, Global, ["5"], "Audit trail"),
    spec!(Sources, Global, ["6"], "Sources: the systems the data comes from, and what they must be told"),
    spec!(Breaches, Global, ["7"], "Breaches: the register, the 72-hour clock to the authority, who must be told"),
    spec!(Housekeeping, Global, ["H"], "Housekeeping: erase every record past retention (the expired findings)"),
    spec!(Down, Records, ["j", "down"], "Next record", "move"),
    spec!(Up, Records, ["k", "up"], "Previous record"),
    spec!(PageDown, Records, ["pagedown", "ctrl-d"], "Page down"),
    spec!(PageUp, Records, ["pageup", "ctrl-u"], "Page up"),
    spec!(Top, Records, ["g", "home"], "First record"),
    spec!(Bottom, Records, ["G", "end"], "Last record"),
    spec!(ToggleDetail, Records, ["enter", "l"], "Open or close the record's details", "details"),
    spec!(Edit, Records, ["e"], "Edit (rectify) the record: validated as you type, diff before saving", "edit"),
    spec!(Erase, Records, ["x"], "Erase the record, or the selected records", "erase"),
    spec!(Reveal, Records, ["r"], "Reveal the record's personal data, with a reason (audited)", "reveal"),
    spec!(Select, Records, ["space"], "Select or unselect the record (for erase and export)", "select"),
    spec!(ClearSearch, Records, ["esc"], "Clear the search, filter and selection / close details", "clear"),
    spec!(SortNext, Records, ["s"], "Sort by the next column", "sort"),
    spec!(SortReverse, Records, ["S"], "Reverse the sort order"),
    spec!(FilterKind, Records, ["f"], "Show only records with findings of the next kind", "filter"),
    spec!(SelectAll, Records, ["A"], "Select every record in view (search and filter applied); again to clear"),
    spec!(Export, Records, ["E"], "Encrypt-export the record, or the selected records, with age", "export"),
    spec!(UndoMerge, Records, ["u"], "Undo the last change (merge, edit, redaction, dropped field)"),
    spec!(
        Extract,
        Records,
        ["X"],
        "Extract for a purpose, age-encrypted: of the records in view (or selected), those its consent or legal basis allows, with its fields only",
        "extract"
    ),
    spec!(Down, Findings, ["j", "down"], "Next finding", "move"),
    spec!(Up, Findings, ["k", "up"], "Previous finding"),
    spec!(PageDown, Findings, ["pagedown", "ctrl-d"], "Page down"),
    spec!(PageUp, Findings, ["pageup", "ctrl-u"], "Page up"),
    spec!(Top, Findings, ["g", "home"], "First finding"),
    spec!(Bottom, Findings, ["G", "end"], "Last finding"),
    spec!(
        OpenFinding,
        Findings,
        ["enter", "l"],
        "Open the finding (records side by side); on a kind's header, show or hide its findings",
        "open"
    ),
    spec!(Merge, Findings, ["m"], "Duplicate: merge the cluster — choose values, preview, confirm", "merge"),
    spec!(
        BulkMerge,
        Findings,
        ["M"],
        "Duplicate: merge every cluster above a probability, previewed; one undo reverts the batch",
        "merge all"
    ),
    spec!(
        NotSamePerson,
        Findings,
        ["n"],
        "Duplicate: not the same person — keep the records apart from now on (with a reason)",
        "not same"
    ),
    spec!(
        DropField,
        Findings,
        ["D"],
        "Over-collected: drop the field from every record flagged for it (undo until the key rotation)",
        "drop field"
    ),
    spec!(
        DeclarePurpose,
        Findings,
        ["y"],
        "Over-collected: the field is needed after all — declare why in the policy (purpose, legal basis, retention)",
        "declare"
    ),
    spec!(
        Redact,
        Findings,
        ["R"],
        "Personal data in free text: redact it in place (card → scheme and last 4, IBAN → country and last 4)",
        "redact"
    ),
    spec!(ClearValue, Findings, ["c"], "Invalid: clear the invalid value (e edits it instead)", "clear"),
    spec!(Edit, Findings, ["e"], "Edit (rectify) the finding's record", "edit"),
    spec!(
        MarkVerified,
        Findings,
        ["v"],
        "Stale: mark verified — the customer confirmed (reply, call, order)",
        "verified"
    ),
    spec!(
        ReverifyList,
        Findings,
        ["L"],
        "Stale: write a re-verification list (contact details, age-encrypted) for a confirm-your-details mailing",
        "reverify list"
    ),
    spec!(
        RecordConsent,
        Findings,
        ["C"],
        "Consent: record consent given or withdrawn, with date and source",
        "consent"
    ),
    spec!(Restrict, Findings, ["P"], "Consent: restrict processing (kept, used for no purpose)", "restrict"),
    spec!(Erase, Findings, ["x"], "Erase the records of the finding (or of the marked findings)", "erase"),
    spec!(Select, Findings, ["space"], "Mark the finding (marks stay within one kind) for a remedy in bulk", "mark"),
    spec!(SelectAll, Findings, ["A"], "Mark every finding of the kind under the cursor; again to clear"),
    spec!(JumpToRecord, Findings, ["J"], "Jump to the finding's record on the Records screen", "record"),
    spec!(FilterKind, Findings, ["f"], "Show only the next kind of finding (again: the next; then all)", "filter"),
    spec!(CloseFinding, Findings, ["esc", "h"], "Back to the list / clear the marks / fold the kind", "back"),
    spec!(
        UndoMerge,
        Findings,
        ["u"],
        "Undo the last change (merge, bulk merge, edit, redaction, dropped field)",
        "undo"
    ),
    spec!(Down, Requests, ["j", "down"], "Next request", "move"),
    spec!(Up, Requests, ["k", "up"], "Previous request"),
    spec!(PageDown, Requests, ["pagedown", "ctrl-d"], "Page down"),
    spec!(PageUp, Requests, ["pageup", "ctrl-u"], "Page up"),
    spec!(Top, Requests, ["g", "home"], "First request (the most urgent)"),
    spec!(Bottom, Requests, ["G", "end"], "Last request"),
    spec!(
        OpenRequest,
        Requests,
        ["enter", "l"],
        "Open the request: details, history and the records that match",
        "open"
    ),
    spec!(CloseRequest, Requests, ["esc", "h"], "Back to the queue", "back"),
    spec!(
        Link,
        Requests,
        ["space"],
        "Confirm the matching record under the cursor as the requester's, or withdraw it",
        "link"
    ),
    spec!(LinkProposed, Requests, ["L"], "Link every proposed match (score 0.5 or more)"),
    spec!(MatchRequest, Requests, ["m"], "Match the requester to the records again (after changes)"),
    spec!(VerifyIdentity, Requests, ["v"], "Record how the requester's identity was verified", "verify"),
    spec!(
        Erase,
        Requests,
        ["x"],
        "Erasure request: erase every linked record, attach the receipt, complete it",
        "erase"
    ),
    spec!(
        Export,
        Requests,
        ["E"],
        "Access/portability request: export the linked records with age, complete it",
        "export"
    ),
    spec!(Edit, Requests, ["e"], "Rectification request: edit the matching record under the cursor"),
    spec!(CompleteRequest, Requests, ["c"], "Complete the request, saying what answered it"),
    spec!(
        ExtendRequest,
        Requests,
        ["X"],
        "Extend the deadline (GDPR two months, CCPA 45 days), with the reason told today"
    ),
    spec!(RejectRequest, Requests, ["R"], "Reject the request, with the reason"),
    spec!(NoteRequest, Requests, ["n"], "Add a note to the request's file (a call, a letter sent)"),
    spec!(
        AcknowledgeRequest,
        Requests,
        ["a"],
        "Record that receipt was acknowledged to the requester (CCPA: 10 business days)"
    ),
    spec!(Down, Audit, ["j", "down"], "Next entry", "move"),
    spec!(Up, Audit, ["k", "up"], "Previous entry"),
    spec!(PageDown, Audit, ["pagedown", "ctrl-d"], "Page down"),
    spec!(PageUp, Audit, ["pageup", "ctrl-u"], "Page up"),
    spec!(Top, Audit, ["g", "home"], "First entry"),
    spec!(Bottom, Audit, ["G", "end"], "Last entry"),
    spec!(AuditFilterAction, Audit, ["a"], "Only entries of the next action", "action"),
    spec!(AuditFilterUser, Audit, ["w"], "Only entries by the next user (who)", "user"),
    spec!(AuditFilterRecord, Audit, ["r"], "Only entries about the record selected on the Records screen", "record"),
    spec!(AuditClear, Audit, ["esc"], "Clear the filters", "clear"),
    spec!(Down, Sources, ["j", "down"], "Next source", "move"),
    spec!(Up, Sources, ["k", "up"], "Previous source"),
    spec!(Top, Sources, ["g", "home"], "First source"),
    spec!(Bottom, Sources, ["G", "end"], "Last source"),
    spec!(
        SourceSync,
        Sources,
        ["S"],
        "Sync the database source: new and changed rows, previewed (a dry run) first",
        "sync"
    ),
    spec!(
        SourcePush,
        Sources,
        ["P"],
        "Push the changes waiting for the database source, previewed (a dry run, rolled back) first",
        "push"
    ),
    spec!(Down, Breaches, ["j", "down"], "Next breach", "move"),
    spec!(Up, Breaches, ["k", "up"], "Previous breach"),
    spec!(Top, Breaches, ["g", "home"], "First breach (the newest)"),
    spec!(Bottom, Breaches, ["G", "end"], "Last breach"),
    spec!(
        BreachOpen,
        Breaches,
        ["o"],
        "Open a breach: when it was discovered, what happened; over the records in view on the Records screen (or all), a source narrows it",
        "open"
    ),
    spec!(BreachNote, Breaches, ["n"], "Add a step to the breach's timeline (what was done or learned)", "note"),
    spec!(
        BreachAuthority,
        Breaches,
        ["a"],
        "Record that the supervisory authority was told now (how: portal reference, email); stops the clock",
        "authority told"
    ),
    spec!(
        BreachPeople,
        Breaches,
        ["p"],
        "Record that the affected people were told now (how: the mailing)",
        "people told"
    ),
    spec!(
        BreachRisk,
        Breaches,
        ["r"],
        "Assess the risk to the people (Ctrl-t: unlikely, risk, high), and why: high means they must be told",
        "risk"
    ),
    spec!(
        BreachList,
        Breaches,
        ["L"],
        "Write the notification list, age-encrypted: who to tell, how to reach them, which of their data",
        "list"
    ),
    spec!(
        BreachReport,
        Breaches,
        ["W"],
        "Write the report for the supervisory authority to a file (Markdown, no personal data)",
        "report"
    ),
    spec!(
        BreachClose,
        Breaches,
        ["c"],
        "Close the breach (once assessed, the authority told if due, the people told if the risk is high)",
        "close"
    ),
    spec!(ShowReceipt, Audit, ["enter"], "Show the erasure receipt of the entry (to attach to the reply)", "receipt"),
    spec!(AuditVerify, Audit, ["V"], "Verify the whole chain now (the check is recorded in the trail)", "verify"),
    spec!(FormSubmit, Form, ["enter"], "Next field; on the last, preview or confirm", "next/confirm"),
    spec!(FormCancel, Form, ["esc"], "Back, or close the dialog without changing anything", "cancel"),
    spec!(FormNext, Form, ["tab", "down"], "Next field"),
    spec!(FormPrev, Form, ["backtab", "up"], "Previous field"),
    spec!(
        FormToggle,
        Form,
        ["ctrl-t"],
        "Erase: switch between delete and anonymize; identity check: verified or failed; breach risk: the next level"
    ),
    spec!(FormClear, Form, ["ctrl-u"], "Clear the field"),
    spec!(Down, Merge, ["j", "down"], "Next field", "move"),
    spec!(Up, Merge, ["k", "up"], "Previous field"),
    spec!(MergeLeft, Merge, ["h", "left"], "Keep the value of the record to the left", "choose"),
    spec!(MergeRight, Merge, ["l", "right"], "Keep the value of the record to the right"),
    spec!(MergeSurvivor, Merge, ["s"], "Choose which record's id survives", "survivor"),
    spec!(MergeSecondary, Merge, ["c"], "Keep or drop losing emails and phones as secondary contacts"),
    spec!(MergeContinue, Merge, ["enter"], "Continue: give a reason and confirm", "continue"),
    spec!(MergeCancel, Merge, ["esc"], "Cancel the merge", "cancel"),
    spec!(SearchAccept, Search, ["enter"], "Keep the results and browse them", "browse"),
    spec!(SearchCancel, Search, ["esc"], "Clear the search", "cancel"),
    spec!(SearchDelete, Search, ["backspace"], "Delete a character"),
    spec!(SearchClear, Search, ["ctrl-u"], "Clear the query"),
    spec!(SearchDown, Search, ["down", "ctrl-n"], "Next result"),
    spec!(SearchUp, Search, ["up", "ctrl-p"], "Previous result"),
    spec!(CloseHelp, Help, ["esc", "?", "q"], "Close help", "close"),
];

/// Parses a key as written in the registry into (code, modifiers).
pub fn parse_key(s: &str) -> Option<(KeyCode, KeyModifiers)> {
    let (mods, rest) = match s.strip_prefix("ctrl-") {
        Some(r) => (KeyModifiers::CONTROL, r),
        None => (KeyModifiers::NONE, s),
    };
    let code = match rest {
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "backspace" => KeyCode::Backspace,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "space" => KeyCode::Char(' '),
        s if s.chars().count() == 1 => KeyCode::Char(s.chars().next()?),
        _ => return None,
    };
    Some((code, mods))
}

/// True when `ev` is the key written as `spec`. Shift is ignored for
/// characters (it is already in the char: `G`), and for back-tab.
fn matches(ev: &KeyEvent, spec: &str) -> bool {
    let Some((code, mods)) = parse_key(spec) else { return false };
    let ev_mods = ev.modifiers - KeyModifiers::SHIFT;
    let ev_code = match ev.code {
        KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
        c => c,
    };
    ev_code == code && ev_mods == mods
}

/// The action bound to `ev` in `mode`, if any.
pub fn lookup(mode: Mode, ev: &KeyEvent) -> Option<Action> {
    ACTIONS.iter().filter(|a| a.mode == mode).find(|a| a.keys.iter().any(|k| matches(ev, k))).map(|a| a.action)
}

/// Display form of a key: `↓`, `⏎`, `Ctrl-d`, ...
pub fn key_label(k: &str) -> String {
    match k {
        "down" => "↓".into(),
        "up" => "↑".into(),
        "enter" => "Enter".into(),
        "esc" => "Esc".into(),
        "tab" => "Tab".into(),
        "backtab" => "Shift-Tab".into(),
        "backspace" => "Backspace".into(),
        "pagedown" => "PgDn".into(),
        "pageup" => "PgUp".into(),
        "home" => "Home".into(),
        "end" => "End".into(),
        "space" => "Space".into(),
        k => match k.strip_prefix("ctrl-") {
            Some(r) => format!("Ctrl-{r}"),
            None => k.to_owned(),
        },
    }
}

/// The README key table, as Markdown.
pub fn markdown_table() -> String {
    let mut out = String::from("| mode | keys | action | role |\n|---|---|---|---|\n");
    for a in ACTIONS {
        let keys: Vec<String> = a.keys.iter().map(|k| format!("`{}`", key_label(k))).collect();
        let role = match a.action.min_role() {
            Role::Viewer => "all",
            Role::Steward => "steward, admin",
            Role::Admin => "admin",
        };
        out.push_str(&format!("| {} | {} | {} | {} |\n", a.mode.title(), keys.join(" "), a.desc, role));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn no_two_actions_share_a_key_in_a_mode() {
        let mut seen = HashSet::new();
        for a in ACTIONS {
            for k in a.keys {
                let parsed = parse_key(k).unwrap_or_else(|| panic!("unparsable key {k}"));
                assert!(seen.insert((a.mode, parsed)), "{k} bound twice in {:?}", a.mode);
            }
        }
    }

    #[test]
    fn screen_keys_do_not_shadow_globals() {
        let globals: HashSet<_> = ACTIONS
            .iter()
            .filter(|a| a.mode == Mode::Global)
            .flat_map(|a| a.keys.iter().filter_map(|k| parse_key(k)))
            .collect();
        for a in ACTIONS.iter().filter(|a| {
            matches!(
                a.mode,
                Mode::Records | Mode::Findings | Mode::Requests | Mode::Audit | Mode::Sources | Mode::Breaches
            )
        }) {
            for k in a.keys {
                assert!(!globals.contains(&parse_key(k).unwrap_or((KeyCode::Null, KeyModifiers::NONE))), "{k}");
            }
        }
    }

    #[test]
    fn lookup_handles_shift_and_ctrl() {
        let g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(Mode::Records, &g), Some(Action::Bottom));
        let d = KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL);
        assert_eq!(lookup(Mode::Records, &d), Some(Action::PageDown));
        let j = KeyEvent::new(KeyCode::Char('j'), KeyModifiers::NONE);
        assert_eq!(lookup(Mode::Records, &j), Some(Action::Down));
        assert_eq!(lookup(Mode::Global, &j), None);
    }
}
