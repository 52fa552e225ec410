//! The one TLS stack of every outgoing call: rustls 0.23 with the `ring` provider, for reqwest
//! (TUNE, the CPA networks, webhooks) and for the AWS SDK clients alike ([`crate::aws_http`]). Not aws-lc-rs, the
//! SDKs' default: the larger library, and each Lambda package is sized by its zip.

/// Makes `ring` the process's rustls provider, which reqwest's `rustls-no-provider` build
/// requires before a client is built. Idempotent; a provider installed first stays.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one in between: that one serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// `reqwest::Client::builder()` with the crypto provider installed: every reqwest client of the
/// workspace starts here (reqwest panics at `build` without a provider).
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reqwest_client_builds_with_ring_installed() {
        client_builder().build().expect("a client");
        let provider = rustls::crypto::CryptoProvider::get_default().expect("installed");
        let ring = rustls::crypto::ring::default_provider();
        let names = |p: &rustls::crypto::CryptoProvider| {
            p.cipher_suites
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(provider), names(&ring));
    }
}
