//! Overlays drawn above a screen, one file each.

pub mod forms;
pub mod help;
