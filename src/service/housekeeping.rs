//! Retention housekeeping: every record past the retention of all its
//! purposes (the `expired` findings) is erased or anonymised in one step,
//! with one receipt. The list comes from the same scan as the findings.

use serde::Serialize;

use super::actions::{ErasePlan, Strategy};
use super::{Service, ServiceError};
use crate::crypto::Role;
use crate::findings::{self, Kind};
use crate::model::RecordId;

/// A record past retention and why.
#[derive(Clone, Debug, Serialize)]
pub struct Expired {
    pub id: RecordId,
    pub source_id: String,
    pub reasons: Vec<String>,
}

impl Service {
    /// The records past retention and the erasure that would remove them.
    pub fn housekeeping_plan(&self, strategy: Strategy) -> Result<(Vec<Expired>, ErasePlan), ServiceError> {
        self.require(Role::Admin, "run housekeeping", &[])?;
        let records = self.store.load_all(&mut |_| {})?;
        let (policy, _) = self.policy()?;
        let report = findings::scan(&records, &policy, crate::model::now(), &|_| {});
        let expired: Vec<Expired> = report
            .findings
            .iter()
            .filter(|f| f.kind == Kind::Expired)
            .filter_map(|f| f.records.first().and_then(|&i| records.get(i as usize)).map(|r| (r, f)))
            .map(|(r, f)| Expired { id: r.id, source_id: r.source_id.clone(), reasons: f.reasons.clone() })
            .collect();
        let ids: Vec<RecordId> = expired.iter().map(|e| e.id).collect();
        let plan = self.plan_erase(&ids, strategy)?;
        Ok((expired, plan))
    }
}
