//! The AWS SDK clients' HTTP transport over reqwest: the one HTTP/1.1 + rustls (ring) stack of
//! the workspace. The SDK's own client (aws-smithy-http-client) would link a second
//! connection pool and HTTP/2 (h2), which DynamoDB, Scheduler, EventBridge and Secrets
//! Manager do not need, into every Lambda package.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connect and read timeouts of one connector, as the SDK's settings give them.
type Timeouts = (Option<Duration>, Option<Duration>);

/// The SDK's HTTP client: one reqwest client (its own connection pool) per distinct timeout
/// settings, which the SDK asks for once per client configuration.
#[derive(Debug, Default, Clone)]
struct ReqwestHttpClient {
    connectors: Arc<Mutex<HashMap<Timeouts, SharedHttpConnector>>>,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let timeouts = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        connectors
            .entry(timeouts)
            .or_insert_with(|| SharedHttpConnector::new(Connector::new(timeouts)))
            .clone()
    }
}

#[derive(Debug, Clone)]
struct Connector {
    http: reqwest::Client,
}

impl Connector {
    fn new((connect, read): Timeouts) -> Connector {
        let mut builder = crate::tls::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("affnet/", env!("CARGO_PKG_VERSION")));
        if let Some(connect) = connect {
            builder = builder.connect_timeout(connect);
        }
        if let Some(read) = read {
            builder = builder.read_timeout(read);
        }
        Connector {
            // Fails only without a usable TLS configuration, which ring always gives.
            http: builder.build().expect("an HTTP client for the AWS SDK"),
        }
    }
}

/// Sends an SDK request through `http` and reads the whole reply.
pub async fn send(
    http: &reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let method = reqwest::Method::from_bytes(request.method().as_bytes())
        .map_err(|e| ConnectorError::other(Box::new(e), None))?;
    // Every request these clients make has its body in memory; a streaming one would be
    // sent empty, so it is refused instead.
    let body = request.body().bytes().map(<[u8]>::to_vec).ok_or_else(|| {
        ConnectorError::other("streaming request bodies are not supported".into(), None)
    })?;
    let mut outgoing = http.request(method, request.uri());
    for (name, value) in request.headers() {
        if !name.eq_ignore_ascii_case("content-length") {
            outgoing = outgoing.header(name, value);
        }
    }
    let response = outgoing.body(body).send().await.map_err(classify)?;
    let status = StatusCode::try_from(response.status().as_u16())
        .map_err(|e| ConnectorError::other(Box::new(e), None))?;
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
        .collect();
    let bytes = response.bytes().await.map_err(classify)?;
    let mut reply = HttpResponse::new(status, SdkBody::from(bytes));
    for (name, value) in headers {
        reply.headers_mut().append(name, value);
    }
    Ok(reply)
}

/// reqwest's errors as the SDK's retry policy knows them: a timeout, or an I/O failure (both
/// transient). Every failure of the connection is I/O, the reply's body included: reqwest
/// calls a body cut off mid-read a "decode" error, and as "other" it was not retried (a
/// postback answered 503 at once where a retry on a new connection would have stored it).
/// Only the errors of our own request-building are not.
fn classify(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(Box::new(e))
    } else if e.is_builder() || e.is_redirect() || e.is_status() {
        ConnectorError::other(Box::new(e), None)
    } else {
        ConnectorError::io(Box::new(e))
    }
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(async move { send(&this.http, request).await })
    }
}

/// The HTTP client of every AWS SDK client (`SdkConfig::http_client`, `Config::http_client`).
pub fn aws_http_client() -> SharedHttpClient {
    SharedHttpClient::new(ReqwestHttpClient::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponentsBuilder;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP/1.1 server: answers `reply` and gives back the request it read.
    async fn serve_once(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let served = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&seen).contains("\r\n\r\n{}") {
                let n = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            socket.write_all(reply.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&seen).into_owned()
        });
        (url, served)
    }

    fn connector(client: &SharedHttpClient, connect: Duration) -> SharedHttpConnector {
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(connect)
            .build();
        let components = RuntimeComponentsBuilder::for_tests().build().unwrap();
        client.http_connector(&settings, &components)
    }

    #[tokio::test]
    async fn a_request_goes_out_whole_and_its_reply_comes_back() {
        let (url, served) = serve_once(
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\nx-amzn-requestid: R1\r\n\r\nno",
        )
        .await;
        let client = aws_http_client();
        let mut request = HttpRequest::new(SdkBody::from("{}"));
        request.set_uri(url.as_str()).unwrap();
        request.set_method("POST").unwrap();
        request
            .headers_mut()
            .insert("x-amz-target", "DynamoDB_20120810.GetItem");
        let reply = connector(&client, Duration::from_secs(5))
            .call(request)
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 400);
        assert_eq!(reply.headers().get("x-amzn-requestid"), Some("R1"));
        assert_eq!(reply.body().bytes(), Some(&b"no"[..]));
        let seen = served.await.unwrap().to_lowercase();
        assert!(seen.starts_with("post / http/1.1"), "{seen}");
        assert!(
            seen.contains("x-amz-target: dynamodb_20120810.getitem"),
            "{seen}"
        );
        assert!(seen.contains("content-length: 2"), "{seen}");
    }

    #[tokio::test]
    async fn a_reply_cut_off_mid_body_is_a_transient_io_error() {
        let (url, served) =
            serve_once("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"Item\":").await;
        let client = aws_http_client();
        let mut request = HttpRequest::new(SdkBody::from("{}"));
        request.set_uri(url.as_str()).unwrap();
        request.set_method("POST").unwrap();
        let call = connector(&client, Duration::from_secs(5)).call(request);
        let (result, _) = tokio::join!(call, served);
        let err = result.unwrap_err();
        assert!(err.is_io(), "{err:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_transient_io_error_and_settings_share_a_connector() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = aws_http_client();
        let mut request = HttpRequest::new(SdkBody::from("{}"));
        request
            .set_uri(format!("http://127.0.0.1:{port}/").as_str())
            .unwrap();
        let err = connector(&client, Duration::from_secs(5))
            .call(request)
            .await
            .unwrap_err();
        assert!(err.is_io() || err.is_timeout(), "{err:?}");
        let (a, b) = (
            connector(&client, Duration::from_secs(5)),
            connector(&client, Duration::from_secs(5)),
        );
        assert!(format!("{a:?}") == format!("{b:?}"));
    }
}
