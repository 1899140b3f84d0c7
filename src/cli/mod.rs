//! The command line: argument parsing, passphrase prompts, output formats
//! and exit codes (0 success, 1 failure with one line on stderr, 2 usage).
//! Every command is a thin client of the service layer.

mod accountability;
mod actions;
pub mod harden;
mod output;
mod remedies;
mod sources;
mod supervise;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::import::{self, Format};
use crate::service::actions::{Located, Strategy};
use crate::service::{
    self, Credentials, Door, KdfCost, Location, NewSecret, OnInvalid, Service, ServiceError, StoreError,
};
use crate::tui::theme::{ColorDepth, Theme};

const AFTER_HELP: &str = "\
Environment:
  STEWARD_STORE        store directory or postgres:// URL (like --store)
  STEWARD_PASSPHRASE   passphrase, for scripts (otherwise prompted without echo;
                       --passphrase-file FILE keeps it out of the environment)
  STEWARD_IDENTITY     age identity or SSH key file (like --identity)
  STEWARD_THEME        theme name or path (like --theme)
  STEWARD_IDLE_LOCK    minutes before the dashboard locks itself (like --idle-lock)
  NO_COLOR             no colours (selection stays visible)

Exit codes: 0 success, 1 failure (one line on stderr), 2 usage error.";

/// steward — look after customer data: browse, search and clean up an
/// encrypted store of customer records from the terminal.
#[derive(Parser, Debug)]
#[command(name = "steward", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The store: a directory (embedded, one process at a time) or a
    /// PostgreSQL database shared by many, `postgres://USER@HOST/DB` or
    /// `postgresql:///DB?host=/run/postgresql` (the password from
    /// PGPASSWORD or ~/.pgpass, never the URL) [default:
    /// $XDG_DATA_HOME/steward/store]
    #[arg(long, global = true, env = "STEWARD_STORE", value_name = "DIR|URL")]
    pub store: Option<String>,
    /// Steward user to act as [default: the OS user of this process]
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Unlock with an age identity file or unencrypted SSH private key
    #[arg(long, global = true, env = "STEWARD_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Read the passphrase from the first line of FILE (for scripts: unlike
    /// STEWARD_PASSPHRASE it does not sit in the environment of a long-lived
    /// dashboard; keep the file 0600)
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Lock the dashboard after this many idle minutes, dropping decrypted data (0: never)
    #[arg(long, global = true, env = "STEWARD_IDLE_LOCK", value_name = "MINUTES", default_value_t = 15)]
    pub idle_lock: u64,
    /// Browse the latest snapshot published by whoever holds a directory store (changes are
    /// refused; a PostgreSQL store needs none: every session sees it live)
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Colour theme: default, light, high-contrast, colorblind, or a TOML file
    #[arg(long, global = true, env = "STEWARD_THEME", value_name = "NAME|PATH")]
    pub theme: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the dashboard (the default command)
    Tui,
    /// Build a throwaway store from the bundled demo data and open the dashboard on it
    Demo {
        /// Build the demo store in DIR and keep it (passphrase `demo`) instead of a temporary one
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// Build the store but do not open the dashboard
        #[arg(long)]
        no_tui: bool,
    },
    /// Create a new store with its first admin
    Init {
        /// Name of the first admin [default: the OS user]
        #[arg(long, value_name = "NAME")]
        admin: Option<String>,
        /// Unlock with a key file instead of a passphrase: an `age1...` or `ssh-ed25519 ...` public key
        #[arg(long, value_name = "PUBKEY")]
        recipient: Option<String>,
        /// Passphrase hashing cost; `low` is only for throwaway and test stores
        #[arg(long, value_enum, default_value_t = Cost::Default)]
        kdf_cost: Cost,
    },
    /// Import customers from a CSV or JSON Lines export (all-or-nothing by default)
    #[command(after_help = "Headers are matched by synonyms (first_name/given_name/forename, surname/last_name, \
e-mail, phone/telephone/mobile, zip/postcode, dob/date_of_birth, ...); unknown columns are kept as extra \
fields. Re-importing the same source ids updates those records instead of duplicating them.")]
    Import {
        /// The file to import
        file: PathBuf,
        /// Input format [default: from the file extension; .jsonl/.ndjson/.json are JSON Lines]
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Column holding the source system's id [default: detected: id, customer_id, ...]
        #[arg(long, value_name = "COL")]
        id_column: Option<String>,
        /// Name of the source system, kept as provenance; re-imports match on (source, id)
        #[arg(long, value_name = "NAME", default_value = service::demo::DEFAULT_SOURCE)]
        source: String,
        /// Check and report, write nothing
        #[arg(long)]
        dry_run: bool,
        /// Import the valid rows and write the line number and reason of each rejected row to FILE
        #[arg(long, value_name = "FILE")]
        skip_invalid: Option<PathBuf>,
    },
    /// The systems the data comes from: connect a PostgreSQL table, list sources, forget one
    Source {
        #[command(subcommand)]
        action: sources::SourceAction,
    },
    /// Pull new and changed rows of a database source (all or nothing; erased customers stay out)
    #[command(after_help = "Rows are validated like an import's. Rows of erased customers (the suppression list) \
are counted and skipped; a rectification steward has not pushed yet wins over the row's old value; rows of \
records merged away wait until the merge is pushed. With an --updated-column, only rows changed since the last \
sync are read (the cursor stays 60 s behind the database's clock; a transaction open longer than that can be \
missed: --full reads every row).")]
    Sync {
        name: String,
        /// Take the valid rows and report the invalid ones (default: refuse the sync)
        #[arg(long)]
        skip_invalid: bool,
        /// Read every row, not only those changed since the last sync
        #[arg(long)]
        full: bool,
        /// Read and report, write nothing
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Apply the pending change feed to a database source's table (a transaction per batch)
    #[command(after_help = "Erasures DELETE the row (or set its mapped columns to NULL with --on-erase \
anonymise); rectifications, redactions and dropped fields UPDATE the column; merged-away rows are deleted (or \
repointed). A row changed in the source since steward last saw it is refused and its change stays pending; a \
database error rolls the batch back and keeps it pending. --dry-run runs the statements and rolls back, and \
prints only counts.")]
    Push {
        name: String,
        /// Changes per transaction
        #[arg(long, value_name = "N", default_value_t = 500)]
        batch: usize,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// The change feed: what a source system must apply (erasures, merges, rectifications, redactions, dropped fields)
    #[command(after_help = "Without --output, says how many changes are pending. `--output -` prints them \
(JSON Lines, or --csv); --recipient PUBKEY --output FILE encrypts them with age for the team that runs the \
source. Once the source applied them, `--ack N` marks numbers up to N as applied: they leave the feed, and the \
erasures' receipts say when the source was told.")]
    Changes {
        /// The source's name (as imported: --source, or `steward source list`)
        source: String,
        /// Only changes numbered above N
        #[arg(long, value_name = "N", default_value_t = 0)]
        since: u64,
        /// CSV instead of JSON Lines
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        out: sources::ChangesOut,
        /// Mark changes up to number N as applied by the source (erasures among them need --reason)
        #[arg(long, value_name = "N", conflicts_with_all = ["csv", "since", "output", "recipient"])]
        ack: Option<u64>,
        /// With --ack: only change number N (say, one refused that the source team applied by hand)
        #[arg(long, requires = "ack")]
        only: bool,
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Erased customers kept out of later imports: keyed hashes only (admin)
    #[command(after_help = "Every erasure keeps keyed hashes of the record's source ids, email, phone and name — \
never a value. Import and sync skip a row with a listed source id, and a new row whose email or phone is listed \
when the names agree (an email also when either has no name). Remove an entry when the customer comes back and \
consents again.")]
    Suppression {
        #[command(subcommand)]
        action: sources::SuppressionAction,
    },
    /// Counts of what the store holds (from counters: nothing is decrypted)
    #[command(long_about = "Counts of what the store holds: records, the data key's generation, the size on disk. \
These are kept as counters, so nothing is decrypted and it is instant at any size. \
--fields adds how many records have an email, phone, birth date or extra fields, per source and per country: \
that decrypts every record (a chunk at a time; about 4 s per million records).")]
    Stats {
        /// Print JSON: {"records": N, ...}
        #[arg(long)]
        json: bool,
        /// Also count per field, source and country (decrypts every record)
        #[arg(long)]
        fields: bool,
    },
    /// List records
    List {
        /// JSON Lines, one record per line, each with `id` and `source_id`
        #[arg(long)]
        json: bool,
        /// At most N records
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Show one record by steward id, `SOURCE:SOURCE_ID`, or a source id of the default source
    #[command(after_help = "Viewers and stewards see personal data masked (j***@example.com, +44 **** ***123, \
initials, birth year). A steward or admin may --reveal the record, or one field of it, with a --reason; each \
reveal is an audit entry.")]
    Show {
        id: String,
        #[arg(long)]
        json: bool,
        /// Show it unmasked (all fields, or only FIELD); needs --reason
        #[arg(long, value_name = "FIELD", num_args = 0..=1, default_missing_value = "", requires = "reason")]
        reveal: Option<String>,
        /// Why you need to see it (kept in the audit trail)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Users and their roles: viewer (masked, read-only), steward (reveal, edit, merge), admin (everything)
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Write synthetic customers with planted problems (deterministic)
    Gen {
        /// Number of records
        #[arg(long, default_value_t = 2000)]
        count: usize,
        /// Random seed; the same seed gives the same file
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output CSV file (`-` for stdout)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Also write the ground truth (customer_id,person) to FILE
        #[arg(long, value_name = "FILE")]
        truth: Option<PathBuf>,
        /// Print what was planted as JSON on stderr
        #[arg(long)]
        manifest: bool,
        /// standard: typos, nicknames, formats and every finding kind; hard: what matching finds
        /// hardest — namesakes in one postcode, households sharing a phone or email, twins, people who
        /// moved, birth-date typos, rows without names
        #[arg(long, value_enum, default_value_t = Profile::Standard)]
        profile: Profile,
        /// hard profile: write a second source's records to FILE (ids S…; some people are in both)
        #[arg(long, value_name = "FILE")]
        second: Option<PathBuf>,
    },
    /// Find what is wrong: stale, expired, duplicate, over-collected, personal data in free text, invalid, suspect, missing consent
    #[command(
        after_help = "With --json, prints {\"findings\": [...], \"summary\": {kind: count}, ...}; the README documents the schema."
    )]
    Scan {
        /// Print JSON (schema in the README)
        #[arg(long)]
        json: bool,
        /// Only findings of this kind
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["stale", "expired", "duplicate", "overcollected", "pii", "invalid", "suspect", "consent", "incomplete"]))]
        kind: Option<String>,
    },
    /// The data inventory and purpose register (policy)
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Rectify fields of a record: FIELD=VALUE (empty VALUE clears), validated like the findings
    #[command(after_help = "Fields: given_name family_name email phone street_number address_1 address_2 locality \
region postcode country date_of_birth, or any extra field name. Invalid values are refused with the rule they \
break; nothing changes. Example: steward update 01J... email=ann@example.com phone= --reason \"customer called\"")]
    Update {
        /// Record: steward id, SOURCE:SOURCE_ID, or a source id of the default source
        id: String,
        /// FIELD=VALUE pairs
        #[arg(required = true, value_name = "FIELD=VALUE")]
        edits: Vec<String>,
        /// Why (kept in the audit trail)
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Merge duplicate records into one, or every duplicate cluster above a probability (--all)
    #[command(after_help = "Each field takes the most recently verified non-empty value; emails and phones that \
lose are kept as secondary_email / secondary_phone. Prints the merge id (undo with `steward undo MERGE_ID`).

--all --min-probability P merges every duplicate cluster the scan finds at or above P as one change: without \
--yes it lists the clusters (p, survivor <- merged) and changes nothing; with --yes it prints one change_id, \
and `steward undo CHANGE_ID` reverts the whole batch.")]
    Merge {
        /// Records to merge (two or more)
        #[arg(value_name = "ID", required_unless_present_any = ["undo", "all"])]
        ids: Vec<String>,
        /// The record that survives [default: the most recently verified]
        #[arg(long, value_name = "ID")]
        into: Option<String>,
        /// Undo an earlier merge: restores the exact records from before it (same as `steward undo`)
        #[arg(long, value_name = "MERGE_ID", conflicts_with_all = ["ids", "into", "all"])]
        undo: Option<String>,
        /// Merge every duplicate cluster at or above --min-probability
        #[arg(long, conflicts_with_all = ["ids", "into"], requires = "min_probability")]
        all: bool,
        /// With --all: the lowest cluster probability merged (0-1)
        #[arg(long, value_name = "P")]
        min_probability: Option<f64>,
        /// With --all: list the clusters, merge nothing
        #[arg(long)]
        dry_run: bool,
        /// With --all: confirm
        #[arg(long)]
        yes: bool,
        /// Why (kept in the audit trail)
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Print {"merge_id": ..., "survivor": ..., "merged": [...]} (--all: one cluster per line, then the change)
        #[arg(long)]
        json: bool,
    },
    /// Drop a field from every record that holds it (over-collected data)
    #[command(after_help = "Without --yes (or with --dry-run) it prints how many records hold the field and \
changes nothing. The drop is one change: `steward undo CHANGE_ID` restores the values until the data key is \
rotated; --rekey rotates it at once (or run `steward rekey` later), after which the old values cannot be \
recovered from the store files, as for an erasure.")]
    DropField {
        /// The field: an extra column (fax, pager) or a core field name
        field: String,
        /// Only records from this source
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// Only records where the field is past the retention of all its purposes (the over-collected findings)
        #[arg(long, conflicts_with = "source")]
        past_retention: bool,
        /// Why (kept in the audit trail)
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Print what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Confirm
        #[arg(long)]
        yes: bool,
        /// Rotate the data key right after (the old values become unrecoverable; no undo)
        #[arg(long)]
        rekey: bool,
    },
    /// Redact personal data found in a record's free text (card, IBAN, SSN, email, phone)
    #[command(after_help = "A card keeps its scheme and last 4 digits ([Visa card ending 1111]), an IBAN its \
country and last 4, an SSN its last 4; emails and phones are masked. Without --yes it lists what would be \
replaced (masked). Undo with `steward undo CHANGE_ID` until the next key rotation.")]
    Redact {
        /// Record: steward id, SOURCE:SOURCE_ID, or a source id of the default source
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        /// Every record whose free text holds personal data (the `pii` findings), as one change
        #[arg(long, conflicts_with = "id")]
        all: bool,
        /// Only this free-text field [default: every free-text field]
        field: Option<String>,
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Print what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// Confirm
        #[arg(long)]
        yes: bool,
    },
    /// Mark records verified: the customer confirmed their details (stale findings)
    Verified {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// How they confirmed: reply, call, order, ...
        #[arg(long, value_name = "TEXT")]
        how: String,
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        /// Print what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Write the contact details of stale customers, age-encrypted, for a "please confirm your details" campaign
    #[command(after_help = "Lists the records of the `stale` findings (or the IDs given) as CSV: id, names, email, \
phone, address, last verified. Restricted and unreachable records are left out. Decrypt with: age -d -i KEY FILE. \
Mark those who reply with `steward verified ID... --how reply`; after a grace period, `steward housekeeping` \
erases what has expired.")]
    ReverifyList {
        /// Records [default: every stale record]
        #[arg(value_name = "ID")]
        ids: Vec<String>,
        #[command(flatten)]
        to: EncryptTo,
        /// Output file (must not exist)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Print what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Record a consent given or withdrawn, with its date and source (kept as a history)
    Consent {
        id: String,
        /// A purpose of the policy that rests on consent (marketing, ...)
        purpose: String,
        #[arg(long, conflicts_with = "withdrawn", required_unless_present = "withdrawn")]
        given: bool,
        #[arg(long)]
        withdrawn: bool,
        /// When the customer gave or withdrew it (YYYY-MM-DD)
        #[arg(long, value_name = "DATE")]
        date: String,
        /// Where: the form, the call, the letter
        #[arg(long, value_name = "TEXT")]
        source: String,
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        /// Print what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Restrict processing of records (GDPR Art. 18): kept, used for no purpose; --lift ends it
    Restrict {
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// Lift the restriction
        #[arg(long)]
        lift: bool,
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Print what would change, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Undo a change by its id (merge, bulk merge, edit, redaction, dropped field); without an id, list them
    #[command(after_help = "The records are restored exactly as they were; refused when one changed since. \
Edits, redactions and dropped fields can be undone until the next key rotation, which deletes the old values. \
Erasures can never be undone.")]
    Undo {
        /// The change id printed by the change (merge-…, bulk-…, edit-…, redact-…, drop-…)
        change_id: Option<String>,
        #[arg(long, value_name = "TEXT", default_value = "undone from the command line")]
        reason: String,
        /// List what can be undone
        #[arg(long)]
        list: bool,
        /// Say what the undo would restore, change nothing
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Decide that records are different people ("not the same person"): the scan never clusters them
    #[command(after_help = "A decision is kept per pair of records, sealed and audited; it survives rescans, \
key rotations and merges (a decision about a merged-away record holds for its survivor), and request matching \
respects it. Splitting a cluster: mark the record that does not belong together with each of the others.")]
    Distinct {
        #[command(subcommand)]
        action: DistinctAction,
    },
    /// Erasure receipts: print a stored one (to attach to the reply), or list them
    #[command(after_help = "A receipt says what an erasure removed — record ids, categories, what else went \
(redirects, merge snapshots, request entries), what was kept and why, whether the data key was rotated — \
and never a value: it is the document to send the requester or the authority.")]
    Receipt {
        #[command(subcommand)]
        action: ReceiptAction,
    },
    /// Erase a record (right to erasure): crypto-shredding, then key rotation; prints the receipt as JSON
    #[command(after_help = "Also erases the records merged into it, their redirects and merge undo snapshots. \
Fields under a legal hold in the policy are kept, and the receipt says why. The receipt holds no personal data. \
Encrypted backups made earlier still hold the record until they expire.")]
    Erase {
        /// Records to erase
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// delete: everything goes; anonymize: country and sign-up month stay for statistics
        #[arg(long, value_enum, default_value_t = StrategyArg::Delete)]
        strategy: StrategyArg,
        /// Why (kept in the audit trail)
        #[arg(long, value_name = "TEXT")]
        reason: String,
        /// Reference of the customer's request
        #[arg(long, value_name = "REF")]
        request: Option<String>,
        /// Confirm: without it, only the plan is printed
        #[arg(long)]
        yes: bool,
        /// Do not rotate the data key afterwards (run `steward rekey` later, e.g. after a batch)
        #[arg(long)]
        no_rekey: bool,
    },
    /// Export everything held about records, encrypted with age (for access and portability requests)
    #[command(after_help = "The JSON document (schema steward-export/1) is documented in the README. It is \
streamed into age and written to a temporary file that is renamed when complete; plaintext never touches the \
disk. Decrypt with: age -d -i KEY FILE. With --passphrase, STEWARD_EXPORT_PASSPHRASE is read if set.")]
    Export {
        /// Records to export
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        #[command(flatten)]
        to: EncryptTo,
        /// Output file (must not exist)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Rotate the data key: re-wraps surviving record keys and destroys the old key
    Rekey {
        /// Why (kept in the audit trail)
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
    },
    /// The audit trail
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Write an encrypted backup of the whole store
    #[command(after_help = "A backup holds every record as it is now, erased later or not, until the backup \
itself expires or is destroyed. Restore with `steward restore FILE`.")]
    Backup {
        #[command(flatten)]
        to: EncryptTo,
        /// Output file (must not exist)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Restore a backup into an empty store directory (--store)
    #[command(after_help = "Decrypts with --identity FILE, or with --passphrase (STEWARD_BACKUP_PASSPHRASE or a \
prompt). The restored store opens with the passphrases it had when the backup was made.")]
    Restore {
        /// The backup file
        file: PathBuf,
        /// The backup was encrypted to a passphrase
        #[arg(long)]
        passphrase: bool,
    },
    /// Copy the store to another engine: a directory (sled) or PostgreSQL
    #[command(after_help = "Copies the whole store — key slots and every value, still sealed — to TARGET, which \
must be empty (a directory that does not exist or is empty; a database without a steward store), then opens \
the copy and checks it: the same values and records, the same audit trail, verified. Nothing is decrypted on \
the way; the copy opens with the same passphrases and keys. The source is left as it was: once the copy is in \
use, remove the old one (a directory: `rm -r`), or the two will drift apart.

  steward --store ~/store migrate --to 'postgresql:///steward?host=/run/postgresql'
  steward --store 'postgresql:///steward?host=/run/postgresql' migrate --to ~/store-again")]
    Migrate {
        /// Where to: a directory or a postgres:// URL
        #[arg(long, value_name = "DIR|URL")]
        to: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Data-subject requests: intake, the queue by due date, completion
    Request {
        #[command(subcommand)]
        action: RequestAction,
    },
    /// Compliance report: requests (open, overdue, median days to complete), findings, quality, users, audit
    #[command(after_help = "Markdown by default (paste it into a ticket or wiki), or JSON. No personal data: \
counts, request references and dates, user names and roles. The audit line shows the last `steward audit verify`.")]
    Report {
        #[arg(long, value_parser = ["markdown", "json"], default_value = "markdown")]
        format: String,
    },
    /// Erase (or anonymise) every record past the retention of all its purposes, with one receipt
    #[command(after_help = "Lists exactly the records of the `expired` findings. Without --dry-run it asks you to \
type `erase` (or takes --yes, for cron), erases them in one step, rotates the data key and prints the receipt.")]
    Housekeeping {
        /// Only list what would go
        #[arg(long)]
        dry_run: bool,
        /// Print JSON: {"dry_run": ..., "count": N, "records": [{"id", "source_id", "reasons"}], "receipt": ...}
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value_t = StrategyArg::Delete)]
        strategy: StrategyArg,
        /// Why (kept in the audit trail)
        #[arg(long, value_name = "TEXT", default_value = "retention period expired (housekeeping)")]
        reason: String,
        /// Do not ask (for cron)
        #[arg(long)]
        yes: bool,
    },
    /// Personal-data breaches: open an incident, scope it, run the 72-hour clock, notify, report
    #[command(after_help = "Admins open and change incidents; stewards read them. Every step is audited. \
`breach report` is for the supervisory authority and holds no personal data; `breach notify-list` writes who to \
tell, age-encrypted.")]
    Breach {
        #[command(subcommand)]
        action: accountability::BreachAction,
    },
    /// The record of processing (GDPR Art. 30): purposes, data, people, legal bases, recipients, transfers, retention, counts held
    #[command(after_help = "Drawn from the policy and the records. It opens with the CONTRADICTIONS between the \
two (a field held with no declared purpose, data kept past its retention, personal data hiding in free text, a \
purpose without a legal basis, a transfer without a safeguard, no controller), each with its remedy. Counts only.")]
    Ropa {
        #[arg(long, value_parser = ["markdown", "json"], default_value = "markdown")]
        format: String,
        /// Same as --format json
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Same as --format markdown
        #[arg(long)]
        markdown: bool,
    },
    /// Draft the privacy notice: what is collected, why, how long, who receives it, the customer's rights
    #[command(after_help = "From the same facts as `steward ropa`. Where the data contradicts the policy the \
draft says so at the top: the notice must not promise what the data contradicts. --strict exits 1 while any \
contradiction remains (for a publishing pipeline).")]
    Notice {
        #[arg(long, value_parser = ["markdown", "json"], default_value = "markdown")]
        format: String,
        /// Exit 1 while the data contradicts the policy
        #[arg(long)]
        strict: bool,
    },
    /// Who revealed, exported or erased how much, and alerts on unusual use (from the audit trail)
    #[command(after_help = "Alerts: a user revealing more records in a day than `reveal_factor` times their \
usual (and more than `reveal_floor`), an export outside working hours or at a weekend, `failed_logins` failed \
unlocks within 24 hours. The thresholds are the policy's [monitoring]. Stewards and admins.")]
    Usage {
        /// The window, in days
        #[arg(long, value_name = "N", default_value_t = 7)]
        days: i64,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Extract, age-encrypted, the records a purpose may use, with the fields that purpose may use
    #[command(after_help = "Only records whose consent (for a consent-based purpose) is given, within the \
purpose's retention, not restricted and with no objection on file; only the fields the policy declares for \
the purpose. CSV: id and those fields. Audited with the purpose and the counts. Decrypt with: age -d -i KEY FILE.")]
    Extract {
        /// A purpose of the policy (marketing, ...)
        #[arg(long, value_name = "NAME")]
        purpose: String,
        /// Only among these records (a filtered view) [default: every record]
        #[arg(value_name = "ID")]
        ids: Vec<String>,
        #[command(flatten)]
        to: EncryptTo,
        /// Output file (must not exist)
        #[arg(short, long, value_name = "FILE", required_unless_present = "dry_run")]
        output: Option<PathBuf>,
        /// Only count what would go
        #[arg(long)]
        dry_run: bool,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the key bindings as a Markdown table
    #[command(hide = true)]
    Keys,
}

/// `--strategy`: how an erased record goes (the service's `Strategy`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StrategyArg {
    /// Everything goes (except fields under a legal hold)
    Delete,
    /// Personal data goes; country and sign-up month stay for statistics
    Anonymize,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::Delete => Strategy::Delete,
            StrategyArg::Anonymize => Strategy::Anonymize,
        }
    }
}

/// `steward gen --profile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    Standard,
    Hard,
}

/// `--type`: what the customer asked for (the model's `RequestKind`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum KindArg {
    Erasure,
    Access,
    Portability,
    Rectification,
    Restriction,
    /// Objection, or opt-out of marketing / sale
    Objection,
}

impl From<KindArg> for crate::model::request::RequestKind {
    fn from(k: KindArg) -> Self {
        use crate::model::request::RequestKind as K;
        match k {
            KindArg::Erasure => K::Erasure,
            KindArg::Access => K::Access,
            KindArg::Portability => K::Portability,
            KindArg::Rectification => K::Rectification,
            KindArg::Restriction => K::Restriction,
            KindArg::Objection => K::Objection,
        }
    }
}

/// Whom an export or backup is encrypted to.
#[derive(Args, Debug, Clone)]
#[group(multiple = true)]
pub struct EncryptTo {
    /// Public key: age1..., ssh-ed25519 ..., ssh-rsa ... (repeatable)
    #[arg(short, long, value_name = "PUBKEY")]
    recipient: Vec<String>,
    /// File of public keys, one per line (# comments)
    #[arg(short = 'R', long, value_name = "FILE")]
    recipients_file: Vec<PathBuf>,
    /// Encrypt to a passphrase instead (prompted twice, or STEWARD_EXPORT_PASSPHRASE)
    #[arg(long, conflicts_with_all = ["recipient", "recipients_file"])]
    passphrase: bool,
    /// scrypt work factor for --passphrase (log2 N, 10-22)
    #[arg(long, value_name = "N", default_value_t = crate::service::export::DEFAULT_WORK_FACTOR, requires = "passphrase")]
    work_factor: u8,
    /// ASCII-armored output (PEM-like text)
    #[arg(short, long)]
    armor: bool,
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a user (passphrase prompted, or STEWARD_NEW_PASSPHRASE; or a public key)
    Add {
        name: String,
        #[arg(long, value_parser = ["viewer", "steward", "admin"])]
        role: String,
        /// The user unlocks with the private key of this age1... or ssh-ed25519 public key
        #[arg(long, value_name = "PUBKEY")]
        identity_recipient: Option<String>,
        /// Passphrase hashing cost; `low` is only for throwaway and test stores
        #[arg(long, value_enum, default_value_t = Cost::Default)]
        kdf_cost: Cost,
    },
    /// Remove a user: their key slot is destroyed and their secret opens nothing
    Remove { name: String },
    /// List users and roles
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set a new passphrase (your own, or anyone's as admin); STEWARD_NEW_PASSPHRASE for scripts
    Passwd {
        /// The user [default: you]
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = Cost::Default)]
        kdf_cost: Cost,
    },
    /// Change a user's role
    Role {
        name: String,
        #[arg(value_parser = ["viewer", "steward", "admin"])]
        role: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReceiptAction {
    /// One receipt, as JSON (what `erase` printed)
    Show {
        /// The receipt id (`rcpt-…`, from the erasure, the request or the audit trail)
        id: String,
    },
    /// Every stored receipt, newest first: id, time, records erased, request
    List {
        /// JSON Lines, one receipt per line
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DistinctAction {
    /// Every pair among these records is two different people
    Mark {
        /// Records (steward id or SOURCE:ID), two or more
        #[arg(required = true, num_args = 2.., value_name = "ID")]
        ids: Vec<String>,
        /// Why (kept in the audit trail)
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// Withdraw the decision on two records (they may be one person after all)
    Unmark {
        #[arg(value_name = "ID")]
        a: String,
        #[arg(value_name = "ID")]
        b: String,
        /// Why (kept in the audit trail)
        #[arg(long, value_name = "TEXT")]
        reason: String,
    },
    /// The decisions, oldest first
    List {
        /// JSON Lines: {"records": [ID, ID], "by", "at", "reason"}
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RequestAction {
    /// Take in a request; the due date follows from the jurisdiction
    #[command(after_help = "GDPR: one month from receipt (the same day next month, or its last day; a weekend \
moves it to the next working day), extendable by two months. CCPA: 45 days, extendable by 45; acknowledge within \
10 business days. With --json prints the request with `ref` and `due`.")]
    Add {
        #[arg(long = "type", value_enum)]
        kind: KindArg,
        #[arg(long, value_parser = ["gdpr", "ccpa"])]
        jurisdiction: String,
        /// Date received, YYYY-MM-DD
        #[arg(long, value_name = "DATE")]
        received: chrono::NaiveDate,
        /// The requester's email
        #[arg(long)]
        email: Option<String>,
        /// The requester's phone (any format; compared in E.164)
        #[arg(long)]
        phone: Option<String>,
        /// The requester's name ("Given Family")
        #[arg(long)]
        name: Option<String>,
        /// The customer number they quote (a source id)
        #[arg(long, value_name = "ID")]
        customer_number: Option<String>,
        /// Their date of birth, YYYY-MM-DD
        #[arg(long, value_name = "DATE")]
        dob: Option<String>,
        /// Their postcode
        #[arg(long)]
        postcode: Option<String>,
        /// Their street address ("12 High Street")
        #[arg(long)]
        address: Option<String>,
        /// Reference [default: REQ-YEAR-NNNN]
        #[arg(long = "ref", value_name = "REF")]
        reference: Option<String>,
        /// How it arrived (email, web, phone, letter)
        #[arg(long, default_value = "email")]
        channel: String,
        #[arg(long)]
        json: bool,
    },
    /// The queue, soonest due first, with days left
    List {
        /// JSON Lines, one request per line
        #[arg(long)]
        json: bool,
        /// Only overdue requests
        #[arg(long)]
        overdue: bool,
    },
    /// One request
    Show {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Take in requests from a web form's CSV or a ticket system's JSON Lines (all or none)
    #[command(after_help = "Columns (any order, usual aliases accepted): ref, type (erasure/deletion, \
access/DSAR, portability, rectification, restriction, objection/opt-out), jurisdiction (gdpr, ccpa), received \
(YYYY-MM-DD or an RFC 3339 time), channel, name, email, phone, customer_number, date_of_birth, postcode, address. \
A bad row refuses the whole file and is named by its line.")]
    Import {
        file: PathBuf,
        #[arg(long, value_parser = ["csv", "jsonl"])]
        format: Option<String>,
    },
    /// Records that may be the requester's, with scores and reasons (the duplicate engine)
    #[command(after_help = "Compares the requester's name, email and phone with every record under the \
duplicate model estimated from this store, and adds the near-duplicates of each strong match. Candidates \
marked `proposed` score at least 0.5. Confirm with `request link REF ID...` (or --link, all proposed).")]
    Match {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        /// JSON Lines, one candidate per line
        #[arg(long)]
        json: bool,
        /// Link every proposed candidate to the request
        #[arg(long)]
        link: bool,
    },
    /// Confirm records as the requester's
    Link {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Withdraw records linked by mistake
    Unlink {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Record the identity check (needed before erasing or exporting)
    Verify {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        /// How: "replied from the email on file", "ID document seen" ...
        #[arg(long, value_name = "TEXT")]
        method: String,
        /// The check failed
        #[arg(long)]
        failed: bool,
    },
    /// Move a request to verifying, in-progress, extended or rejected
    Status {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(value_parser = ["verifying", "in-progress", "extended", "rejected"])]
        status: String,
        /// Why (required for extended and rejected)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Extended: the date the requester was told [default: today]
        #[arg(long, value_name = "DATE")]
        notified: Option<chrono::NaiveDate>,
    },
    /// Fulfil an erasure request: erase its linked records, attach the receipt, complete it
    #[command(after_help = "The requester must be verified and records linked. Without --yes only the plan is \
printed. The requester's details are erased with the records; the request keeps its reference, dates and \
history.")]
    Erase {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        /// Why (kept in the audit trail) [default: the request]
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        #[arg(long, value_enum, default_value_t = StrategyArg::Delete)]
        strategy: StrategyArg,
        /// Confirm: without it, only the plan is printed
        #[arg(long)]
        yes: bool,
        /// Do not rotate the data key afterwards
        #[arg(long)]
        no_rekey: bool,
    },
    /// Fulfil an access or portability request: export its linked records with age, complete it
    Export {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        #[command(flatten)]
        to: EncryptTo,
        /// Output file (must not exist)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Record that receipt was acknowledged to the requester (CCPA: within 10 business days)
    Acknowledge {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
    },
    /// Add a note to a request's file (a call, a letter sent); sealed, erased with the requester
    Note {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        #[arg(value_name = "TEXT")]
        text: String,
    },
    /// Mark a request completed
    Complete {
        /// The request's reference (REQ-2026-0001, or the one it was given)
        #[arg(value_name = "REF")]
        reference: String,
        /// What answered it: a receipt id or an export file
        #[arg(long, value_name = "TEXT")]
        answer: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// List entries (oldest first)
    List {
        /// JSON Lines, one entry per line
        #[arg(long)]
        json: bool,
        /// Only this action (prefix: `merge` also matches `merge-undo`)
        #[arg(long, value_name = "ACTION")]
        action: Option<String>,
        /// Only entries by this steward or OS user (`--user` is who you are)
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Only entries about this record id
        #[arg(long, value_name = "ID")]
        record: Option<String>,
    },
    /// Check the hash chain; exit 1 naming the first broken entry
    Verify {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PolicyAction {
    /// Validate a policy TOML file and make it the policy in force (a new version)
    Import { file: PathBuf },
    /// Print the policy in force (the built-in default if none was imported)
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Declare a field the policy does not know (an over-collected one the business needs) under a purpose
    #[command(after_help = "An existing purpose keeps its legal basis and retention; a new one needs --legal-basis \
(contract, legal_obligation, legitimate_interest, vital_interests, public_task; consent-based purposes go in the \
policy file, with their consent field) and may take --retention-days. Makes a new policy revision (audited).")]
    Declare {
        /// The field (an extra column such as `loyalty_tier`, or a core field)
        field: String,
        #[arg(long, value_name = "NAME")]
        purpose: String,
        #[arg(long, value_name = "BASIS")]
        legal_basis: Option<String>,
        #[arg(long, value_name = "DAYS")]
        retention_days: Option<u32>,
        /// fideslang-style category, e.g. user.contact.fax
        #[arg(long, value_name = "CATEGORY", default_value = "user")]
        category: String,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    Default,
    Low,
}

/// A failure: printed as `steward: MESSAGE` with exit code 1.
#[derive(Debug)]
pub struct Failure(pub String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

type Result<T> = std::result::Result<T, Failure>;

/// Parses arguments and runs; returns the process exit code.
/// `steward list | head`: when the reader of stdout goes away, leave quietly
/// with the status a SIGPIPE would give (141), not a panic and a backtrace.
fn quiet_broken_pipe() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        if msg.contains("failed to spawn thread") {
            // Out of memory for a thread's stack, or of processes.
            eprintln!(
                "steward: could not start a thread: the memory or process limit is reached (see `ulimit -v`, `ulimit -u`)"
            );
            std::process::exit(1);
        }
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            previous(info);
            return;
        }
        // One line (the terminal is restored first by the dashboard's own
        // hook); a panic names code, never customer data, but is sanitised
        // all the same.
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!(
            "steward: internal error: {}{at} (RUST_BACKTRACE=1 shows more)",
            crate::model::text::fit(&crate::model::text::sanitize(msg), 200)
        );
    }));
}

pub fn main() -> i32 {
    // Before anything is decrypted or read: no core dumps, no ptrace.
    if harden::harden().is_err() {
        eprintln!("steward: warning: could not disable core dumps for this process");
    }
    if supervise::is_child() {
        supervise::follow_parent();
    } else if runs_dashboard() {
        // The dashboard runs as a child, so that however it dies (out of
        // memory included) the terminal is given back: see `supervise`.
        return supervise::run();
    }
    main_unsupervised()
}

/// Whether this command line opens the dashboard on a terminal.
fn runs_dashboard() -> bool {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return false;
    }
    match Cli::try_parse() {
        Ok(cli) => match cli.command {
            None | Some(Command::Tui) => true,
            Some(Command::Demo { no_tui, .. }) => !no_tui,
            Some(_) => false,
        },
        Err(_) => false,
    }
}

/// Everything [`main`] does once supervision is settled.
pub(crate) fn main_unsupervised() -> i32 {
    quiet_broken_pipe();
    // Nothing we create is for anyone else: store files 0600, dirs 0700.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(Failure(msg)) => {
            // Messages can quote what was typed (a user name, a path):
            // nothing in them may act on the terminal.
            let msg: Vec<String> = msg.lines().map(crate::model::text::sanitize).collect();
            eprintln!("steward: {}", msg.join("\n"));
            1
        }
    }
}

fn default_store() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("steward").join("store")
}

/// The store the command acts on (`--store`, `STEWARD_STORE`, the default).
pub(crate) fn location(g: &Global) -> Location {
    match &g.store {
        Some(s) => Location::parse(s),
        None => Location::Dir(default_store()),
    }
}

fn user_of(g: &Global) -> String {
    g.user.clone().unwrap_or_else(service::os_user)
}

fn theme_of(g: &Global) -> Result<Theme> {
    Ok(Theme::load(g.theme.as_deref().unwrap_or("default"), ColorDepth::detect())?)
}

pub fn run(cli: Cli) -> Result<()> {
    let g = cli.global;
    match cli.command.unwrap_or(Command::Tui) {
        Command::Tui => {
            let theme = theme_of(&g)?;
            let service = Arc::new(open_for_tui(&g, &theme)?);
            // A read-only copy goes when the dashboard does, however it
            // ends (quit, SIGTERM, SIGHUP of a dropped SSH line).
            let copy = service.read_only_copy().map(Path::to_owned);
            let result = crate::tui::run(service, theme, false, idle_secs(&g));
            if let Some(copy) = copy {
                let _ = std::fs::remove_dir_all(copy);
            }
            result?;
            Ok(())
        }
        Command::Demo { keep, no_tui } => demo(&g, keep, no_tui),
        Command::Init { admin, recipient, kdf_cost } => init(&g, admin, recipient, kdf_cost),
        Command::Import { file, format, id_column, source, dry_run, skip_invalid } => {
            import_cmd(&g, &file, format, id_column, source, dry_run, skip_invalid)
        }
        Command::Stats { json, fields } => {
            let svc = open(&g)?;
            let counts = svc.counts();
            let stats = if fields { Some(svc.stats()?) } else { None };
            if json {
                let mut v = serde_json::to_value(&counts).map_err(|e| Failure(e.to_string()))?;
                if let (Some(s), Some(obj)) = (&stats, v.as_object_mut())
                    && let Ok(serde_json::Value::Object(more)) = serde_json::to_value(s)
                {
                    obj.extend(more);
                }
                println!("{}", output::json(&v)?);
            } else {
                output::print_stats(&counts, stats.as_ref());
            }
            Ok(())
        }
        Command::List { json, limit } => {
            let svc = open(&g)?;
            // Streamed: a chunk of records at a time, so memory does not
            // grow with the store, and `--limit` decrypts little more than
            // it prints.
            let mut out = std::io::stdout().lock();
            let mut left = limit.unwrap_or(usize::MAX);
            let mut failed = None;
            svc.each_record(&mut |r| {
                if left == 0 {
                    return false;
                }
                left -= 1;
                let line = if json {
                    match output::json(&output::RecordJson::from(r)) {
                        Ok(l) => l,
                        Err(e) => {
                            failed = Some(e);
                            return false;
                        }
                    }
                } else {
                    output::record_line(r)
                };
                writeln!(out, "{line}").is_ok() // false: closed pipe (e.g. `| head`)
            })?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            Ok(())
        }
        Command::Show { id, json, reveal, reason } => {
            let svc = open(&g)?;
            let located = svc.locate(&id)?;
            let located = match (reveal, &located) {
                (Some(field), Located::Record(r) | Located::Merged { record: r, .. }) => {
                    let fields = if field.is_empty() {
                        Vec::new()
                    } else {
                        vec![crate::service::actions::FieldName::parse(&field)]
                    };
                    let shown = svc.reveal(&[r.id], &fields, reason.as_deref().unwrap_or(""))?;
                    match shown.into_iter().next() {
                        Some(r) => Located::Record(r),
                        None => located,
                    }
                }
                _ => located,
            };
            let r = match located {
                Located::Record(r) => r,
                Located::Merged { from, merge, record } => {
                    eprintln!("steward: {from} was merged into {} ({merge}); showing that record", record.id);
                    record
                }
                Located::Erased { id, tombstone } => {
                    return Err(Failure(format!(
                        "record {id} was erased on {} (receipt {})",
                        tombstone.erased_at.format("%Y-%m-%d %H:%M UTC"),
                        tombstone.receipt
                    )));
                }
            };
            if json {
                println!("{}", output::json_pretty(&output::RecordJson::from(&r))?);
            } else {
                output::print_record(&r);
            }
            Ok(())
        }
        Command::Gen { count, seed, output, truth, manifest, profile, second } => {
            gen_cmd(count, seed, &output, truth.as_deref(), manifest, profile, second.as_deref())
        }
        Command::Scan { json, kind } => {
            // STEWARD_TRACE=1: the time of each stage on stderr (no data).
            let t0 = std::time::Instant::now();
            let trace = std::env::var_os("STEWARD_TRACE").is_some();
            let lap = |what: &str| {
                if trace {
                    eprintln!("  {:>8} ms  {what}", t0.elapsed().as_millis());
                }
            };
            let svc = open(&g)?;
            lap("unlocked");
            // A chunk of records at a time: the store is never held
            // decrypted whole (see `Service::scan_store`).
            let (records, report) = svc.scan_store(&|stage| {
                if !stage.starts_with("checked ") {
                    lap(stage)
                }
            })?;
            lap("scanned");
            let kind = kind.as_deref().and_then(crate::findings::Kind::from_name);
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let r = if json {
                output::write_scan_json(&mut stdout, &records, &report, kind)
            } else {
                output::print_scan(&mut stdout, &records, &report, kind).and_then(|_| stdout.flush())
            };
            {
                match r {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                    other => other?,
                }
            }
            lap("printed");
            Ok(())
        }
        Command::Policy { action: PolicyAction::Import { file } } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| Failure(format!("cannot read {}: {e}", file.display())))?;
            let info = open(&g)?.import_policy(&text)?;
            println!("policy revision {} is now in force", info.revision);
            Ok(())
        }
        Command::Policy { action: PolicyAction::Declare { field, purpose, legal_basis, retention_days, category } } => {
            let svc = open(&g)?;
            let info = svc.declare_field(&field, &purpose, legal_basis.as_deref(), retention_days, &category)?;
            println!("policy revision {}: `{field}` declared for `{purpose}`", info.revision);
            Ok(())
        }
        Command::Policy { action: PolicyAction::Show { json } } => {
            let (policy, info) = open(&g)?.policy()?;
            if json {
                let v = serde_json::json!({"revision": info.revision, "imported_at": info.imported_at, "imported_by": info.imported_by, "policy": policy});
                println!("{}", output::json_pretty(&v)?);
            } else {
                if info.revision == 0 {
                    println!("# No policy imported: the built-in default is in force (see README).");
                } else {
                    println!(
                        "# Policy revision {}, imported {} by {}",
                        info.revision,
                        info.imported_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                        crate::model::text::sanitize(info.imported_by.as_deref().unwrap_or("?"))
                    );
                }
                print!("{}", crate::model::text::sanitize(&info.source).replace('\u{240a}', "\n"));
            }
            Ok(())
        }
        Command::Update { id, edits, reason } => actions::update(&g, &id, &edits, &reason),
        Command::Merge { all: true, min_probability, dry_run, yes, reason, json, .. } => {
            remedies::bulk_merge(&g, min_probability.unwrap_or(1.0), &reason, dry_run, json, yes)
        }
        Command::Merge { ids, into, undo, reason, json, .. } => actions::merge(&g, &ids, into, undo, &reason, json),
        Command::DropField { field, source, past_retention, reason, dry_run, json, yes, rekey } => {
            remedies::drop_field(&g, &field, source.as_deref(), past_retention, &reason, dry_run, json, yes, rekey)
        }
        Command::Redact { id, all: _, field, reason, dry_run, json, yes } => {
            remedies::redact(&g, id.as_deref(), field.as_deref(), &reason, dry_run, json, yes)
        }
        Command::Verified { ids, how, reason, dry_run, json } => {
            remedies::verified(&g, &ids, &how, &reason, dry_run, json)
        }
        Command::ReverifyList { ids, to, output, dry_run, json } => {
            remedies::reverify_list(&g, &ids, &to, &output, dry_run, json)
        }
        Command::Consent { id, purpose, given, withdrawn: _, date, source, reason, dry_run, json } => {
            remedies::consent(&g, &id, &purpose, given, &date, &source, &reason, dry_run, json)
        }
        Command::Restrict { ids, lift, reason, dry_run, json } => {
            remedies::restrict(&g, &ids, lift, &reason, dry_run, json)
        }
        Command::Undo { change_id, reason, list, dry_run, json } => {
            remedies::undo(&g, change_id.as_deref(), &reason, list, dry_run, json)
        }
        Command::Source { action } => sources::source(&g, action),
        Command::Sync { name, skip_invalid, full, dry_run, json } => {
            sources::sync(&g, &name, skip_invalid, full, dry_run, json)
        }
        Command::Push { name, batch, dry_run, json } => sources::push(&g, &name, batch, dry_run, json),
        Command::Changes { source, since, csv, out, ack, only, reason, json } => {
            sources::changes(&g, &source, since, csv, &out, ack.map(|n| (n, only)), &reason, json)
        }
        Command::Suppression { action } => sources::suppression(&g, action),
        Command::Distinct { action } => actions::distinct(&g, action),
        Command::Receipt { action } => actions::receipt(&g, action),
        Command::Erase { ids, strategy, reason, request, yes, no_rekey } => {
            actions::erase(&g, &ids, strategy.into(), &reason, request.as_deref(), yes, !no_rekey)
        }
        Command::Export { ids, to, output } => actions::export(&g, &ids, &to, &output),
        Command::Rekey { reason } => actions::rekey(&g, &reason),
        Command::Audit { action } => actions::audit(&g, action),
        Command::User { action } => actions::user(&g, action),
        Command::Request { action } => actions::request(&g, action),
        Command::Report { format } => {
            let svc = open(&g)?;
            svc.may_report()?;
            let progress = Progress::new(svc.count() as u64, "records");
            let records = svc.records(&mut |n| progress.set("decrypting", n as u64))?;
            let report = svc.scan(&records, &|_| progress.set("scanning", records.len() as u64))?;
            progress.bar.finish_and_clear();
            let c = svc.compliance(&report, records.len())?;
            if format == "json" {
                println!("{}", output::json_pretty(&c)?);
            } else {
                print!("{}", crate::service::report::markdown(&c));
            }
            Ok(())
        }
        Command::Housekeeping { dry_run, json, strategy, reason, yes } => {
            actions::housekeeping(&g, dry_run, json, strategy.into(), &reason, yes)
        }
        Command::Backup { to, output } => actions::backup(&g, &to, &output),
        Command::Restore { file, passphrase } => actions::restore(&g, &file, passphrase),
        Command::Migrate { to, json } => actions::migrate(&g, &to, json),
        Command::Breach { action } => accountability::breach(&g, action),
        Command::Ropa { format, json, markdown: _ } => accountability::ropa(&g, if json { "json" } else { &format }),
        Command::Notice { format, strict } => accountability::notice(&g, &format, strict),
        Command::Usage { days, json } => accountability::usage(&g, days, json),
        Command::Extract { purpose, ids, to, output, dry_run, json } => {
            accountability::extract(&g, &purpose, &ids, &to, output.as_deref().unwrap_or(Path::new("-")), dry_run, json)
        }
        Command::Keys => {
            print!("{}", crate::tui::actions::markdown_table());
            Ok(())
        }
    }
}

/// Prompts without echo (no environment variable consulted).
fn passphrase_prompt(prompt: &str) -> Result<SecretString> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure("no passphrase: set the environment variable or run in a terminal".into()));
    }
    Ok(SecretString::from(rpassword::prompt_password(prompt)?))
}

/// Reads the passphrase: `--passphrase-file`, else `STEWARD_PASSPHRASE`,
/// else a no-echo prompt.
fn passphrase(prompt: &str, file: Option<&Path>) -> Result<SecretString> {
    if let Some(path) = file {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| Failure(format!("cannot read the passphrase file {}: {e}", path.display())))?,
        );
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            return Err(Failure(format!("the passphrase file {} is empty: nothing was tried", path.display())));
        }
        return Ok(SecretString::from(line.to_owned()));
    }
    // An empty passphrase is never tried: it is not a wrong guess, and
    // must not cost the user the wait that follows one.
    if let Ok(p) = std::env::var("STEWARD_PASSPHRASE") {
        if p.is_empty() {
            return Err(Failure("STEWARD_PASSPHRASE is set but empty: nothing was tried".into()));
        }
        return Ok(SecretString::from(p));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure("no passphrase: set STEWARD_PASSPHRASE or run in a terminal".into()));
    }
    let p = rpassword::prompt_password(prompt)?;
    if p.is_empty() {
        return Err(Failure("no passphrase entered: nothing was tried".into()));
    }
    Ok(SecretString::from(p))
}

fn credentials(g: &Global, user: &str, door: &Door) -> Result<Credentials> {
    if let Some(path) = &g.identity {
        let bytes =
            std::fs::read(path).map_err(|e| Failure(format!("cannot read identity {}: {e}", path.display())))?;
        return Ok(Credentials::Identity(Zeroizing::new(bytes)));
    }
    if door.needs_key_file(user) {
        return Err(Failure(format!("user `{user}` unlocks with a key file: pass --identity FILE")));
    }
    Ok(Credentials::Passphrase(passphrase(&format!("Passphrase for {user}: "), g.passphrase_file.as_deref())?))
}

/// The idle lock in seconds (`None`: off).
fn idle_secs(g: &Global) -> Option<u64> {
    (g.idle_lock > 0).then(|| g.idle_lock.saturating_mul(60))
}

/// Opens the store for the dashboard: a person at a terminal types the
/// passphrase into the dashboard's own login screen; scripts, key files and
/// read-only sessions go the usual way.
fn open_for_tui(g: &Global, theme: &Theme) -> Result<Service> {
    let loc = location(g);
    let user = user_of(g);
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if g.read_only
        || g.identity.is_some()
        || g.passphrase_file.is_some()
        || std::env::var_os("STEWARD_PASSPHRASE").is_some()
        || !interactive
    {
        return open(g);
    }
    service::sweep_read_only_copies(&std::env::temp_dir());
    let door = Service::door_for_login(&loc, &user)?;
    if door.needs_key_file(&user) {
        return Err(Failure(format!("user `{user}` unlocks with a key file: pass --identity FILE")));
    }
    match crate::tui::login::login(door, &user, theme).map_err(Failure)? {
        Some(svc) => Ok(svc),
        None => Err(Failure("not unlocked: left at the login screen".into())),
    }
}

/// Locks, asks for credentials, unlocks.
fn open(g: &Global) -> Result<Service> {
    let loc = location(g);
    let user = user_of(g);
    if g.read_only {
        // `open_read_only` sweeps the copies of read-only sessions that died.
        let svc = Service::open_read_only(&loc, &user, |door| {
            credentials(g, &user, door).map_err(|Failure(m)| ServiceError::Invalid(m))
        })?;
        if let Some(t) = svc.read_only() {
            eprintln!("steward: read-only snapshot published {}", t.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        return Ok(svc);
    }
    // Read-only copies of sessions that died, wherever they came from.
    service::sweep_read_only_copies(&std::env::temp_dir());
    let door = Service::door(&loc, &user)?;
    let creds = credentials(g, &user, &door)?;
    let svc = Service::unlock(door, &user, creds)?;
    if svc.rotation_waiting() {
        eprintln!(
            "steward: warning: a key rotation an erasure asked for is waiting for free disk space; run `steward \
             rekey` once there is room"
        );
    }
    Ok(svc)
}

/// A new passphrase: `var` if set, else prompted twice; at least 8 characters.
fn new_passphrase(var: &str, user: &str, cost: Cost) -> Result<NewSecret> {
    use secrecy::ExposeSecret;
    let p = match std::env::var(var) {
        Ok(p) => SecretString::from(p),
        Err(_) => {
            let first = passphrase_prompt(&format!("New passphrase for {user}: "))?;
            let again = passphrase_prompt("Repeat it: ")?;
            if first.expose_secret() != again.expose_secret() {
                return Err(Failure("the passphrases differ; nothing was changed".into()));
            }
            first
        }
    };
    if p.expose_secret().chars().count() < 8 {
        return Err(Failure("the passphrase must have at least 8 characters; nothing was changed".into()));
    }
    Ok(NewSecret::Passphrase(p, if cost == Cost::Low { KdfCost::LOW } else { KdfCost::DEFAULT }))
}

fn init(g: &Global, admin: Option<String>, recipient: Option<String>, cost: Cost) -> Result<()> {
    let loc = location(g);
    let user = admin.unwrap_or_else(|| user_of(g));
    let slot = match recipient {
        Some(r) => NewSecret::Recipient(r),
        None => new_passphrase("STEWARD_PASSPHRASE", &user, cost)?,
    };
    let svc = Service::init(&loc, &user, slot)?;
    println!("created store {} with admin {}", svc.store_location(), user);
    Ok(())
}

/// A progress bar on stderr that only appears once work has taken a second.
struct Progress {
    bar: indicatif::ProgressBar,
    start: Instant,
    shown: std::sync::atomic::AtomicBool,
}

impl Progress {
    fn new(len: u64, unit: &str) -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::hidden());
        let style =
            indicatif::ProgressStyle::with_template(&format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{eta}})"))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        Progress { bar, start: Instant::now(), shown: false.into() }
    }

    fn set(&self, msg: &'static str, pos: u64) {
        use std::sync::atomic::Ordering;
        if !self.shown.load(Ordering::Relaxed)
            && self.start.elapsed() > Duration::from_secs(1)
            && std::io::stderr().is_terminal()
        {
            self.shown.store(true, Ordering::Relaxed);
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_message(msg);
        self.bar.set_position(pos);
    }
}

fn import_cmd(
    g: &Global,
    file: &Path,
    format: Option<Format>,
    id_column: Option<String>,
    source: String,
    dry_run: bool,
    skip_invalid: Option<PathBuf>,
) -> Result<()> {
    // Check the file before asking for a passphrase.
    let f = std::fs::File::open(file).map_err(|e| Failure(format!("cannot read {}: {e}", file.display())))?;
    let svc = open(g)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let opts = import::Options {
        format: format.unwrap_or_else(|| Format::from_path(file)),
        id_column,
        source,
        now: chrono::Utc::now(),
    };
    let progress = Progress::new(size, "bytes");
    let parsed =
        Service::read_import(std::io::BufReader::with_capacity(1 << 20, f), &opts, &mut |b| progress.set("reading", b));
    let rows = parsed.rows.len() as u64;
    let errors = parsed.errors.clone();
    progress.bar.set_length(rows);
    progress.bar.set_position(0);
    let on_invalid = if skip_invalid.is_some() { OnInvalid::Skip } else { OnInvalid::Refuse };
    let result = svc.import(parsed, on_invalid, dry_run, &|n| progress.set("sealing", n as u64));
    progress.bar.finish_and_clear();
    match result {
        Err(ServiceError::ImportRejected(errs)) => {
            for e in &errs {
                eprintln!("{}: {e}", file.display());
            }
            let hint =
                if errs.iter().any(|e| e.line > 1) { " (--skip-invalid FILE imports the valid rows)" } else { "" };
            Err(Failure(format!("import refused: {} invalid row(s); nothing was written{hint}", errs.len())))
        }
        Err(e) => Err(e.into()),
        Ok(report) => {
            if let Some(path) = skip_invalid {
                let mut w = csv::Writer::from_path(&path)
                    .map_err(|e| Failure(format!("cannot write {}: {e}", path.display())))?;
                w.write_record(["line", "reason"])?;
                for e in &errors {
                    w.write_record([e.line.to_string(), e.reason.clone()])?;
                }
                w.flush()?;
            }
            let verb = if dry_run { "would import" } else { "imported" };
            println!(
                "{verb} {} record(s) from {}: {} new, {} updated, {} unchanged, {} rejected",
                report.inserted + report.updated,
                file.display(),
                report.inserted,
                report.updated,
                report.unchanged,
                report.rejected
            );
            sources::left_out(&report);
            if !report.extra_columns.is_empty() {
                let cols: Vec<&str> = report.extra_columns.values().map(String::as_str).collect();
                println!("kept as extra fields: {}", cols.join(", "));
            }
            let _ = rows;
            Ok(())
        }
    }
}

fn gen_cmd(
    count: usize,
    seed: u64,
    output: &Path,
    truth: Option<&Path>,
    manifest: bool,
    profile: Profile,
    second: Option<&Path>,
) -> Result<()> {
    if second.is_some() && profile != Profile::Hard {
        use clap::CommandFactory;
        Cli::command().error(clap::error::ErrorKind::ArgumentConflict, "--second goes with --profile hard").exit();
    }
    let create = |p: &Path| {
        std::fs::File::create(p)
            .map(std::io::BufWriter::new)
            .map_err(|e| Failure(format!("cannot write {}: {e}", p.display())))
    };
    let mut truth_file = truth.map(create).transpose()?;
    let mut second_file = second.map(create).transpose()?;
    let truth_w = truth_file.as_mut().map(|w| w as &mut dyn Write);
    let out: Box<dyn Write> =
        if output == Path::new("-") { Box::new(std::io::stdout().lock()) } else { Box::new(create(output)?) };
    let m = match profile {
        Profile::Standard => serde_json::to_value(crate::synth::generate(count, seed, out, truth_w)?)?,
        Profile::Hard => {
            let second_w = second_file.as_mut().map(|w| w as &mut dyn Write);
            serde_json::to_value(crate::synth::hard::generate_hard(count, seed, out, second_w, truth_w)?)?
        }
    };
    if let Some(mut t) = truth_file {
        t.flush()?;
    }
    if let Some(mut t) = second_file {
        t.flush()?;
    }
    if manifest {
        eprintln!("{}", output::json_pretty(&m)?);
    }
    Ok(())
}

fn demo(g: &Global, keep: Option<PathBuf>, no_tui: bool) -> Result<()> {
    let theme = theme_of(g)?;
    let user = user_of(g);
    let (dir, _tmp) = match keep {
        Some(d) => (d, None),
        None => {
            let t = tempfile::Builder::new().prefix("steward-demo-").tempdir()?;
            (t.path().join("store"), Some(t))
        }
    };
    let svc = service::demo::build(&dir, &user).map_err(|e| match e {
        ServiceError::Store(StoreError::Exists(p)) => {
            Failure(format!("{p} already exists; open it with `steward --store {p} tui` (passphrase `demo`)"))
        }
        other => other.into(),
    })?;
    if no_tui {
        println!("demo store ready at {} (passphrase `{}`)", dir.display(), service::demo::DEMO_PASSPHRASE);
        return Ok(());
    }
    crate::tui::run(Arc::new(svc), theme, true, idle_secs(g))?;
    Ok(())
}
