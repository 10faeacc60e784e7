//! Durations written as Go writes them (`3m`, `20s`, `1m30s`, `500ms`, `1h`), so flags take the
//! same values as Clusternet's.
//!
//! ```
//! use clusternet_component_base::GoDuration;
//! let d: GoDuration = "1m30s".parse().unwrap();
//! assert_eq!(d.0, std::time::Duration::from_secs(90));
//! assert_eq!(d.to_string(), "1m30s");
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration parsed from and printed in Go's `time.Duration` syntax.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub Duration);

/// A malformed duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: use Go syntax such as 20s, 3m, 1m30s, 500ms")]
pub struct ParseDurationError(String);

impl FromStr for GoDuration {
    type Err = ParseDurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseDurationError(s.to_string());
        let input = s.trim();
        if input == "0" {
            return Ok(GoDuration(Duration::ZERO));
        }
        if input.is_empty() || input.starts_with('-') {
            return Err(err());
        }
        let mut total = 0f64;
        let mut rest = input;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(err)?;
            if num_len == 0 {
                return Err(err());
            }
            let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let scale = match &rest[..unit_len] {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(err()),
            };
            total += value * scale;
            rest = &rest[unit_len..];
        }
        Ok(GoDuration(Duration::from_secs_f64(total)))
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d < Duration::from_secs(1) {
            let ms = d.as_secs_f64() * 1e3;
            return if ms.fract() == 0.0 {
                write!(f, "{}ms", ms as u64)
            } else {
                write!(f, "{}µs", d.as_micros())
            };
        }
        let secs = d.as_secs();
        let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let frac = d.subsec_millis();
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if h > 0 || m > 0 {
            write!(f, "{m}m")?;
        }
        if frac > 0 {
            write!(f, "{s}.{frac:03}s")
        } else {
            write!(f, "{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        for (s, secs) in [
            ("3m", 180.0),
            ("20s", 20.0),
            ("1h", 3600.0),
            ("1m30s", 90.0),
            ("500ms", 0.5),
            ("1.5s", 1.5),
            ("0", 0.0),
            ("2h45m", 9900.0),
        ] {
            assert_eq!(
                s.parse::<GoDuration>().unwrap().0,
                Duration::from_secs_f64(secs),
                "{s}"
            );
        }
        for bad in ["", "3", "-1s", "1x", "s", "1m-2s", "m1"] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_like_go() {
        assert_eq!(GoDuration(Duration::from_secs(180)).to_string(), "3m0s");
        assert_eq!(GoDuration(Duration::from_secs(20)).to_string(), "20s");
        assert_eq!(GoDuration(Duration::from_secs(3600)).to_string(), "1h0m0s");
        assert_eq!(GoDuration(Duration::from_millis(500)).to_string(), "500ms");
        assert_eq!(GoDuration(Duration::ZERO).to_string(), "0s");
    }
}
