//! One file per screen. Each draws from `App` state only.

pub mod dashboard;
pub mod placeholder;
pub mod records;
