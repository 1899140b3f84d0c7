//! One file per screen. Each draws from `App` state only.

pub mod audit;
pub mod dashboard;
pub mod findings;
pub mod records;
pub mod requests;
