//! One file per screen. Each draws from `App` state only.

pub mod audit;
pub mod dashboard;
pub mod findings;
pub mod records;
pub mod requests;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::{Block, Borders};

use crate::model::text::fit;
use crate::tui::app::App;

/// Draws the focused frame of a list with `title` over `area`; returns the
/// area inside it, or `None` when there is no room for a header and a row.
pub fn focused_frame(f: &mut Frame, app: &App, area: Rect, title: &str) -> Option<Rect> {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border.focused"))
        .title(fit(title, area.width.saturating_sub(2) as usize))
        .title_style(app.theme.style("ui.title"));
    let inner = block.inner(area);
    f.render_widget(block, area);
    (inner.height >= 2).then_some(inner)
}
