//! The `?` overlay: every key of every mode, straight from the registry.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::actions::{ACTIONS, Mode, key_label};
use crate::tui::app::App;

/// The sections of the overlay, in order.
const SECTIONS: [Mode; 11] = [
    Mode::Global,
    Mode::Records,
    Mode::Findings,
    Mode::Requests,
    Mode::Audit,
    Mode::Sources,
    Mode::Breaches,
    Mode::Search,
    Mode::Form,
    Mode::Merge,
    Mode::Help,
];

/// The line where `mode`'s section starts (help opens at the screen's own keys).
pub fn section_start(app: &App, mode: Mode) -> u16 {
    let mut line = 0;
    for m in SECTIONS {
        if m == mode {
            break;
        }
        line += 2 + ACTIONS.iter().filter(|a| a.mode == m && app.offers(a.action, a.mode)).count();
    }
    u16::try_from(line).unwrap_or(0)
}

pub fn lines(app: &App) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for mode in SECTIONS {
        out.push(Line::from(Span::styled(mode.title().to_owned(), app.theme.style("ui.header"))));
        for a in ACTIONS.iter().filter(|a| a.mode == mode && app.offers(a.action, a.mode)) {
            let keys: Vec<String> = a.keys.iter().map(|k| key_label(k)).collect();
            out.push(Line::from(vec![
                Span::styled(format!("  {:<16}", keys.join(" ")), app.theme.style("ui.statusbar.key")),
                Span::styled(a.desc.to_owned(), app.theme.style("ui")),
            ]));
        }
        out.push(Line::from(""));
    }
    out
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let w = area.width.saturating_sub(4).min(72);
    let h = area.height.saturating_sub(2);
    if w < 10 || h < 3 {
        return;
    }
    let popup = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border.focused"))
        .title(" Keys · j/k scroll · Esc closes ")
        .title_style(app.theme.style("ui.title"));
    f.render_widget(Clear, popup);
    f.render_widget(Paragraph::new(lines(app)).block(block).scroll((app.help_scroll, 0)), popup);
}
