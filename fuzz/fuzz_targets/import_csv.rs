//! CSV import must never panic, and every row is either a record or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use steward::import::{Format, Options, parse};

fuzz_target!(|data: &[u8]| {
    let opts = Options { format: Format::Csv, id_column: None, source: "fuzz".into(), now: chrono::Utc::now() };
    let p = parse(data, &opts, &mut |_| {});
    for row in &p.rows {
        assert!(!row.record.source_id.is_empty());
    }
});
