//! kubectl's table layout (`cli-runtime/pkg/printers` tabwriter: minimum width 6, padding 3,
//! the last column not padded) and its `AGE` durations (`apimachinery/pkg/util/duration`).

use std::time::Duration;

/// Lays out `rows` (the first one the header, if any) as kubectl does.
pub fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let width = (widths[i] + 3).max(6);
                line.extend(std::iter::repeat_n(' ', width - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Splits a kubectl table printed to a pipe into cells: columns start where the header's
/// words start (tabwriter aligns every row to them); header names have at most single spaces.
pub fn parse(text: &str) -> Vec<Vec<String>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let chars: Vec<char> = header.chars().collect();
    let mut starts = vec![0];
    let mut spaces = 0;
    for (i, c) in chars.iter().enumerate() {
        if *c == ' ' {
            spaces += 1;
        } else {
            if spaces >= 2 && i > 0 {
                starts.push(i);
            }
            spaces = 0;
        }
    }
    let cut = |line: &str| -> Vec<String> {
        let chars: Vec<char> = line.chars().collect();
        starts
            .iter()
            .enumerate()
            .map(|(n, &start)| {
                let end = starts
                    .get(n + 1)
                    .copied()
                    .unwrap_or(usize::MAX)
                    .min(chars.len());
                let start = start.min(chars.len());
                chars[start..end]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string()
            })
            .collect()
    };
    std::iter::once(header).chain(lines).map(cut).collect()
}

/// kubectl's `AGE`: `45s`, `3m20s`, `15m`, `5h10m`, `2d3h`, `90d`, `2y10d`.
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{days}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_kubectls() {
        let rows = vec![
            vec!["NAME".into(), "READY".into(), "AGE".into()],
            vec!["my-nginx".into(), "2/2".into(), "5s".into()],
        ];
        assert_eq!(
            render(&rows),
            "NAME       READY   AGE\nmy-nginx   2/2     5s\n"
        );
        assert_eq!(parse(&render(&rows)), rows);
    }

    #[test]
    fn header_names_with_a_space_and_empty_cells() {
        let text = "NAME   READY   NOMINATED NODE   IP\npod    1/1     <none>           \n";
        assert_eq!(
            parse(text),
            vec![
                vec!["NAME", "READY", "NOMINATED NODE", "IP"],
                vec!["pod", "1/1", "<none>", ""],
            ]
        );
    }

    #[test]
    fn durations() {
        for (s, want) in [
            (5, "5s"),
            (119, "119s"),
            (200, "3m20s"),
            (600, "10m"),
            (3 * 3600 + 600, "3h10m"),
            (10 * 3600, "10h"),
            (50 * 3600, "2d2h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
        ] {
            assert_eq!(human_duration(Duration::from_secs(s)), want, "{s}");
        }
    }
}
