//! `resource.Quantity.String()`: the canonical form of a Kubernetes quantity.
//!
//! Printers print quantities (PV capacity, quota usage, HPA metrics) through Go's `String()`,
//! which canonicalises the parsed value: decimal values use the largest SI suffix (or `e`
//! exponent) that keeps an integer mantissa with an exponent divisible by three, binary values
//! (`Ki`…`Ei`) of at least 1024 use the largest power-of-1024 suffix that divides them, and
//! values are rounded up to nano precision. Unparsable text is returned unchanged.
//!
//! ```
//! use clusternet_printers::quantity::canonical;
//!
//! assert_eq!(canonical("1.5Gi"), "1536Mi");
//! assert_eq!(canonical("1000"), "1k");
//! assert_eq!(canonical("0.5"), "500m");
//! assert_eq!(canonical("2048Ki"), "2Mi");
//! assert_eq!(canonical("1e3"), "1e3");
//! ```

use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// The printed form of a quantity field: `<nil>` style handling is up to the caller; a JSON
/// number is parsed from its text like `Quantity.UnmarshalJSON` does.
pub(crate) fn value_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(canonical(s.trim())),
        Value::Number(n) => Some(canonical(&n.to_string())),
        _ => None,
    }
}

/// Canonical `String()` of quantity text; the input is returned unchanged if it does not parse.
pub fn canonical(s: &str) -> String {
    parse_and_format(s).unwrap_or_else(|| s.to_string())
}

fn parse_and_format(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some("0".into());
    }
    let (positive, num, denom, suffix) = split(s)?;
    let (base, exponent, format) = interpret(suffix)?;
    if reuses_input(num, denom, base, exponent, format) {
        // ParseQuantity keeps the original text when it is already in canonical form.
        return Some(s.to_string());
    }

    // value = ±(num.denom) × base^exponent, as an exact decimal mantissa × 10^scale.
    let digits = format!("{num}{denom}");
    let mut mantissa: i128 = digits.parse().ok()?;
    let mut scale: i32 = -(denom.len() as i32);
    if base == 10 {
        scale = scale.checked_add(exponent)?;
    } else {
        mantissa = mantissa.checked_mul(1i128.checked_shl(exponent as u32)?)?;
    }
    // Round up (away from zero) to nano precision.
    if scale < -9 {
        let drop = (-9 - scale) as u32;
        mantissa = match 10i128.checked_pow(drop) {
            Some(div) if mantissa % div != 0 => mantissa / div + 1,
            Some(div) => mantissa / div,
            // More than 38 digits below a nano: a non-zero value rounds up to 1n.
            None => i128::from(mantissa != 0),
        };
        scale = -9;
    }
    if mantissa == 0 {
        return Some("0".into());
    }
    // Normalise: move factors of ten into the exponent.
    while mantissa % 10 == 0 {
        mantissa /= 10;
        scale += 1;
    }
    if format == Format::BinarySI
        && to_integer(mantissa, scale).is_some_and(|v| v > i64::MAX as i128)
    {
        // Binary quantities are capped at the maximum int64 value.
        mantissa = i64::MAX as i128;
        scale = 0;
    }
    let sign = if positive { "" } else { "-" };
    match format {
        Format::BinarySI => {
            let value = match to_integer(mantissa, scale) {
                Some(v) if v >= 1024 => v,
                // Below 1024 or not an integer: printed as DecimalSI.
                _ => {
                    return Some(format!(
                        "{sign}{}",
                        decimal(mantissa, scale, Format::DecimalSI)?
                    ));
                }
            };
            let mut v = value;
            let mut exp = 0;
            while v % 1024 == 0 && exp < 6 {
                v /= 1024;
                exp += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
            Some(format!("{sign}{v}{suffix}"))
        }
        f => Some(format!("{sign}{}", decimal(mantissa, scale, f)?)),
    }
}

/// Whether `ParseQuantity` caches the input text as the quantity's string form: the int64 fast
/// path applies and the text is already canonical.
fn reuses_input(num: &str, denom: &str, base: u32, exponent: i32, format: Format) -> bool {
    let digits = (num.len() + denom.len()) as i64;
    let precision: i64 = match format {
        Format::DecimalExponent | Format::DecimalSI => 18 - digits,
        Format::BinarySI if exponent >= 0 && denom.is_empty() => {
            15 - num.len() as i64 - (exponent as f32 * 3.0 / 10.0) as i64 - 1
        }
        Format::BinarySI => -1,
    };
    if precision < 0 {
        return false;
    }
    let scale = i64::from(if base == 10 { exponent } else { 0 }) - denom.len() as i64;
    if scale < -9 {
        return false;
    }
    let shifted = format!("{num}{denom}");
    let Ok(value) = shifted.parse::<i64>() else {
        return false;
    };
    let multiplier: i64 = if base == 2 {
        1i64 << exponent.clamp(0, 62)
    } else {
        1
    };
    if value.checked_mul(multiplier).is_none() || (base == 2 && exponent > 62) {
        return false;
    }
    match format {
        Format::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
        _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
    }
}

/// `mantissa × 10^scale` as an integer, if it is one.
fn to_integer(mantissa: i128, scale: i32) -> Option<i128> {
    if scale >= 0 {
        mantissa.checked_mul(10i128.checked_pow(scale as u32)?)
    } else {
        None // mantissa has no trailing zeros, so a negative scale means a fraction
    }
}

/// Canonical decimal rendering of `mantissa × 10^scale` (mantissa without trailing zeros).
fn decimal(mut mantissa: i128, mut exponent: i32, format: Format) -> Option<String> {
    match exponent.rem_euclid(3) {
        1 => {
            mantissa = mantissa.checked_mul(10)?;
            exponent -= 1;
        }
        2 => {
            mantissa = mantissa.checked_mul(100)?;
            exponent -= 2;
        }
        _ => {}
    }
    let suffix = match format {
        Format::DecimalExponent => {
            if exponent == 0 {
                String::new()
            } else {
                format!("e{exponent}")
            }
        }
        _ => match exponent {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        }
        .to_string(),
    };
    Some(format!("{mantissa}{suffix}"))
}

/// `parseQuantityString`: sign, integer digits (leading zeros stripped), fraction digits, suffix.
fn split(s: &str) -> Option<(bool, &str, &str, &str)> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    if pos >= b.len() {
        return Some((positive, "0", "", ""));
    }
    let start = pos;
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let mut num = &s[start..pos];
    if num.is_empty() {
        num = "0";
    }
    let mut denom = "";
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        let dstart = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[dstart..pos];
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != b.len() {
        return None;
    }
    Some((positive, num, denom, &s[suffix_start..]))
}

/// `suffixHandler.interpret`: (base, exponent, format).
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSI));
    let bin = |e| Some((2, e, Format::BinarySI));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        s if s.len() > 1 && (s.starts_with('e') || s.starts_with('E')) => {
            let e: i64 = s[1..].parse().ok()?;
            Some((10, i32::try_from(e).ok()?, Format::DecimalExponent))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn canonical_forms() {
        let cases = [
            ("0", "0"),
            ("0Gi", "0"),
            ("100", "100"),
            ("1000", "1k"),
            ("1500m", "1500m"),
            ("2000m", "2"),
            ("0.1", "100m"),
            ("1.0", "1"),
            ("05", "05"),
            ("+5", "+5"),
            ("5.", "5."),
            ("1.G", "1.G"),
            ("-0", "0"),
            (".5", "500m"),
            ("1000E", "1"),
            ("1e21", "1e21"),
            ("0.0001Ki", "102400u"),
            ("9223372036854775807Ki", "9223372036854775807"),
            ("8Ei", "9223372036854775807"),
            ("1.5Ei", "1536Pi"),
            ("3e-3", "3e-3"),
            ("3e-4", "300e-6"),
            ("1000Ki", "1000Ki"),
            ("1000000", "1M"),
            ("1.5M", "1500k"),
            ("0.001Ki", "1024m"),
            ("123456789012345678901234", "123456789012345678901234"),
            ("1e-12", "1e-9"),
            ("1e-100", "1e-9"),
            ("0.5e-99", "1e-9"),
            ("5Gi", "5Gi"),
            ("1024Mi", "1Gi"),
            ("1025Mi", "1025Mi"),
            ("1.5Ki", "1536"),
            ("0.5Ki", "512"),
            ("1Ki", "1Ki"),
            ("12e6", "12e6"),
            ("1E3", "1E3"),
            ("1.5e3", "1500"),
            ("-5", "-5"),
            ("-1.5Gi", "-1536Mi"),
            ("1n", "1n"),
            ("0.1n", "1n"),
            ("1.0000000001", "1000000001n"),
            ("10G", "10G"),
            ("1P", "1P"),
            ("abc", "abc"),
            ("1.5Xi", "1.5Xi"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input), want, "{input}");
        }
    }
}
