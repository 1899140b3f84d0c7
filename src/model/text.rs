//! Making hostile text inert before it reaches a terminal.
//!
//! Customer data came from web forms. Before any of it is drawn or printed,
//! control characters and escape sequences become visible placeholders,
//! bidirectional overrides are neutralised, and overlong values are cut to a
//! display width with an ellipsis. Pure functions; no I/O.

use unicode_width::UnicodeWidthChar;

/// Placeholder for a character that must not reach the terminal.
const REPLACEMENT: char = '\u{FFFD}';

/// Returns a visible stand-in for characters that would act on a terminal
/// or reorder text, or `None` when `c` is safe to draw as it is.
fn placeholder(c: char) -> Option<char> {
    match c {
        // C0 controls map to the Unicode "control pictures" block: ESC → ␛.
        '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32),
        '\u{7f}' => Some('\u{2421}'),
        // C1 controls (CSI, OSC, ...), which some terminals obey.
        '\u{80}'..='\u{9f}' => Some(REPLACEMENT),
        // Bidirectional embeddings, overrides, isolates and marks.
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => Some(REPLACEMENT),
        // Zero-width and invisible formatting characters that hide text.
        '\u{200b}'..='\u{200d}' | '\u{2060}'..='\u{2064}' | '\u{feff}' => Some(REPLACEMENT),
        _ => None,
    }
}

/// True when `s` contains nothing [`sanitize`] would replace.
pub fn is_clean(s: &str) -> bool {
    s.chars().all(|c| placeholder(c).is_none())
}

/// Replaces every unsafe character with a visible placeholder.
pub fn sanitize(s: &str) -> String {
    if is_clean(s) {
        return s.to_owned();
    }
    s.chars().map(|c| placeholder(c).unwrap_or(c)).collect()
}

/// Display width of one (already sanitised) character.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Sanitises `s` and cuts it to at most `max_width` terminal columns,
/// ending with `…` when something was cut.
pub fn fit(s: &str, max_width: usize) -> String {
    if width(s) <= max_width {
        return sanitize(s);
    }
    let mut out = String::new();
    let mut used = 0;
    // Leave one column for the ellipsis.
    for c in s.chars().map(|c| placeholder(c).unwrap_or(c)) {
        let w = char_width(c);
        if used + w + 1 > max_width {
            break;
        }
        out.push(c);
        used += w;
    }
    if max_width > 0 {
        out.push('…');
    }
    out
}

/// Display width of a sanitised string.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| char_width(placeholder(c).unwrap_or(c))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_become_visible() {
        let s = sanitize("Bob\u{1b}[2J\u{1b}]0;pwned\u{7}");
        assert!(!s.contains('\u{1b}'));
        assert!(s.starts_with("Bob\u{241b}[2J"));
        assert_eq!(sanitize("a\u{202e}b"), "a\u{fffd}b");
        assert_eq!(sanitize("plain"), "plain");
    }

    #[test]
    fn fit_cuts_with_ellipsis() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abcd", 4), "abcd");
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
    }

    proptest! {
        #[test]
        fn fit_never_exceeds_width_or_leaks_controls(s in any::<String>(), w in 0usize..40) {
            let out = fit(&s, w);
            prop_assert!(width(&out) <= w);
            prop_assert!(is_clean(&out));
        }

        #[test]
        fn sanitize_is_idempotent(s in any::<String>()) {
            let once = sanitize(&s);
            prop_assert!(is_clean(&once));
            prop_assert_eq!(sanitize(&once), once.clone());
        }
    }
}
