//! Building and sending one call: the base URL (documented or the `api_url` override), the
//! SSRF guard, authentication, the encoding, a bounded reply and the transport's failures.

use crate::fields;
use crate::lead::{Account, LeadFields, Transient};
use crate::spec::{Call, Encoding, Method, NetworkApi};
use affnet_netguard::{GuardedResolver, SystemLookup, is_forbidden_ip};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::{Host, Url};

/// Largest reply read from a network; the rest is dropped (a hostile host cannot fill memory).
pub const MAX_REPLY_BYTES: usize = 256 * 1024;

/// Where a credential goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth<'a> {
    Bearer(&'a str),
    Header(&'a str, &'a str),
    Query(&'a str, &'a str),
    Body(&'a str, &'a str),
}

impl<'a> Auth<'a> {
    pub fn parse(text: &'a str) -> Option<Auth<'a>> {
        let mut parts = text.splitn(3, ':');
        let kind = parts.next()?;
        let (a, b) = (parts.next(), parts.next());
        Some(match (kind, a, b) {
            ("bearer", Some(cred), None) => Auth::Bearer(cred),
            ("header", Some(name), Some(cred)) => Auth::Header(name, cred),
            ("query", Some(name), Some(cred)) => Auth::Query(name, cred),
            ("body", Some(name), Some(cred)) => Auth::Body(name, cred),
            _ => return None,
        })
    }
}

/// A call that cannot be made as configured (a bad `api_url`, a missing credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The base URL of `call`: the `api_url` override, else the call's or the API's documented
/// one. In strict mode an IP literal must be public (host names are checked by the resolver
/// when connecting).
pub fn base_url(api: &NetworkApi, call: &Call, account: &Account<'_>) -> Result<Url, ConfigError> {
    let raw = match (
        account.api_url,
        call.base.as_deref().or(api.base.as_deref()),
    ) {
        (Some(u), _) => u.trim(),
        (None, Some(base)) => base,
        (None, None) => {
            return Err(ConfigError(format!(
                "the reference gives no API host for {}: set settings.api_url",
                api.slug
            )));
        }
    };
    let bad = |why: &str| ConfigError(format!("settings.api_url `{raw}`: {why}"));
    let url = affnet_core::base_url::parse_base_url(raw).map_err(|why| bad(&why))?;
    let ip = match url.host() {
        None => return Err(bad("a host is required")),
        Some(Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        Some(Host::Domain(_)) => None,
    };
    if let Some(ip) = ip
        && !account.allow_private
        && is_forbidden_ip(ip)
    {
        return Err(bad(
            "private, loopback and link-local addresses are refused",
        ));
    }
    Ok(url)
}

/// The two shared clients (checked and unchecked addresses) of the current tokio runtime: no
/// redirects, no proxy, the guarded resolver. Each request sets its own timeout. A pooled
/// connection is driven by a task of the runtime that opened it, so a runtime that ended (each
/// test has its own) would leave the next one dead connections ("dispatch task is gone"): a
/// client is kept for one runtime, and another runtime gets a new one. A server has one runtime.
pub fn client(allow_private: bool) -> reqwest::Client {
    type Kept = Option<(tokio::runtime::Id, reqwest::Client)>;
    static CLIENTS: Mutex<[Kept; 2]> = Mutex::new([None, None]);
    let runtime = tokio::runtime::Handle::current().id();
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    let kept = &mut clients[usize::from(allow_private)];
    match kept {
        Some((id, client)) if *id == runtime => client.clone(),
        _ => {
            let client = build_client(allow_private);
            *kept = Some((runtime, client.clone()));
            client
        }
    }
}

fn build_client(allow_private: bool) -> reqwest::Client {
    affnet_netguard::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            lookup: Arc::new(SystemLookup),
            check: !allow_private,
        }))
        .user_agent("affnet")
        .build()
        .expect("HTTP client")
}

/// One call, ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

#[derive(Debug, Clone)]
pub enum Body {
    None,
    Form(Vec<(String, String)>),
    Json(Value),
    /// Exact bytes (a signed body must go out as it was signed).
    Raw(String),
}

impl Prepared {
    /// The body as sent (forms encoded), for signatures.
    pub fn body_text(&self) -> String {
        match &self.body {
            Body::None => String::new(),
            Body::Form(pairs) => serde_urlencoded::to_string(pairs).unwrap_or_default(),
            Body::Json(v) => v.to_string(),
            Body::Raw(text) => text.clone(),
        }
    }
}

/// The credential `key` of the account, or why the call cannot be made.
pub fn credential<'a>(account: &'a Account<'_>, key: &str) -> Result<&'a str, ConfigError> {
    account
        .credentials
        .get(key)
        .map(String::as_str)
        .ok_or_else(|| ConfigError(format!("credentials.{key} is not set")))
}

/// Replaces `{cred.KEY}` and `{param.KEY}` in a path.
fn fill_path(
    path: &str,
    lead: Option<&LeadFields>,
    account: &Account<'_>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map(|e| start + e)
            .ok_or_else(|| ConfigError(format!("bad path `{path}`")))?;
        let name = &rest[start + 1..end];
        let source = name.replacen('.', ":", 1);
        let value = fields::value(&source, lead, account)
            .ok_or_else(|| ConfigError(format!("`{name}` is not set")))?;
        out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Puts `value` at a dotted path of a JSON object (`client.name`).
fn insert_nested(root: &mut Map<String, Value>, path: &str, value: String) {
    match path.split_once('.') {
        None => {
            root.insert(path.to_string(), Value::String(value));
        }
        Some((head, tail)) => {
            let child = root
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(map) = child {
                insert_nested(map, tail, value);
            }
        }
    }
}

/// Builds `call` against `base` for `lead` (none for read-only calls), with `extra` pairs
/// (ids, pages) in the body or query as the encoding says.
pub fn prepare(
    call: &Call,
    base: &Url,
    lead: Option<&LeadFields>,
    account: &Account<'_>,
    extra: &[(String, String)],
) -> Result<Prepared, ConfigError> {
    let path = fill_path(&call.path, lead, account)?;
    let mut url = Url::parse(&format!("{}{}", base.as_str().trim_end_matches('/'), path))
        .map_err(|e| ConfigError(format!("bad URL: {e}")))?;
    let mut query: Vec<(String, String)> = Vec::new();
    let mut body: Vec<(String, String)> = Vec::new();
    let mut headers = Vec::new();
    for auth in &call.auth {
        match Auth::parse(auth).ok_or_else(|| ConfigError(format!("bad auth `{auth}`")))? {
            Auth::Bearer(c) => headers.push((
                "authorization".into(),
                format!("Bearer {}", credential(account, c)?),
            )),
            Auth::Header(n, c) => {
                headers.push((n.to_ascii_lowercase(), credential(account, c)?.to_string()))
            }
            Auth::Query(n, c) => query.push((n.into(), credential(account, c)?.into())),
            Auth::Body(n, c) => body.push((n.into(), credential(account, c)?.into())),
        }
    }
    for (name, source) in &call.query {
        if let Some(v) = fields::value(source, lead, account) {
            query.push((name.clone(), v));
        }
    }
    for (name, source) in &call.fields {
        if let Some(v) = fields::value(source, lead, account) {
            body.push((name.clone(), v));
        }
    }
    body.extend(extra.iter().cloned());
    let body = match call.encoding {
        Encoding::Query => {
            query.append(&mut body);
            Body::None
        }
        Encoding::Form if body.is_empty() => Body::None,
        Encoding::Form => Body::Form(body),
        Encoding::Json => {
            let mut root = Map::new();
            for (k, v) in body {
                insert_nested(&mut root, &k, v);
            }
            Body::Json(Value::Object(root))
        }
    };
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter());
    }
    Ok(Prepared {
        method: call.method,
        url,
        headers,
        body,
    })
}

/// What came back, or why nothing did.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: Option<u16>,
    /// The body as it came (for reading its JSON: ids and statuses are never altered).
    pub body: String,
    /// The body with every credential redacted, in any form ([`crate::mask::redact`]): the only
    /// form of it that becomes a text we keep or show (error messages, the attempt log).
    pub text: String,
    /// Set when no usable answer came (timeout, connection, refused address).
    pub failure: Option<(Transient, String)>,
    pub duration: Duration,
}

/// Sends `prepared` within the account's timeout; reads at most [`MAX_REPLY_BYTES`].
pub async fn send(prepared: &Prepared, account: &Account<'_>) -> RawReply {
    let started = Instant::now();
    let client = client(account.allow_private);
    let mut builder = match prepared.method {
        Method::Get => client.get(prepared.url.clone()),
        Method::Post => client.post(prepared.url.clone()),
    }
    .timeout(account.timeout);
    for (name, value) in &prepared.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder = match &prepared.body {
        Body::None => builder,
        Body::Form(pairs) => builder.form(pairs),
        Body::Json(v) => builder.json(v),
        Body::Raw(text) => builder
            .header("content-type", "application/json")
            .body(text.clone()),
    };
    let outcome = tokio::time::timeout(account.timeout, async {
        let mut response = builder.send().await?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_REPLY_BYTES.saturating_sub(bytes.len());
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if room <= chunk.len() {
                break;
            }
        }
        Ok::<_, reqwest::Error>((status, bytes))
    })
    .await;
    let duration = started.elapsed();
    match outcome {
        Ok(Ok((status, bytes))) => {
            let body = String::from_utf8_lossy(&bytes).into_owned();
            RawReply {
                status: Some(status),
                text: crate::mask::redact(&body, crate::generic::secrets(account)),
                body,
                failure: None,
                duration,
            }
        }
        Ok(Err(e)) => RawReply {
            status: None,
            body: String::new(),
            text: String::new(),
            failure: Some(transport_failure(&e, account.timeout)),
            duration,
        },
        Err(_) => RawReply {
            status: None,
            body: String::new(),
            text: String::new(),
            failure: Some(timed_out(account.timeout)),
            duration,
        },
    }
}

fn timed_out(timeout: Duration) -> (Transient, String) {
    (
        Transient::Timeout,
        format!("no answer within {} ms (timeout_ms)", timeout.as_millis()),
    )
}

/// The failure in words, without the URL (it may carry a key in its query).
fn transport_failure(e: &reqwest::Error, timeout: Duration) -> (Transient, String) {
    if e.is_timeout() {
        return timed_out(timeout);
    }
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    (
        Transient::Connection,
        format!("could not reach the network{text}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A keep-alive HTTP/1.1 server on its own thread (it outlives the runtimes that call it):
    /// answers `ok` to every request on every connection, and counts the connections.
    fn keep_alive_server() -> (String, Arc<AtomicUsize>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    let mut line = String::new();
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line == "\r\n" {
                            let reply = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                            if stream.write_all(reply.as_bytes()).is_err() {
                                return;
                            }
                        }
                        line.clear();
                    }
                });
            }
        });
        (url, connections)
    }

    fn call(runtime: &tokio::runtime::Runtime, url: &str) -> String {
        runtime.block_on(async {
            let reply = client(true).get(url).send().await.unwrap();
            reply.text().await.unwrap()
        })
    }

    /// A test's runtime ends while another test's runs (wiremock hands its port on): the second
    /// must not take the first one's pooled connection, whose task dies with its runtime.
    #[test]
    fn each_runtime_keeps_its_own_connections() {
        let (url, connections) = keep_alive_server();
        let first = tokio::runtime::Runtime::new().unwrap();
        assert_eq!(call(&first, &url), "ok");
        // hyper hands a connection back to its pool from a task once the reply is read: let it,
        // so that a shared pool would offer this connection to the second runtime.
        first.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
        let before = connections.load(Ordering::SeqCst);
        let second = tokio::runtime::Runtime::new().unwrap();
        assert_eq!(call(&second, &url), "ok");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            before + 1,
            "the second runtime opened its own connection"
        );
        drop(first);
        assert_eq!(
            call(&second, &url),
            "ok",
            "unhurt by the first runtime's end"
        );
    }
}
