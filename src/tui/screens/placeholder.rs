//! An honest "nothing here yet" for screens a later release fills.

use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::tui::app::App;

pub fn draw(f: &mut Frame, app: &App, area: Rect, title: &str, text: &str) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border"))
        .title(title.to_owned())
        .title_style(app.theme.style("ui.title"));
    f.render_widget(
        Paragraph::new(text.to_owned())
            .style(app.theme.style("ui.placeholder"))
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .block(block),
        area,
    );
}
