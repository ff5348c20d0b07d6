//! The HTML part: tables with inline styles only (mail clients drop `<style>` and
//! external CSS), every value escaped.

use std::fmt::Write as _;

use super::{facts_line, subject_line, Report};
use crate::findings::Severity;

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn severity_colour(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "#b00020",
        Severity::High => "#d35400",
        Severity::Medium => "#b7950b",
        Severity::Low => "#2e86c1",
        Severity::Info => "#7f8c8d",
    }
}

const CELL: &str = "padding:6px 8px;border-bottom:1px solid #e5e5e5;vertical-align:top;";

pub fn render_html(report: &Report) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body style=\"margin:0;padding:16px;background:#f6f6f6;font-family:Arial,Helvetica,sans-serif;color:#222;\">\
         <table role=\"presentation\" width=\"100%\" style=\"max-width:880px;margin:0 auto;background:#ffffff;border-collapse:collapse;\">\
         <tr><td style=\"padding:16px;\">\
         <h1 style=\"font-size:20px;margin:0 0 4px 0;\">Agents and credentials of people who left</h1>\
         <p style=\"margin:0 0 16px 0;color:#555;font-size:13px;\">Period {} to {} · generated {}</p>",
        esc(&report.subject),
        report.local(report.period.from),
        report.local(report.period.to),
        report.local(report.generated_at),
    );
    // Summary block.
    let _ = write!(
        out,
        "<table role=\"presentation\" id=\"summary\" style=\"border-collapse:collapse;margin:0 0 16px 0;\">"
    );
    for section in &report.sections {
        let _ = write!(
            out,
            "<tr><td style=\"{CELL}\">{}</td><td style=\"{CELL}text-align:right;font-weight:bold;\">{}</td></tr>",
            esc(section.title),
            section.total
        );
    }
    let _ = write!(
        out,
        "<tr><td style=\"{CELL}color:#777;\">Deactivated, no agents</td><td style=\"{CELL}text-align:right;color:#777;\">{}</td></tr></table>",
        report.deactivated_without_agents
    );
    for section in &report.sections {
        let _ = write!(
            out,
            "<h2 style=\"font-size:17px;margin:24px 0 4px 0;border-bottom:2px solid #222;\">{} ({})</h2>\
             <p style=\"margin:0 0 8px 0;color:#555;font-size:13px;\">{}</p>",
            esc(section.title),
            section.total,
            esc(section.intro)
        );
        if section.groups.is_empty() {
            let _ = write!(
                out,
                "<p style=\"margin:0;color:#2e7d32;font-size:13px;\">Nothing to report.</p>"
            );
        }
        for group in &section.groups {
            let _ = write!(
                out,
                "<h3 style=\"font-size:14px;margin:12px 0 4px 0;\">{} ({})</h3>\
                 <table role=\"presentation\" width=\"100%\" style=\"border-collapse:collapse;font-size:13px;\">",
                esc(group.title),
                group.total
            );
            for finding in &group.rows {
                let _ = write!(
                    out,
                    "<tr><td style=\"{CELL}width:70px;\"><span style=\"color:#fff;background:{};padding:1px 6px;border-radius:3px;font-size:11px;\">{}</span></td>\
                     <td style=\"{CELL}\"><div>{}</div><div style=\"color:#666;\">{}</div><div style=\"margin-top:2px;\"><b>What to do:</b> {}</div></td></tr>",
                    severity_colour(finding.severity),
                    finding.severity.as_str(),
                    esc(&subject_line(finding)),
                    esc(&facts_line(finding)),
                    esc(&finding.action)
                );
            }
            let _ = write!(out, "</table>");
            let hidden = group.total - group.rows.len() as i64;
            if hidden > 0 {
                match &group.link {
                    Some(link) => {
                        let _ = write!(
                            out,
                            "<p style=\"margin:4px 0;font-size:13px;\">… and {hidden} more: <a href=\"{}\">see all</a></p>",
                            esc(link)
                        );
                    }
                    None => {
                        let _ = write!(
                            out,
                            "<p style=\"margin:4px 0;font-size:13px;\">… and {hidden} more: GET /api/v1/findings?kind={}</p>",
                            group.kind.as_str()
                        );
                    }
                }
            }
        }
    }
    for block in &report.discovery {
        let _ = write!(
            out,
            "<h2 style=\"font-size:17px;margin:24px 0 4px 0;border-bottom:2px solid #222;\">{} ({})</h2>\
             <p style=\"margin:0 0 8px 0;color:#555;font-size:13px;\">{}</p>",
            esc(block.title),
            block.total,
            esc(block.intro)
        );
        if block.lines.is_empty() {
            let _ = write!(
                out,
                "<p style=\"margin:0;color:#2e7d32;font-size:13px;\">Nothing to report.</p>"
            );
        }
        let _ = write!(
            out,
            "<ul style=\"margin:0;padding-left:18px;font-size:13px;\">"
        );
        for line in &block.lines {
            let _ = write!(out, "<li style=\"margin:2px 0;\">{}</li>", esc(line));
        }
        let _ = write!(out, "</ul>");
        let hidden = block.total - block.lines.len() as i64;
        if hidden > 0 {
            let _ = write!(
                out,
                "<p style=\"margin:4px 0;font-size:13px;\">… and {hidden} more: GET /api/v1/discovered-credentials</p>"
            );
        }
    }
    if let Some(url) = &report.public_url {
        let _ = write!(
            out,
            "<p style=\"margin:24px 0 0 0;font-size:13px;\"><a href=\"{}/api/v1/findings\">All findings</a></p>",
            esc(url)
        );
    }
    out.push_str("</td></tr></table></body></html>");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_in_names_is_escaped() {
        assert_eq!(
            super::esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
