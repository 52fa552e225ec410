//! An API base URL a user may set (`settings.api_url`): scheme, host, optional port and path
//! prefix, which replace a network's documented base. Checked when the setting is saved, and
//! again (with the address rules of the SSRF guard) before each call.

use url::Url;

/// The URL, or why it is not an API base.
pub fn parse_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("only http and https are supported".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("user info is not allowed".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("no query or fragment: give scheme, host, port and path only".into());
    }
    if url.host().is_none() {
        return Err("a host is required".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_have_a_scheme_and_host_and_nothing_after_the_path() {
        for ok in [
            "https://api.example.net",
            "http://10.1.2.3:8080/v2",
            " https://api.example.net/api/ ",
        ] {
            assert!(parse_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "api.example.net",
            "ftp://api.example.net",
            "https://user:pw@api.example.net",
            "https://api.example.net/?token=1",
            "https://api.example.net/#x",
            "",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad}");
        }
    }
}
