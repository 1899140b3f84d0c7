//! JSON Lines import must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use steward::import::{Format, Options, parse};

fuzz_target!(|data: &[u8]| {
    let opts = Options { format: Format::Jsonl, id_column: Some("id".into()), source: "fuzz".into(), now: chrono::Utc::now() };
    let _ = parse(data, &opts, &mut |_| {});
});
