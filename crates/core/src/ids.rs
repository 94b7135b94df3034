/// `prefix-` and 17 lowercase hex digits, as EC2 makes ids today (`vpc-0a1b2c3d4e5f60718`).
pub fn resource_id(prefix: &str) -> String {
    format!("{prefix}-{}", hex(17))
}

/// `n` random lowercase hex digits.
pub fn hex(n: usize) -> String {
    (0..n).map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0')).collect()
}

/// A request id in the UUID format AWS uses.
pub fn request_id() -> String {
    let h = hex(32);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// True when `id` is `prefix-` followed by 8 or 17 hex digits (what AWS accepts as well formed).
pub fn is_well_formed(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|h| (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_aws() {
        let id = resource_id("vpc");
        assert_eq!(id.len(), 4 + 17);
        assert!(is_well_formed(&id, "vpc"));
        assert!(is_well_formed("i-1234abcd", "i"));
        assert!(!is_well_formed("i-zzz", "i"));
        assert!(!is_well_formed("vpc-12345", "vpc"));
        assert_eq!(request_id().len(), 36);
    }
}
