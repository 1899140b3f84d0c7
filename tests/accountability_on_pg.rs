//! The tests of `tests/accountability.rs` again, with every store in a
//! PostgreSQL database of the test cluster (see `common::on_postgres`).

#[path = "accountability.rs"]
mod on_pg;
