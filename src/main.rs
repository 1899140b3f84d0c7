//! The `steward` binary: all behaviour lives in the library's `cli` module.

fn main() {
    std::process::exit(steward::cli::main());
}
