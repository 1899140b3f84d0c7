//! Sanitised text never carries a control character and fits its width.
#![no_main]
use libfuzzer_sys::fuzz_target;
use steward::model::text::{fit, is_clean, width};

fuzz_target!(|data: (&str, u8)| {
    let (s, w) = data;
    let out = fit(s, usize::from(w));
    assert!(is_clean(&out));
    assert!(width(&out) <= usize::from(w));
});
