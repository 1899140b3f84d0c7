//! Data-subject requests: what a customer asked for, when, under which law,
//! who they say they are, and what happened since. The requester's contact
//! details are personal data: the store seals a request like a record and
//! erasure takes it with the records it is about.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::RecordId;

/// What the customer asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    Erasure,
    Access,
    Portability,
    Rectification,
    Restriction,
    /// Objection, or opt-out of marketing / sale.
    Objection,
}

impl RequestKind {
    /// The kind a web form or ticket system calls it (`deletion`, `DSAR`,
    /// `do not sell` ...), case-insensitive.
    pub fn parse(s: &str) -> Option<RequestKind> {
        let s = s.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        Some(match s.as_str() {
            "erasure" | "erase" | "deletion" | "delete" | "right to be forgotten" | "forget" => RequestKind::Erasure,
            "access" | "copy" | "sar" | "dsar" | "subject access" | "know" | "right to know" => RequestKind::Access,
            "portability" | "port" | "data portability" => RequestKind::Portability,
            "rectification" | "rectify" | "correction" | "correct" => RequestKind::Rectification,
            "restriction" | "restrict" | "limit" => RequestKind::Restriction,
            "objection" | "object" | "opt out" | "optout" | "do not sell" | "unsubscribe" => RequestKind::Objection,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Erasure => "erasure",
            RequestKind::Access => "access",
            RequestKind::Portability => "portability",
            RequestKind::Rectification => "rectification",
            RequestKind::Restriction => "restriction",
            RequestKind::Objection => "objection",
        }
    }
}

/// Where a request is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Status {
    New,
    Verifying,
    InProgress,
    Completed,
    Rejected {
        reason: String,
    },
    /// Extended, and the date the requester was told.
    Extended {
        reason: String,
        notified: NaiveDate,
    },
}

impl Status {
    pub fn name(&self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Verifying => "verifying",
            Status::InProgress => "in progress",
            Status::Completed => "completed",
            Status::Rejected { .. } => "rejected",
            Status::Extended { .. } => "extended",
        }
    }

    /// Still waiting for an answer.
    pub fn is_open(&self) -> bool {
        !matches!(self, Status::Completed | Status::Rejected { .. })
    }
}

/// Who is asking (personal data): the identifiers people actually give.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Their customer number (a source id) as they wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_number: Option<String>,
    /// YYYY-MM-DD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postcode: Option<String>,
    /// A street address ("12 High Street").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Requester {
    /// Whether the requester gave anything to find them by.
    pub fn is_empty(&self) -> bool {
        [
            &self.name,
            &self.email,
            &self.phone,
            &self.customer_number,
            &self.date_of_birth,
            &self.postcode,
            &self.address,
        ]
        .iter()
        .all(|v| v.as_deref().is_none_or(|s| s.trim().is_empty()))
    }
}

/// Whether the requester has shown they are who they say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// `unverified`, `verified` or `failed`.
    pub status: String,
    /// How (e.g. "replied from the email on file", "ID document").
    pub method: Option<String>,
}

/// One step in a request's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub time: DateTime<Utc>,
    pub user: String,
    pub what: String,
}

/// What intake knows about a new request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRequest {
    /// The reference to use (generated when absent).
    pub reference: Option<String>,
    pub kind: RequestKind,
    pub jurisdiction: String,
    pub received: NaiveDate,
    pub channel: String,
    pub requester: Requester,
}

/// A data-subject request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The reference quoted to the requester (`REQ-2026-0001` unless given).
    pub reference: String,
    pub kind: RequestKind,
    /// Key of the jurisdiction's rules (`gdpr`, `ccpa`).
    pub jurisdiction: String,
    pub received: NaiveDate,
    /// How it arrived: email, web form, phone, letter ...
    pub channel: String,
    pub requester: Requester,
    pub verification: Verification,
    /// Records confirmed to be the requester's.
    pub records: Vec<RecordId>,
    pub status: Status,
    pub notes: Vec<String>,
    pub history: Vec<Step>,
    /// Erasure receipts and export files that answered it.
    pub answers: Vec<String>,
    /// The receipt of the erasure that also erased the requester's details
    /// (they went with the records the request is about).
    #[serde(default)]
    pub requester_erased: Option<String>,
}
