//! The `steward` binary: all behaviour lives in the library's `cli` module.

/// mimalloc: sled and the parallel sealing allocate heavily; glibc's malloc
/// spent a third of import time in page faults and arena locks (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(steward::cli::main());
}
