//! Page and record decoding of arbitrary bytes never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use steward::model::decode;
use steward::store::page::Page;

fuzz_target!(|data: &[u8]| {
    let _ = Page::decode(data);
    let _ = decode(data);
});
