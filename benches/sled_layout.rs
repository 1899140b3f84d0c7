use std::time::Instant;
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let vlen: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(450);
    let chunk: usize = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mode = std::env::args().nth(4).unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let mut c = sled::Config::new().path(dir.path()).cache_capacity(256 << 20).mode(sled::Mode::HighThroughput);
    if std::env::var("NOFLUSH").is_ok() { c = c.flush_every_ms(None); }
    if let Ok(s) = std::env::var("SEG") { c = c.segment_size(s.parse().unwrap()); }
    let db = c.open().unwrap();
    let t = Instant::now();
    let v = vec![7u8; vlen];
    let mut i = 0;
    while i < n {
        let mut b = sled::Batch::default();
        for j in i..(i + chunk).min(n) {
            let id = ulid::Ulid::new().to_bytes();
            let mut k = vec![b'r']; k.extend_from_slice(&id);
            if mode == "one" { db.insert(k, v.clone()).unwrap(); } else { b.insert(k, v.clone()); }
            if mode != "noidx" {
                let h = blake3::hash(&j.to_le_bytes());
                let mut k2 = vec![b's']; k2.extend_from_slice(h.as_bytes());
                if mode == "one" { db.insert(k2, &id[..]).unwrap(); } else { b.insert(k2, &id[..]); }
            }
        }
        db.apply_batch(b).unwrap();
        i += chunk;
    }
    db.flush().unwrap();
    println!("{n} x {vlen}B chunk {chunk} {mode}: {:?} -> {:.0} rec/s", t.elapsed(), n as f64 / t.elapsed().as_secs_f64());
}
