//! The plain-text alternative: the same content as the HTML, for every mail client.

use std::fmt::Write as _;

use super::{facts_line, subject_line, Report};

pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ownerbound: agents and credentials of people who left");
    let _ = writeln!(
        out,
        "Period {} to {}, generated {}",
        report.local(report.period.from),
        report.local(report.period.to),
        report.local(report.generated_at),
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "SUMMARY");
    for section in &report.sections {
        let _ = writeln!(out, "  {:<28} {:>7}", section.title, section.total);
    }
    let _ = writeln!(
        out,
        "  {:<28} {:>7}",
        "Deactivated, no agents", report.deactivated_without_agents
    );
    for section in &report.sections {
        let _ = writeln!(out);
        let _ = writeln!(out, "{} ({})", section.title.to_uppercase(), section.total);
        let _ = writeln!(out, "{}", section.intro);
        if section.groups.is_empty() {
            let _ = writeln!(out, "  Nothing to report.");
        }
        for group in &section.groups {
            let _ = writeln!(out);
            let _ = writeln!(out, "  {} ({})", group.title, group.total);
            for finding in &group.rows {
                let _ = writeln!(
                    out,
                    "  - [{}] {}",
                    finding.severity.as_str(),
                    subject_line(finding)
                );
                let facts = facts_line(finding);
                if !facts.is_empty() {
                    let _ = writeln!(out, "      {facts}");
                }
                let _ = writeln!(out, "      What to do: {}", finding.action);
            }
            let hidden = group.total - group.rows.len() as i64;
            if hidden > 0 {
                match &group.link {
                    Some(link) => {
                        let _ = writeln!(out, "  … and {hidden} more: {link}");
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "  … and {hidden} more: GET /api/v1/findings?kind={}",
                            group.kind.as_str()
                        );
                    }
                }
            }
        }
    }
    for block in &report.discovery {
        let _ = writeln!(out);
        let _ = writeln!(out, "{} ({})", block.title.to_uppercase(), block.total);
        let _ = writeln!(out, "{}", block.intro);
        if block.lines.is_empty() {
            let _ = writeln!(out, "  Nothing to report.");
        }
        for line in &block.lines {
            let _ = writeln!(out, "  - {line}");
        }
        let hidden = block.total - block.lines.len() as i64;
        if hidden > 0 {
            let _ = writeln!(
                out,
                "  … and {hidden} more: GET /api/v1/discovered-credentials"
            );
        }
    }
    if let Some(url) = &report.public_url {
        let _ = writeln!(out);
        let _ = writeln!(out, "All findings: {url}/api/v1/findings");
    }
    out
}
