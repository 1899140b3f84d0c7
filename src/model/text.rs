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

/// JSON made inert for a terminal and for the scripts that read it: every
/// character [`sanitize`] would replace above the C0 controls (which
/// serde_json escapes itself) — DEL, C1 controls, bidirectional overrides,
/// invisible formatting — and the line and paragraph separators become
/// `\uXXXX` escapes. They only occur inside JSON strings, and the escapes
/// parse back to the same text.
pub fn inert_json(json: String) -> String {
    let escaped = |c: char| c >= '\u{7f}' && (placeholder(c).is_some() || matches!(c, '\u{2028}' | '\u{2029}'));
    if !json.chars().any(escaped) {
        return json;
    }
    use std::fmt::Write;
    let mut out = String::with_capacity(json.len() + 32);
    for c in json.chars() {
        if escaped(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// Display width of one (already sanitised) character.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// A whole document (Markdown a terminal or an editor shows) made inert
/// line by line: control characters go, the lines stay.
pub fn inert_lines(s: &str) -> String {
    s.lines().map(sanitize).collect::<Vec<_>>().join("\n") + "\n"
}

/// A value for a CSV cell a spreadsheet may open (a mailing list, an
/// extract): a value that would start a formula (`=`, `@`, a tab or return,
/// or `+`/`-` followed by more than a number) gets a leading `'`, so
/// customer data never runs as one. Phone numbers (`+44 7911 123456`,
/// `-`-separated digits) stay as they are.
pub fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    let number = |rest: &str| rest.chars().all(|c| c.is_ascii_digit() || " ()-.+/".contains(c));
    let risky = match s.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => !number(&s[1..]),
        _ => false,
    };
    if risky { std::borrow::Cow::Owned(format!("'{s}")) } else { std::borrow::Cow::Borrowed(s) }
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

    #[test]
    fn csv_cells_never_start_a_formula() {
        assert_eq!(csv_cell("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("+cmd|' /C calc'!A0"), "'+cmd|' /C calc'!A0");
        assert_eq!(csv_cell("-2+3+cmd|x"), "'-2+3+cmd|x");
        assert_eq!(csv_cell("+44 7911 123456"), "+44 7911 123456");
        assert_eq!(csv_cell("(212) 555-0123"), "(212) 555-0123");
        assert_eq!(csv_cell("Ann-Marie"), "Ann-Marie");
        assert_eq!(csv_cell(""), "");
    }
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn inert_json_round_trips_and_holds_nothing_unsafe(v in "\\PC*|[\u{7f}-\u{9f}\u{202a}-\u{202e}\u{2066}-\u{2069}a\n]*") {
            let json = inert_json(serde_json::to_string_pretty(&serde_json::json!({"name": v, "list": [v]})).expect("json"));
            prop_assert!(json.chars().all(|c| c.is_ascii() || (c >= '\u{a0}' && placeholder(c).is_none() && c != '\u{2028}' && c != '\u{2029}')), "{json:?}");
            let back: serde_json::Value = serde_json::from_str(&json).expect("parses");
            prop_assert_eq!(back["name"].as_str(), Some(v.as_str()));
        }
    }

    #[test]
    fn json_escapes_c1_del_and_bidi() {
        let json = inert_json(serde_json::to_string("a\u{7f}b\u{9b}c\u{202e}d\u{2067}é").expect("json"));
        assert_eq!(json, "\"a\\u007fb\\u009bc\\u202ed\\u2067é\"");
    }

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
