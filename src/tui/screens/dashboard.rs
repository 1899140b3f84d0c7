//! Dashboard: what is in the store at a glance.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Gauge, Paragraph, Sparkline};

use crate::model::text::fit;
use crate::tui::app::App;
use crate::tui::ui::fmt_count;

fn block<'a>(app: &App, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.style("ui.border"))
        .title(title)
        .title_style(app.theme.style("ui.title"))
}

fn pct(n: usize, of: usize) -> String {
    if of == 0 { "—".into() } else { format!("{:.0}%", 100.0 * n as f64 / of as f64) }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(data) = &app.data else {
        draw_loading(f, app, area);
        return;
    };
    let s = &data.stats;
    let [top, bottom] = Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(area);
    let (counts, store) = if area.width >= 70 {
        let [c, st] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(top);
        (c, Some(st))
    } else {
        (top, None)
    };
    let label = app.theme.style("ui.text.dim");
    let value = app.theme.style("ui.title");
    let row = |width: u16, lw: usize, k: &str, v: String| {
        let inner = width.saturating_sub(2) as usize;
        let lw = lw.min(inner / 2);
        Line::from(vec![
            Span::styled(format!("{:<lw$}", fit(k, lw.saturating_sub(1))), label),
            Span::styled(fit(&v, inner.saturating_sub(lw)), value),
        ])
    };
    let w = counts.width;
    let lines = vec![
        row(w, 18, "Records", fmt_count(s.records)),
        row(w, 18, "with email", format!("{} ({})", fmt_count(s.with_email), pct(s.with_email, s.records))),
        row(w, 18, "with phone", format!("{} ({})", fmt_count(s.with_phone), pct(s.with_phone, s.records))),
        row(
            w,
            18,
            "with birth date",
            format!("{} ({})", fmt_count(s.with_date_of_birth), pct(s.with_date_of_birth, s.records)),
        ),
        row(
            w,
            18,
            "with extra fields",
            format!("{} ({})", fmt_count(s.with_extra_fields), pct(s.with_extra_fields, s.records)),
        ),
        row(
            w,
            18,
            "sources",
            s.sources.iter().map(|(k, v)| format!("{k} {}", fmt_count(*v))).collect::<Vec<_>>().join(", "),
        ),
        match (&app.report, &app.scan_stage) {
            (Some(r), _) => row(w, 18, "data quality", format!("{:.1} / 100", r.quality())),
            (None, Some(stage)) => Line::from(Span::styled(
                fit(&format!("scanning… {stage}"), w.saturating_sub(2) as usize),
                app.theme.style("ui.placeholder"),
            )),
            (None, None) => Line::from(Span::styled("scanning…", app.theme.style("ui.placeholder"))),
        },
    ];
    f.render_widget(Paragraph::new(lines).block(block(app, " Records ")), counts);
    if let Some(store) = store {
        let mb = app.info.size_on_disk as f64 / (1024.0 * 1024.0);
        let w = store.width;
        let store_lines = vec![
            row(w, 9, "store", app.info.store.clone()),
            row(w, 9, "user", format!("{} ({})", app.info.user, app.info.role)),
            row(w, 9, "on disk", format!("{mb:.1} MiB, encrypted")),
            row(
                w,
                9,
                "users",
                match &app.overview {
                    Some(o) => {
                        let mut by_role: std::collections::BTreeMap<&str, usize> = Default::default();
                        for u in &o.users {
                            *by_role.entry(u.role.as_str()).or_default() += 1;
                        }
                        let roles: Vec<String> = by_role.iter().map(|(r, n)| format!("{n} {r}")).collect();
                        format!("{} ({})", o.users.len(), roles.join(", "))
                    }
                    None => "…".into(),
                },
            ),
            match &app.requests.list {
                Some(l) => {
                    let open = l.iter().filter(|v| v.status.is_open()).count();
                    let overdue = l.iter().filter(|v| v.overdue).count();
                    let soon = l.iter().filter(|v| v.due_soon).count();
                    let style = if overdue > 0 { "finding.danger" } else { "ui" };
                    Line::from(vec![
                        Span::styled(format!("{:<9}", "requests"), app.theme.style("ui.text.dim")),
                        Span::styled(
                            fit(
                                &format!("{open} open · {overdue} overdue · {soon} due soon"),
                                w.saturating_sub(11) as usize,
                            ),
                            app.theme.style(style),
                        ),
                    ])
                }
                None => row(w, 9, "requests", "…".into()),
            },
            row(
                w,
                9,
                "answered",
                match app.overview.as_ref().map(|o| &o.requests) {
                    Some(r) => match r.median_days_to_complete {
                        Some(d) => format!("median {d:.0} days · {} completed", r.completed),
                        None => "none completed yet".into(),
                    },
                    None => "…".into(),
                },
            ),
            match app.overview.as_ref().map(|o| &o.last_verification) {
                Some(Some(v)) if !v.intact => Line::from(vec![
                    Span::styled(format!("{:<9}", "audit"), app.theme.style("ui.text.dim")),
                    Span::styled(
                        fit(
                            &format!("BROKEN at the check of {}", v.time.format("%Y-%m-%d")),
                            w.saturating_sub(11) as usize,
                        ),
                        app.theme.style("finding.danger"),
                    ),
                ]),
                Some(Some(v)) => row(w, 9, "audit", format!("intact, verified {}", v.time.format("%Y-%m-%d %H:%M"))),
                Some(None) => row(w, 9, "audit", "never verified (steward audit verify)".into()),
                None => row(w, 9, "audit", "…".into()),
            },
        ];
        f.render_widget(Paragraph::new(store_lines).block(block(app, " Store ")), store);
    }

    let [countries, ages] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    if let Some(report) = &app.report {
        draw_findings_chart(f, app, report, countries);
    } else {
        draw_countries(f, app, s, countries);
    }
    if !draw_attention(f, app, ages) {
        f.render_widget(
            Sparkline::default()
                .block(block(app, " Last verified, months ago: 0 … 24+ "))
                .style(app.theme.style("ui.chart"))
                .data(&data.verified_age),
            ages,
        );
    }
}

/// Open breaches (their clocks running) and usage alerts, when there are
/// any: they take the place of the verification chart. False when none.
fn draw_attention(f: &mut Frame, app: &App, area: Rect) -> bool {
    let Some(o) = &app.overview else { return false };
    if o.breaches.is_empty() && o.alerts.is_empty() {
        return false;
    }
    let w = area.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for b in &o.breaches {
        let clock = b.breach.clock(app.now);
        let urgent = matches!(clock, crate::model::breach::Clock::Overdue { .. })
            || matches!(clock, crate::model::breach::Clock::Running { seconds_left, .. } if seconds_left < 12 * 3600);
        let style = if urgent || b.breach.people_due() { "finding.danger" } else { "finding.warning" };
        let clock = if urgent || matches!(clock, crate::model::breach::Clock::Running { .. }) {
            format!("authority {}", clock.short())
        } else {
            clock.short()
        };
        lines.push(Line::styled(fit(&format!("{} {clock}", b.reference), w), app.theme.style(style)));
        if b.breach.people_due() {
            lines.push(Line::styled(
                fit("  and the people must be told (Art. 34)", w),
                app.theme.style("finding.danger"),
            ));
        }
    }
    for a in &o.alerts {
        lines.push(Line::from(vec![
            Span::styled("alert ", app.theme.style("finding.warning")),
            Span::styled(
                fit(
                    &format!("{} {}: {}", crate::model::text::sanitize(&a.user), a.kind.replace('_', " "), a.what),
                    w.saturating_sub(6),
                ),
                app.theme.style("ui"),
            ),
        ]));
    }
    let title = match (o.breaches.len(), o.alerts.len()) {
        (0, a) => format!(" Attention: {a} alert(s) "),
        (b, 0) => format!(" Attention: {b} open breach(es) · 7 "),
        (b, a) => format!(" Attention: {b} breach(es), {a} alert(s) "),
    };
    f.render_widget(Paragraph::new(lines).block(block(app, &title)), area);
    true
}

/// Findings per kind, as bars labelled with the kind's badge.
fn draw_findings_chart(f: &mut Frame, app: &App, report: &crate::findings::Report, area: Rect) {
    let summary = report.summary();
    let bars: Vec<Bar> = crate::findings::Kind::ALL
        .iter()
        .map(|k| {
            let n = summary.get(k).copied().unwrap_or(0);
            Bar::default().value(n as u64).label(Line::from(k.badge())).text_value(fmt_count(n)).style(if n > 0 {
                app.theme.style("finding.warning")
            } else {
                app.theme.style("ui.text.dim")
            })
        })
        .collect();
    let legend =
        crate::findings::Kind::ALL.iter().map(|k| format!("{} {}", k.badge(), k.name())).collect::<Vec<_>>().join(" ");
    let [chart, key] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    let width = ((chart.width.saturating_sub(2)) / 8).saturating_sub(1).clamp(1, 6);
    f.render_widget(
        BarChart::default()
            .block(block(app, " Findings by kind · screen 3 "))
            .bar_width(width)
            .bar_gap(1)
            .value_style(app.theme.style("ui.statusbar.key"))
            .data(BarGroup::default().bars(&bars)),
        chart,
    );
    f.render_widget(Paragraph::new(fit(&legend, key.width as usize)).style(app.theme.style("ui.text.dim")), key);
}

fn draw_countries(f: &mut Frame, app: &App, s: &crate::service::Stats, countries: Rect) {
    let mut by_country: Vec<(&String, &usize)> = s.countries.iter().collect();
    by_country.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let max_bars = (countries.width.saturating_sub(2) / 5).max(1) as usize;
    let bars: Vec<Bar> = by_country
        .iter()
        .take(max_bars)
        .map(|(c, n)| Bar::default().value(**n as u64).label(Line::from(fit(c, 4))).text_value(fmt_count(**n)))
        .collect();
    f.render_widget(
        BarChart::default()
            .block(block(app, " Records by country "))
            .bar_width(4)
            .bar_gap(1)
            .bar_style(app.theme.style("ui.chart"))
            .value_style(app.theme.style("ui.statusbar.key"))
            .data(BarGroup::default().bars(&bars)),
        countries,
    );
}

fn draw_loading(f: &mut Frame, app: &App, area: Rect) {
    let b = block(app, " Loading ");
    if let Some(e) = &app.error {
        f.render_widget(Paragraph::new(fit(e, 200)).style(app.theme.style("ui.error")).block(b), area);
        return;
    }
    let (done, total) = app.loading.unwrap_or((0, 0));
    let ratio = if total == 0 { 0.0 } else { (done as f64 / total as f64).clamp(0.0, 1.0) };
    let inner = Rect { height: area.height.min(3), ..area };
    f.render_widget(
        Gauge::default().block(b).gauge_style(app.theme.style("ui.gauge")).ratio(ratio).label(format!(
            "decrypting records {} / {}",
            fmt_count(done),
            fmt_count(total)
        )),
        inner,
    );
}
