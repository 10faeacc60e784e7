//! Small serde helpers that reproduce Go's `encoding/json` `omitempty` behaviour.

/// Whether `value` equals its type's zero value, i.e. whether Go would drop it under `omitempty`.
///
/// Used as `#[serde(skip_serializing_if = "crate::util::is_default")]` on scalar fields (strings,
/// numbers, booleans) and maps/lists that Go declares with `omitempty`.
pub(crate) fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[cfg(test)]
mod tests {
    use super::is_default;

    #[test]
    fn zero_values_are_default() {
        assert!(is_default(&0_i32));
        assert!(is_default(&String::new()));
        assert!(is_default(&false));
        assert!(is_default(&0.0_f32));
        assert!(!is_default(&1_u64));
        assert!(!is_default(&"x".to_string()));
        assert!(!is_default(&true));
    }
}
