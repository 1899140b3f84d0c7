//! Import through the real binary: good files, bad files (nothing written),
//! header synonyms, re-import, JSON Lines, the FEBRL file.

mod common;

use common::*;

const GOOD: &str = "customer_id,First Name,Surname,E-Mail,Telephone,ZIP,DOB,Fax\n\
1,Ann,Lee,ann@example.com,+44 7700 900001,SW1A 1AA,1980-02-03,+44 20 7946 0000\n\
2,Bob,Day,bob@example.com,+44 7700 900002,EC1A 1BB,19790304,\n";

#[test]
fn header_synonyms_map_and_unknown_columns_are_kept() {
    let (tmp, store) = init_store();
    let f = write(tmp.path(), "crm.csv", GOOD.as_bytes());
    let (code, out, err) = cli(&store, &["import", f.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 new"), "{out}");
    assert!(out.contains("kept as extra fields: fax"), "{out}");
    let (code, out, _) = cli(&store, &["list", "--json"]);
    assert_eq!(code, 0);
    let rows: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(rows.len(), 2);
    let ann = &rows[0];
    assert_eq!(ann["source_id"], "1");
    assert!(ann["id"].as_str().is_some_and(|s| s.len() == 26));
    assert_eq!(ann["given_name"], "Ann");
    assert_eq!(ann["family_name"], "Lee");
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["phone"], "+44 7700 900001");
    assert_eq!(ann["postcode"], "SW1A 1AA");
    assert_eq!(ann["date_of_birth"], "1980-02-03");
    assert_eq!(ann["extra"]["fax"], "+44 20 7946 0000");
    assert_eq!(rows[1]["date_of_birth"], "1979-03-04");
}

fn refused(name: &str, content: &[u8], expect_lines: &[u64], expect_reason: &str) {
    let (tmp, store) = init_store();
    let good = write(tmp.path(), "good.csv", GOOD.as_bytes());
    assert_eq!(cli(&store, &["import", good.to_str().expect("path")]).0, 0);
    let before = record_count(&store);
    let f = write(tmp.path(), name, content);
    let (code, out, err) = cli(&store, &["import", f.to_str().expect("path"), "--source", "other"]);
    assert_eq!(code, 1, "{name} should be refused; stdout {out}");
    for line in expect_lines {
        assert!(err.contains(&format!("line {line}: ")), "{name}: no line {line} in {err}");
    }
    assert!(err.contains(expect_reason), "{name}: {err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(record_count(&store), before, "{name} changed the store");
}

#[test]
fn bad_quote_is_refused_and_nothing_changes() {
    refused("quote.csv", b"id,name\n1,Ann Lee\n2,\"Bob Day\n3,Cy Fox\n", &[3], "unclosed quote");
}

#[test]
fn non_utf8_is_refused_with_its_line() {
    let mut bytes = b"id,name\n1,Ann Lee\n2,Bob Day\n3,Ren".to_vec();
    bytes.extend_from_slice(&[0xe9, 0x20]);
    bytes.extend_from_slice(b"e Roy\n");
    refused("latin1.csv", &bytes, &[4], "not valid UTF-8");
}

#[test]
fn wrong_column_count_is_refused() {
    refused(
        "cols.csv",
        b"id,name,email\n1,Ann Lee,a@x.org\n2,Bob Day\n3,Cy,c@x.org,extra\n",
        &[3, 4],
        "expected 3 fields",
    );
}

#[test]
fn invalid_date_is_refused_without_echoing_it() {
    let (tmp, store) = init_store();
    let f = write(tmp.path(), "dates.csv", b"id,name,dob\n1,Ann Lee,1980-02-03\n2,Bob Day,03/04/1979\n");
    let (code, _, err) = cli(&store, &["import", f.to_str().expect("path")]);
    assert_eq!(code, 1);
    assert!(err.contains("line 3: date_of_birth is not a date"), "{err}");
    assert!(!err.contains("03/04/1979") && !err.contains("Bob"), "personal data in error: {err}");
    assert_eq!(record_count(&store), 0);
}

#[test]
fn skip_invalid_imports_the_rest_and_writes_rejects() {
    let (tmp, store) = init_store();
    let f = write(tmp.path(), "mixed.csv", b"id,name,dob\n1,Ann Lee,1980-02-03\n2,Bob Day,never\n3,Cy Fox,\n");
    let rejects = tmp.path().join("rejects.csv");
    let (code, out, err) =
        cli(&store, &["import", f.to_str().expect("path"), "--skip-invalid", rejects.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 new") && out.contains("1 rejected"), "{out}");
    assert_eq!(record_count(&store), 2);
    let text = std::fs::read_to_string(&rejects).expect("rejects file");
    assert!(text.starts_with("line,reason\n3,"), "{text}");
    assert!(!text.contains("Bob"), "rejects file must not hold personal data: {text}");
}

#[test]
fn reimport_updates_instead_of_duplicating() {
    let (tmp, store) = init_store();
    let f = write(tmp.path(), "crm.csv", GOOD.as_bytes());
    assert_eq!(cli(&store, &["import", f.to_str().expect("path")]).0, 0);
    let (_, before, _) = cli(&store, &["show", "1", "--json"]);
    let before: serde_json::Value = serde_json::from_str(&before).expect("json");
    let changed = GOOD.replace("ann@example.com", "ann.lee@example.org");
    let f = write(tmp.path(), "crm2.csv", changed.as_bytes());
    let (code, out, err) = cli(&store, &["import", f.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 new, 1 updated, 1 unchanged"), "{out}");
    assert_eq!(record_count(&store), 2);
    let (_, after, _) = cli(&store, &["show", "1", "--json"]);
    let after: serde_json::Value = serde_json::from_str(&after).expect("json");
    assert_eq!(after["id"], before["id"], "the record keeps its id");
    assert_eq!(after["email"], "ann.lee@example.org");
    assert_eq!(after["created"], before["created"]);
}

#[test]
fn dry_run_writes_nothing() {
    let (tmp, store) = init_store();
    let f = write(tmp.path(), "crm.csv", GOOD.as_bytes());
    let (code, out, _) = cli(&store, &["import", f.to_str().expect("path"), "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("would import 2"), "{out}");
    assert_eq!(record_count(&store), 0);
}

#[test]
fn json_lines_import() {
    let (tmp, store) = init_store();
    let f = write(
        tmp.path(),
        "web.jsonl",
        b"{\"id\": \"w1\", \"firstName\": \"Zoe\", \"lastName\": \"Ng\", \"email\": \"zoe@example.net\", \"newsletter\": true}\n\n{\"id\": \"w2\", \"name\": \"Yan Li\", \"mobile\": \"+61 400 000 000\"}\n",
    );
    let (code, out, err) = cli(&store, &["import", f.to_str().expect("path")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 new"), "{out}");
    let (_, out, _) = cli(&store, &["show", "w2", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["given_name"], "Yan");
    assert_eq!(v["family_name"], "Li");
    let (_, out, _) = cli(&store, &["show", "w1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["extra"]["newsletter"], "true");
}

#[test]
fn febrl_imports_with_only_the_id_column_named() {
    let (_tmp, store) = init_store();
    let (code, out, err) = cli(&store, &["import", febrl().to_str().expect("path"), "--id-column", "rec_id"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1000 new"), "{out}");
    assert!(out.contains("soc_sec_id"), "{out}");
    assert_eq!(record_count(&store), 1000);
    let (_, out, _) = cli(&store, &["show", "rec-10-dup-0", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["family_name"], "harrington");
    assert_eq!(v["locality"], "coolaroo");
    assert_eq!(v["date_of_birth"], "1915-06-12");
}

#[test]
fn emails_are_not_greppable_after_import() {
    let (tmp, store) = init_store();
    let f = write(tmp.path(), "crm.csv", GOOD.as_bytes());
    assert_eq!(cli(&store, &["import", f.to_str().expect("path")]).0, 0);
    for (path, bytes) in all_files(&store) {
        for needle in ["ann@example.com", "bob@example.com", "SW1A 1AA", "+44 7700 900001"] {
            assert!(!contains(&bytes, needle.as_bytes()), "{needle} in {}", path.display());
        }
    }
}
