//! Duplicate-matching quality and speed: pairwise precision, recall and F1
//! of the clusters, blocking pair completeness (the share of true pairs
//! that meet in some block) and time, on files with ground truth or on
//! data `steward gen` makes.
//!
//! ```sh
//! cargo bench --bench matching -- febrl FILE [FILE2] [--drop COLUMN]
//! cargo bench --bench matching -- truth FILE TRUTH [FILE2]
//! cargo bench --bench matching -- gen N [--profile hard] [--seed S] [--sources 2]
//! cargo bench --bench matching -- requests N [--profile hard] [--seed S]
//! ```
//!
//! `febrl`: FEBRL files, whose `rec_id` (`rec-N-org`, `rec-N-dup-K`) is the
//! truth; a second file is imported as a second source (linkage). `truth`:
//! a CSV with a `customer_id,person` truth file. `--drop COLUMN` removes a
//! column before import (e.g. `soc_sec_id`). `--show N` prints up to N
//! wrong and missed pairs with their explanations (synthetic data only).
//! `--passes` prints the pairs and true pairs of each blocking pass alone.
//! `requests`: requests built from generated people (email only, phone
//! only, name and email, name only) matched as `request match` does.

use std::collections::HashMap;
use std::time::Instant;

use steward::findings::duplicates::{self, Features, Settings};
use steward::import::{self, Format, Options};
use steward::model::Record;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn positional() -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        if a.starts_with("--") {
            skip = !matches!(a.as_str(), "--bench" | "--passes");
            continue;
        }
        out.push(a);
    }
    out
}

fn peak_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// Drops a column from CSV bytes.
fn drop_column(bytes: &[u8], column: &str) -> Vec<u8> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(bytes);
    let headers = rdr.headers().expect("header").clone();
    let keep: Vec<usize> = (0..headers.len()).filter(|&i| headers[i].trim() != column).collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(keep.iter().map(|&i| &headers[i])).expect("write");
    for rec in rdr.records() {
        let rec = rec.expect("row");
        w.write_record(keep.iter().map(|&i| rec.get(i).unwrap_or(""))).expect("write");
    }
    w.into_inner().expect("flush")
}

fn parse(bytes: &[u8], source: &str, id_column: Option<&str>) -> Vec<Record> {
    let opts = Options {
        format: Format::Csv,
        id_column: id_column.map(str::to_owned),
        source: source.into(),
        now: chrono::Utc::now(),
    };
    let parsed = import::parse(bytes, &opts, &mut |_| {});
    assert!(
        parsed.errors.is_empty(),
        "{} rows refused: {:?}",
        parsed.errors.len(),
        &parsed.errors[..3.min(parsed.errors.len())]
    );
    parsed.rows.into_iter().map(|r| r.record).collect()
}

fn febrl_person(id: &str) -> String {
    id.trim().strip_prefix("rec-").and_then(|r| r.split('-').next()).unwrap_or(id).to_owned()
}

struct Outcome {
    records: usize,
    true_pairs: usize,
    candidates: usize,
    candidate_true: usize,
    reported: usize,
    correct: usize,
    seconds: f64,
    stats: duplicates::DuplicateStats,
}

fn evaluate(records: &[Record], person: &[String], show: usize) -> Outcome {
    let settings = Settings {
        match_probability: arg("--match").and_then(|s| s.parse().ok()).unwrap_or(0.98),
        cluster_probability: arg("--cluster").and_then(|s| s.parse().ok()).unwrap_or(0.05),
    };
    let t = Instant::now();
    let mut features = Features::all(records);
    let found = duplicates::find(&mut features, settings, &duplicates::Apart::default());
    let seconds = t.elapsed().as_secs_f64();
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for p in person {
        *sizes.entry(p.as_str()).or_default() += 1;
    }
    let true_pairs: usize = sizes.values().map(|k| k * (k - 1) / 2).sum();
    let (cands, _) = duplicates::candidate_pairs(&features);
    let candidate_true = cands.iter().filter(|(a, b)| person[*a as usize] == person[*b as usize]).count();
    if std::env::args().any(|a| a == "--passes") {
        // What each blocking pass gives alone: pairs, and true pairs found.
        for (k, name) in duplicates::PASSES.iter().enumerate() {
            let of = duplicates::candidate_pairs_of(&features, &[k]);
            let hits = of.iter().filter(|(a, b)| person[*a as usize] == person[*b as usize]).count();
            println!("  pass {k} {name}: {} pairs, {hits} true", of.len());
        }
    }
    let (mut reported, mut correct) = (0, 0);
    let mut wrong = Vec::new();
    let mut in_cluster: HashMap<u32, usize> = HashMap::new();
    for (c, cl) in found.clusters.iter().enumerate() {
        for (x, &a) in cl.members.iter().enumerate() {
            in_cluster.insert(a, c);
            for &b in &cl.members[x + 1..] {
                reported += 1;
                if person[a as usize] == person[b as usize] {
                    correct += 1;
                } else {
                    wrong.push((a, b));
                }
            }
        }
    }
    if show > 0 {
        let describe = |i: u32| {
            let r = &records[i as usize];
            format!(
                "{} | {} {} | {:?} | {} | {} | {} {} {} | {}",
                r.source_id,
                r.given_name.as_deref().unwrap_or(""),
                r.family_name.as_deref().unwrap_or(""),
                r.date_of_birth.map(|d| d.to_string()),
                r.email.as_deref().unwrap_or(""),
                r.phone.as_deref().unwrap_or(""),
                r.address.line1.as_deref().unwrap_or(""),
                r.address.locality.as_deref().unwrap_or(""),
                r.address.postcode.as_deref().unwrap_or(""),
                person[i as usize],
            )
        };
        let explain = |a: u32, b: u32| {
            let e = duplicates::explain(&found.model, &features[a as usize], &features[b as usize]);
            let p = found.model.probability(&features[a as usize], &features[b as usize]);
            format!("p={p:.4} {}", steward::findings::waterfall_line(&e))
        };
        println!("\nwrong pairs ({}):", wrong.len());
        for &(a, b) in wrong.iter().take(show) {
            println!("  {}\n  {}\n    {}", describe(a), describe(b), explain(a, b));
        }
        let mut by_person: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, p) in person.iter().enumerate() {
            by_person.entry(p.as_str()).or_default().push(i as u32);
        }
        let mut missed = Vec::new();
        for members in by_person.values() {
            for (x, &a) in members.iter().enumerate() {
                for &b in &members[x + 1..] {
                    let same = in_cluster.contains_key(&a) && in_cluster.get(&a) == in_cluster.get(&b);
                    if !same {
                        missed.push((a, b));
                    }
                }
            }
        }
        missed.sort_unstable();
        let cand: std::collections::HashSet<(u32, u32)> = cands.iter().copied().collect();
        // Why pairs were missed, in buckets.
        let mut why: std::collections::BTreeMap<&str, usize> = Default::default();
        for &(a, b) in &missed {
            let blocked = cand.contains(&(a.min(b), a.max(b)));
            let s = found.model.score(&features[a as usize], &features[b as usize]);
            let bucket = match (blocked, s.household, s.probability) {
                (false, _, _) => "never blocked",
                (true, _, p) if p >= 0.98 => "p >= 0.98 (cluster rules)",
                (true, true, p) if p >= 0.5 => "household 0.5-0.98",
                (true, true, _) => "household < 0.5",
                (true, false, p) if p >= 0.5 => "strangers 0.5-0.98",
                (true, false, _) => "strangers < 0.5",
            };
            *why.entry(bucket).or_default() += 1;
        }
        println!("missed by reason: {why:?}");
        println!("\nmissed pairs ({}):", missed.len());
        for &(a, b) in missed.iter().take(show) {
            let blocked = cand.contains(&(a.min(b), a.max(b)));
            println!(
                "  {}\n  {}\n    {} {}",
                describe(a),
                describe(b),
                if blocked { "" } else { "[never blocked]" },
                explain(a, b)
            );
        }
    }
    Outcome {
        records: records.len(),
        true_pairs,
        candidates: cands.len(),
        candidate_true,
        reported,
        correct,
        seconds,
        stats: found.stats,
    }
}

fn report(name: &str, o: &Outcome) {
    let p = o.correct as f64 / o.reported.max(1) as f64;
    let r = o.correct as f64 / o.true_pairs.max(1) as f64;
    let f1 = if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    println!(
        "| {name} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {:.3} s | {} MiB |",
        o.records,
        o.true_pairs,
        p,
        r,
        f1,
        o.candidate_true as f64 / o.true_pairs.max(1) as f64,
        o.candidates,
        o.seconds,
        peak_mib(),
    );
    eprintln!("  {:?}", o.stats);
}

fn header() {
    println!(
        "| data | records | true pairs | precision | recall | F1 | pair completeness | candidate pairs | time | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
}

fn main() {
    let pos = positional();
    let show: usize = arg("--show").and_then(|s| s.parse().ok()).unwrap_or(0);
    match pos.first().map(String::as_str) {
        Some("febrl") => {
            let mut records = Vec::new();
            for (k, path) in pos[1..].iter().enumerate() {
                let mut bytes = std::fs::read(path).expect("read file");
                if let Some(col) = arg("--drop") {
                    bytes = drop_column(&bytes, &col);
                }
                records.extend(parse(&bytes, &format!("src{k}"), Some("rec_id")));
            }
            let person: Vec<String> = records.iter().map(|r| febrl_person(&r.source_id)).collect();
            header();
            let name = pos[1..]
                .iter()
                .map(|p| {
                    std::path::Path::new(p).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" + ");
            let suffix = arg("--drop").map(|c| format!(" without {c}")).unwrap_or_default();
            report(&format!("{name}{suffix}"), &evaluate(&records, &person, show));
        }
        Some("truth") => {
            let truth_path = &pos[2];
            let truth: HashMap<String, String> = std::fs::read_to_string(truth_path)
                .expect("truth")
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(',').map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned())))
                .collect();
            let mut records = parse(&std::fs::read(&pos[1]).expect("file"), "a", None);
            for (k, extra) in pos[3..].iter().enumerate() {
                records.extend(parse(&std::fs::read(extra).expect("file"), &format!("src{k}"), None));
            }
            let person: Vec<String> =
                records.iter().map(|r| truth.get(&r.source_id).cloned().expect("every id in the truth")).collect();
            header();
            report(&pos[1], &evaluate(&records, &person, show));
        }
        Some("gen") => {
            let n: usize = pos.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            let seed: u64 = arg("--seed").and_then(|s| s.parse().ok()).unwrap_or(1);
            let profile = arg("--profile").unwrap_or_else(|| "standard".into());
            let sources: usize = arg("--sources").and_then(|s| s.parse().ok()).unwrap_or(1);
            let (records, person) = generated(n, seed, &profile, sources);
            header();
            report(&format!("gen {profile} {n} seed {seed}"), &evaluate(&records, &person, show));
        }
        _ => {
            eprintln!("usage: see the header of benches/matching.rs");
            std::process::exit(2);
        }
    }
}

/// Records and the person of each, from the generator.
fn generated(n: usize, seed: u64, profile: &str, sources: usize) -> (Vec<Record>, Vec<String>) {
    let mut csv = Vec::new();
    let mut second = Vec::new();
    let mut truth = Vec::new();
    match profile {
        "standard" => {
            steward::synth::generate(n, seed, &mut csv, Some(&mut truth)).expect("generate");
        }
        "hard" => {
            let second = (sources > 1).then_some(&mut second as &mut dyn std::io::Write);
            let m = steward::synth::hard::generate_hard(n, seed, &mut csv, second, Some(&mut truth)).expect("generate");
            eprintln!("  {m:?}");
        }
        other => panic!("unknown profile {other}"),
    }
    let mut records = parse(&csv, "gen", None);
    if !second.is_empty() {
        records.extend(parse(&second, "shop", None));
    }
    let map: HashMap<String, String> = String::from_utf8_lossy(&truth)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(',').map(|(a, b)| (a.to_owned(), b.to_owned())))
        .collect();
    let person = records.iter().map(|r| map[&r.source_id].clone()).collect();
    (records, person)
}
