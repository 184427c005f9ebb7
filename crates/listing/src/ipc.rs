//! International Patent Classification symbols, e.g. `H01M 10/0525` or `G06N 3/08`.
//!
//! Format: section letter A–H, two-digit class, subclass letter, then optionally a main group of
//! 1–4 digits, `/`, and a subgroup of 2–6 digits. The space between subclass and group is optional
//! on input; [`normalize`] produces the canonical form with one space.

/// Returns the canonical spelling of a valid IPC symbol, or `None` when it is not one.
pub fn normalize(input: &str) -> Option<String> {
    let compact: String = input.trim().chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = compact.as_bytes();
    if bytes.len() < 4 || !compact.is_ascii() {
        return None;
    }
    let section = bytes[0].to_ascii_uppercase();
    if !(b'A'..=b'H').contains(&section) {
        return None;
    }
    if !bytes[1].is_ascii_digit() || !bytes[2].is_ascii_digit() {
        return None;
    }
    let subclass = bytes[3].to_ascii_uppercase();
    if !subclass.is_ascii_uppercase() {
        return None;
    }
    let head = format!("{}{}{}", section as char, &compact[1..3], subclass as char);
    let rest = &compact[4..];
    if rest.is_empty() {
        return Some(head);
    }
    let (group, subgroup) = rest.split_once('/')?;
    let digits =
        |s: &str, min: usize, max: usize| (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(group, 1, 4) || !digits(subgroup, 2, 6) {
        return None;
    }
    Some(format!("{head} {group}/{subgroup}"))
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn valid_symbols_are_normalized() {
        assert_eq!(normalize("H01M 10/0525").as_deref(), Some("H01M 10/0525"));
        assert_eq!(normalize("g06n3/08").as_deref(), Some("G06N 3/08"));
        assert_eq!(normalize("A01B").as_deref(), Some("A01B"));
    }

    #[test]
    fn malformed_symbols_are_refused() {
        for bad in
            ["", "Z01M 10/00", "H1M 10/00", "H01 10/00", "H01M 10", "H01M 10/0", "H01M /00", "H01M 12345/00", "锂电池"]
        {
            assert_eq!(normalize(bad), None, "{bad:?} should be refused");
        }
    }
}
