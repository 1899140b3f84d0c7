//! The tests of `tests/requests.rs` again, with every store in a PostgreSQL
//! database of the test cluster (see `common::on_postgres`).

#[path = "requests.rs"]
mod on_pg;
