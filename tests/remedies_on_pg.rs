//! The tests of `tests/remedies.rs` again, with every store in a PostgreSQL
//! database of the test cluster (see `common::on_postgres`).

#[path = "remedies.rs"]
mod on_pg;
