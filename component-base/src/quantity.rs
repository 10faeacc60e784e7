//! Just enough of `resource.Quantity` to add and compare: values in units of 10⁻⁹, the format
//! (binary or decimal) of the first operand, and Go's canonical output.

use std::cmp::Ordering;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

const NANO: i128 = 1_000_000_000;

/// Value ×10⁹ and whether the suffix is binary.
pub fn parse(q: &str) -> Option<(i128, bool)> {
    let s = q.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (neg, num) = match num.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let int: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut frac_nano: i128 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        frac_nano += (c.to_digit(10)? as i128) * 10i128.pow(8 - i as u32);
    }
    let base = int * NANO + frac_nano;
    let (mul, div, binary): (i128, i128, bool) = match suffix {
        "" => (1, 1, false),
        "n" => (1, NANO, false),
        "u" => (1, 1_000_000, false),
        "m" => (1, 1_000, false),
        "k" => (1_000, 1, false),
        "M" => (1_000_000, 1, false),
        "G" => (10i128.pow(9), 1, false),
        "T" => (10i128.pow(12), 1, false),
        "P" => (10i128.pow(15), 1, false),
        "E" => (10i128.pow(18), 1, false),
        "Ki" => (1 << 10, 1, true),
        "Mi" => (1 << 20, 1, true),
        "Gi" => (1 << 30, 1, true),
        "Ti" => (1i128 << 40, 1, true),
        "Pi" => (1i128 << 50, 1, true),
        "Ei" => (1i128 << 60, 1, true),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().ok()?;
            if exp >= 0 {
                (10i128.checked_pow(exp as u32)?, 1, false)
            } else {
                (1, 10i128.checked_pow((-exp) as u32)?, false)
            }
        }
        _ => return None,
    };
    let v = base.checked_mul(mul)? / div;
    Some((if neg { -v } else { v }, binary))
}

/// Go's canonical text of a value (×10⁹) in binary or decimal format.
pub fn format(v: i128, binary: bool) -> String {
    if binary && v % NANO == 0 && (v / NANO).abs() >= 1024 {
        let mut n = v / NANO;
        let mut i = 0;
        while n % 1024 == 0 && i < 6 {
            n /= 1024;
            i += 1;
        }
        return format!("{n}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][i]);
    }
    // Decimal SI: the largest suffix (exponent multiple of 3) keeping an integer mantissa.
    const SUFFIXES: [(i32, &str); 10] = [
        (-9, "n"),
        (-6, "u"),
        (-3, "m"),
        (0, ""),
        (3, "k"),
        (6, "M"),
        (9, "G"),
        (12, "T"),
        (15, "P"),
        (18, "E"),
    ];
    if v == 0 {
        return "0".into();
    }
    let mut best = (v, "n");
    for (exp, suffix) in SUFFIXES {
        let scale = 10i128.pow((exp + 9) as u32);
        if v % scale == 0 {
            best = (v / scale, suffix);
        }
    }
    format!("{}{}", best.0, best.1)
}

/// `a + b`, in `a`'s format (`b`'s when `a` is zero), as Go's `Quantity.Add`.
pub fn add(a: &Quantity, b: &Quantity) -> Quantity {
    match (parse(&a.0), parse(&b.0)) {
        (Some((x, bx)), Some((y, by))) => Quantity(format(x + y, if x == 0 { by } else { bx })),
        _ => a.clone(),
    }
}

/// Compares two quantities by value (unparsable ones compare equal).
pub fn cmp(a: &Quantity, b: &Quantity) -> Ordering {
    match (parse(&a.0), parse(&b.0)) {
        (Some((x, _)), Some((y, _))) => x.cmp(&y),
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    #[test]
    fn add_and_format_like_go() {
        assert_eq!(add(&q("100m"), &q("200m")).0, "300m");
        assert_eq!(add(&q("500m"), &q("500m")).0, "1");
        assert_eq!(add(&q("1"), &q("500m")).0, "1500m");
        assert_eq!(add(&q("1Gi"), &q("512Mi")).0, "1536Mi");
        assert_eq!(add(&q("64Mi"), &q("64Mi")).0, "128Mi");
        assert_eq!(add(&q("1k"), &q("1k")).0, "2k");
        assert_eq!(add(&q("100M"), &q("28M")).0, "128M");
        assert_eq!(cmp(&q("1Gi"), &q("1G")), Ordering::Greater);
        assert_eq!(cmp(&q("250m"), &q("0.25")), Ordering::Equal);
    }
}
