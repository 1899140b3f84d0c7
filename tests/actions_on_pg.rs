//! The tests of `tests/actions.rs` again, with every store in a PostgreSQL
//! database of the test cluster (see `common::on_postgres`).

#[path = "actions.rs"]
mod on_pg;
