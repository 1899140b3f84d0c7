//! One file per screen. Each draws from `App` state only.

pub mod audit;
pub mod breaches;
pub mod dashboard;
pub mod findings;
pub mod records;
pub mod requests;
pub mod sources;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

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

/// A list row, highlighted when it is the selected one.
pub fn list_row<'a>(app: &App, cells: Vec<Cell<'a>>, selected: bool) -> Row<'a> {
    Row::new(cells).style(if selected { app.theme.style("ui.selection") } else { Style::default() })
}

/// Draws `rows` under `header` in `area`, the way every list screen does.
pub fn draw_list(f: &mut Frame, app: &App, area: Rect, header: Vec<&str>, widths: Vec<Constraint>, rows: Vec<Row>) {
    f.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header.into_iter().map(Cell::from)).style(app.theme.style("ui.header")))
            .column_spacing(1),
        area,
    );
}
