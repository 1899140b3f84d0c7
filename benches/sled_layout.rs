//! Why records are stored in pages and the source index in buckets.
//!
//! Writes N records' worth of 360-byte sealed values to sled in three
//! layouts and prints records per second:
//!   1. one entry per record + one random-key index entry per record
//!      (the first design),
//!   2. one entry per record, no per-record index entry,
//!   3. pages of 16 records (the design in `store::page`).
//!
//! `cargo bench --bench sled_layout [-- N]` (default 100000).

use std::time::Instant;

fn run(n: usize, value_len: usize, per_entry: usize, with_index: bool) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(256 << 20)
        .mode(sled::Mode::HighThroughput)
        .open()
        .expect("open sled");
    let entries = n.div_ceil(per_entry);
    let value = vec![7u8; value_len * per_entry];
    let start = Instant::now();
    let mut done = 0;
    while done < entries {
        let mut batch = sled::Batch::default();
        for j in done..(done + 512).min(entries) {
            let mut k = vec![b'p'];
            k.extend_from_slice(&ulid::Ulid::new().to_bytes());
            batch.insert(k, value.clone());
            if with_index {
                let mut k2 = vec![b's'];
                k2.extend_from_slice(blake3::hash(&j.to_le_bytes()).as_bytes());
                batch.insert(k2, &[0u8; 16][..]);
            }
        }
        db.apply_batch(batch).expect("batch");
        done += 512;
    }
    db.flush().expect("flush");
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    println!("sled layouts, {n} records of 360 bytes, records/s (median of 3)");
    for (label, per, idx) in [
        ("entry per record + random-key index entry", 1, true),
        ("entry per record, no index entry", 1, false),
        ("pages of 16 records", 16, false),
    ] {
        let mut runs: Vec<f64> = (0..3).map(|_| run(n, 360, per, idx)).collect();
        runs.sort_by(f64::total_cmp);
        println!("{label:<45} {:>10.0}", runs[1]);
    }
}
