//! Overlays drawn above a screen, one file each.

pub mod help;
