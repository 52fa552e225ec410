//! Identifiers and secrets we mint.

/// A new sortable id (ULID: 26 characters, no `-`), strictly increasing within a process so
/// that items created in one millisecond still list in creation order.
pub fn new_id() -> String {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    generator
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
        .to_string()
}

/// A new postback token: 160 random bits from the OS, hex-encoded (40 characters, no `-`, so
/// AlterCPA's `id={integration}-{token}` splits unambiguously).
pub fn new_token() -> String {
    random_hex(20)
}

/// `bytes` random bytes from the OS, hex-encoded.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("OS random source");
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_distinct_and_dashless() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 40);
        assert_ne!(a, b);
        assert!(!a.contains('-'));
        assert!(!new_id().contains('-'));
    }
}
