//! Themes: TOML with a palette, inheritance and semantic style names.
//!
//! Code asks for slots such as `ui.selection` or `record.stale`, never raw
//! colours; a missing slot falls back to its parent (`ui.border.focused` →
//! `ui.border` → `ui`). Colours are reduced to what the terminal can show
//! (truecolor, 256 or 16 colours). `NO_COLOR` is resolved here, keeping bold,
//! underline and reverse, so the selection stays visible.

use std::collections::HashMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// Themes shipped in the binary.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
    ("colorblind", include_str!("../../themes/colorblind.toml")),
];

/// How many colours the terminal shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorDepth {
    None,
    Ansi16,
    Ansi256,
    TrueColor,
}

impl ColorDepth {
    /// From the environment: `NO_COLOR`, `COLORTERM`, `TERM`. OpenSSH does
    /// not forward `COLORTERM`, so remote sessions usually get 256 colours.
    pub fn detect() -> ColorDepth {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        if !var("NO_COLOR").is_empty() {
            return ColorDepth::None;
        }
        let ct = var("COLORTERM").to_lowercase();
        if ct.contains("truecolor") || ct.contains("24bit") {
            return ColorDepth::TrueColor;
        }
        let term = var("TERM");
        if term.contains("256") || term.contains("direct") {
            ColorDepth::Ansi256
        } else if term == "dumb" {
            ColorDepth::None
        } else {
            ColorDepth::Ansi16
        }
    }
}

#[derive(Deserialize, Default)]
struct ThemeFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    inherits: Option<String>,
    #[serde(default)]
    palette: HashMap<String, String>,
    #[serde(default)]
    styles: HashMap<String, StyleSpec>,
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

/// A resolved theme.
#[derive(Clone, Debug)]
pub struct Theme {
    pub name: String,
    styles: HashMap<String, Style>,
    depth: ColorDepth,
}

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("unknown theme `{0}` (built in: default, light, high-contrast, colorblind; or give a path)")]
    Unknown(String),
    #[error("theme {0}: {1}")]
    Parse(String, String),
    #[error("theme inheritance is circular at `{0}`")]
    Cycle(String),
}

fn parse_color(s: &str, palette: &HashMap<String, String>, depth: usize) -> Option<Color> {
    if let Some(p) = palette.get(s) {
        return if depth < 8 { parse_color(p, palette, depth + 1) } else { None };
    }
    if let Some(hex) = s.strip_prefix('#')
        && hex.len() == 6
    {
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    if let Ok(i) = s.parse::<u8>() {
        return Some(Color::Indexed(i));
    }
    s.parse::<Color>().ok()
}

fn parse_modifier(s: &str) -> Option<Modifier> {
    Some(match s {
        "bold" => Modifier::BOLD,
        "dim" => Modifier::DIM,
        "italic" => Modifier::ITALIC,
        "underlined" => Modifier::UNDERLINED,
        "reversed" => Modifier::REVERSED,
        "crossed_out" => Modifier::CROSSED_OUT,
        _ => return None,
    })
}

/// Standard xterm values of the 16 ANSI colours, for nearest-colour mapping.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

fn dist(a: (u8, u8, u8), b: (u8, u8, u8)) -> u32 {
    let d = |x: u8, y: u8| (i32::from(x) - i32::from(y)).unsigned_abs();
    d(a.0, b.0).pow(2) + d(a.1, b.1).pow(2) + d(a.2, b.2).pow(2)
}

/// Nearest colour of the xterm 256-colour cube or grey ramp.
fn to_256(rgb: (u8, u8, u8)) -> Color {
    let level = |v: u8| -> u8 {
        if v < 48 {
            0
        } else if v < 115 {
            1
        } else {
            (v - 35) / 40
        }
    };
    let steps = [0u8, 95, 135, 175, 215, 255];
    let (r, g, b) = (level(rgb.0), level(rgb.1), level(rgb.2));
    let cube = (steps[r as usize], steps[g as usize], steps[b as usize]);
    let avg = ((u16::from(rgb.0) + u16::from(rgb.1) + u16::from(rgb.2)) / 3) as u8;
    let gi = if avg > 238 { 23 } else { avg.saturating_sub(3) / 10 };
    let grey = 8 + 10 * gi;
    if dist(rgb, (grey, grey, grey)) < dist(rgb, cube) {
        Color::Indexed(232 + gi)
    } else {
        Color::Indexed(16 + 36 * r + 6 * g + b)
    }
}

fn to_16(rgb: (u8, u8, u8)) -> Color {
    ANSI16.iter().min_by_key(|(_, c)| dist(rgb, *c)).map(|(c, _)| *c).unwrap_or(Color::Reset)
}

fn reduce(c: Option<Color>, depth: ColorDepth) -> Option<Color> {
    match (c?, depth) {
        (_, ColorDepth::None) => None,
        (Color::Rgb(r, g, b), ColorDepth::Ansi256) => Some(to_256((r, g, b))),
        (Color::Rgb(r, g, b), ColorDepth::Ansi16) => Some(to_16((r, g, b))),
        (Color::Indexed(i), ColorDepth::Ansi16) if i >= 16 => None,
        (c, _) => Some(c),
    }
}

fn load_file(source: &str, origin: &str) -> Result<ThemeFile, ThemeError> {
    toml::from_str(source).map_err(|e| ThemeError::Parse(origin.to_owned(), e.message().to_owned()))
}

fn find(name: &str) -> Result<(ThemeFile, String), ThemeError> {
    if let Some((_, src)) = BUILTIN.iter().find(|(n, _)| *n == name) {
        return Ok((load_file(src, name)?, name.to_owned()));
    }
    let path = Path::new(name);
    if path.extension().is_some() || name.contains('/') {
        let src =
            std::fs::read_to_string(path).map_err(|e| ThemeError::Parse(path.display().to_string(), e.to_string()))?;
        return Ok((load_file(&src, &path.display().to_string())?, path.display().to_string()));
    }
    Err(ThemeError::Unknown(name.to_owned()))
}

impl Theme {
    /// Loads a built-in theme by name, or a theme file by path.
    pub fn load(name_or_path: &str, depth: ColorDepth) -> Result<Theme, ThemeError> {
        // Resolve the inheritance chain, root first.
        let mut chain = Vec::new();
        let mut next = Some(name_or_path.to_owned());
        while let Some(n) = next {
            if chain.iter().any(|(_, origin): &(ThemeFile, String)| *origin == n) || chain.len() > 8 {
                return Err(ThemeError::Cycle(n));
            }
            let (file, origin) = find(&n)?;
            next = file.inherits.clone();
            chain.push((file, origin));
        }
        let name = chain.first().and_then(|(f, _)| f.name.clone()).unwrap_or_else(|| name_or_path.to_owned());
        let mut palette = HashMap::new();
        let mut specs: HashMap<String, StyleSpec> = HashMap::new();
        for (file, _) in chain.iter().rev() {
            palette.extend(file.palette.clone());
            specs.extend(file.styles.clone());
        }
        let mut styles = HashMap::new();
        for (key, spec) in specs {
            let mut st = Style::default();
            if let Some(fg) = reduce(spec.fg.as_deref().and_then(|c| parse_color(c, &palette, 0)), depth) {
                st = st.fg(fg);
            }
            if let Some(bg) = reduce(spec.bg.as_deref().and_then(|c| parse_color(c, &palette, 0)), depth) {
                st = st.bg(bg);
            }
            for m in &spec.modifiers {
                if let Some(m) = parse_modifier(m) {
                    st = st.add_modifier(m);
                }
            }
            styles.insert(key, st);
        }
        if depth == ColorDepth::None {
            // Without colour, the selection must still show: reverse it.
            let sel = styles.entry("ui.selection".into()).or_default();
            *sel = sel.add_modifier(Modifier::REVERSED);
            let bar = styles.entry("ui.statusbar".into()).or_default();
            *bar = bar.add_modifier(Modifier::REVERSED);
        }
        Ok(Theme { name, styles, depth })
    }

    /// The embedded default theme; never fails.
    pub fn fallback() -> Theme {
        Theme::load("default", ColorDepth::detect()).unwrap_or(Theme {
            name: "default".into(),
            styles: HashMap::new(),
            depth: ColorDepth::None,
        })
    }

    /// The style for a slot, falling back through its parents.
    pub fn style(&self, slot: &str) -> Style {
        let mut key = slot;
        loop {
            if let Some(s) = self.styles.get(key) {
                return *s;
            }
            match key.rfind('.') {
                Some(i) => key = &key[..i],
                None => return Style::default(),
            }
        }
    }

    pub fn depth(&self) -> ColorDepth {
        self.depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_loads_at_every_depth() {
        for (name, _) in BUILTIN {
            for d in [ColorDepth::None, ColorDepth::Ansi16, ColorDepth::Ansi256, ColorDepth::TrueColor] {
                let t = Theme::load(name, d).expect("theme loads");
                assert!(t.styles.contains_key("ui.selection"), "{name}");
            }
        }
    }

    #[test]
    fn slots_fall_back_to_parents() {
        let t = Theme::load("default", ColorDepth::TrueColor).expect("theme");
        assert_eq!(t.style("ui.border.focused.extra"), t.style("ui.border.focused"));
        assert_eq!(t.style("ui.unknown"), t.style("ui"));
    }

    #[test]
    fn no_color_keeps_selection_visible() {
        let t = Theme::load("default", ColorDepth::None).expect("theme");
        let s = t.style("ui.selection");
        assert!(s.fg.is_none() && s.bg.is_none());
        assert!(s.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn colours_reduce_to_the_terminal() {
        let t = Theme::load("default", ColorDepth::Ansi16).expect("theme");
        assert!(matches!(t.style("ui.title").fg, Some(c) if !matches!(c, Color::Rgb(..) | Color::Indexed(_))));
        let t = Theme::load("default", ColorDepth::Ansi256).expect("theme");
        assert!(matches!(t.style("ui.title").fg, Some(Color::Indexed(_))));
    }

    #[test]
    fn light_inherits_styles_from_default() {
        let t = Theme::load("light", ColorDepth::TrueColor).expect("theme");
        assert_eq!(t.name, "light");
        assert!(t.style("record.stale").fg.is_some());
    }
}
