//! The login screen: the passphrase is typed into the dashboard itself,
//! never echoed (not even its length), and kept in memory that is wiped.
//! Ctrl-C or Esc leaves with the terminal restored. A wrong passphrase is
//! answered with the same words whether the user or the passphrase was
//! wrong, after a delay that grows with each failure in a row (the store
//! keeps the failures for the audit trail).

use crossterm::event::{self, Event as CtEvent, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use super::terminal::TerminalGuard;
use super::theme::Theme;
use crate::model::text::fit;
use crate::service::{Credentials, Service};

/// What the login screen shows.
#[derive(Default)]
pub struct LoginView {
    pub store: String,
    pub user: String,
    pub message: Option<String>,
    pub busy: bool,
    /// Characters typed (shown only as "typing is hidden", never counted).
    pub typed: bool,
}

/// Draws the login box.
pub fn draw(f: &mut Frame, theme: &Theme, v: &LoginView) {
    let area = f.area();
    let w = area.width.min(64);
    let h = 9.min(area.height);
    if w < 20 || h < 5 {
        f.render_widget(Paragraph::new(fit("steward: unlock (terminal too small)", area.width as usize)), area);
        return;
    }
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style("ui.border.focused"))
        .title(" steward · unlock ")
        .title_style(theme.style("ui.title"));
    let inner = (w as usize).saturating_sub(4);
    let mut lines = vec![
        Line::styled(fit(&format!("store  {}", v.store), inner), theme.style("ui.text.dim")),
        Line::styled(fit(&format!("user   {}", v.user), inner), theme.style("ui.text.dim")),
        Line::from(""),
        Line::styled(
            if v.busy {
                "unlocking…".to_owned()
            } else if v.typed {
                "Passphrase: (hidden) ▏".to_owned()
            } else {
                "Passphrase: ▏".to_owned()
            },
            theme.style("ui"),
        ),
        Line::from(""),
    ];
    match &v.message {
        Some(m) => lines.push(Line::styled(fit(m, inner), theme.style("ui.error"))),
        None => lines.push(Line::styled("Enter unlocks · Esc or Ctrl-C leaves", theme.style("ui.text.dim"))),
    }
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(block).alignment(Alignment::Left), r);
}

/// Asks for the passphrase until the store unlocks (`Ok(Some)`), the user
/// leaves (`Ok(None)`), or something other than the passphrase fails.
pub fn login(mut locked: crate::service::Door, user: &str, theme: &Theme) -> Result<Option<Service>, String> {
    let mut guard = TerminalGuard::enter().map_err(|e| format!("terminal: {e}"))?;
    let mut view = LoginView {
        store: locked.location().to_string(),
        user: crate::model::text::sanitize(user),
        ..LoginView::default()
    };
    // Room for the longest passphrase accepted (1,024 characters of up to 4
    // bytes), so typing never moves it and leaves a copy behind; cleared
    // with `zeroize`, which wipes the whole buffer, removed bytes included.
    let mut secret = Zeroizing::new(String::with_capacity(4096));
    loop {
        guard.terminal.draw(|f| draw(f, theme, &view)).map_err(|e| format!("terminal: {e}"))?;
        let ev = event::read().map_err(|e| format!("terminal: {e}"))?;
        let CtEvent::Key(k) = ev else { continue };
        if k.kind != KeyEventKind::Press {
            continue;
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        match k.code {
            KeyCode::Char('c') if ctrl => return Ok(None),
            KeyCode::Esc => return Ok(None),
            KeyCode::Char('u') if ctrl => secret.zeroize(),
            KeyCode::Backspace => {
                secret.pop();
            }
            KeyCode::Char(c) if !ctrl && !c.is_control() && secret.chars().count() < 1024 => secret.push(c),
            KeyCode::Enter if !secret.is_empty() => {
                view.busy = true;
                view.message = None;
                guard.terminal.draw(|f| draw(f, theme, &view)).map_err(|e| format!("terminal: {e}"))?;
                let creds = Credentials::Passphrase(SecretString::from(secret.as_str().to_owned()));
                secret.zeroize();
                view.busy = false;
                match Service::attempt(locked, user, creds) {
                    Ok(svc) => return Ok(Some(svc)),
                    Err((Some(back), e)) => {
                        locked = *back;
                        view.message = Some(e.to_string());
                    }
                    Err((None, e)) => return Err(e.to_string()),
                }
            }
            _ => {}
        }
        view.typed = !secret.is_empty();
    }
}
