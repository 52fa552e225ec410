//! A lean HTTP/1.1 keep-alive client for the load generator. On a 2-core machine the generator
//! competes with the server for CPU; a full client (reqwest: URL parsing, header maps, a pool)
//! costs several times what writing a request line and reading a status line does, and that
//! CPU would be taken from the server being measured.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One keep-alive connection; reconnects after an error.
pub struct Connection {
    addr: String,
    host: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Connection {
    /// `base` is `http://host:port`.
    pub fn new(base: &str) -> Connection {
        let host = base.trim_start_matches("http://").to_string();
        Connection {
            addr: host.clone(),
            host,
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// `GET path_and_query`; returns the status code once the whole response has been read.
    pub async fn get(&mut self, path_and_query: &str) -> Result<u16, String> {
        let result = self.exchange(path_and_query).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, path_and_query: &str) -> Result<u16, String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr)
                .await
                .map_err(|e| format!("connect {}: {e}", self.addr))?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        let request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {}\r\n\r\n",
            self.host
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        self.buf.clear();
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf).map_err(|e| e.to_string())? {
                httparse::Status::Complete(head) => {
                    let status = response.code.ok_or("no status code")?;
                    let length: usize = response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                        .ok_or("response without content-length")?;
                    while self.buf.len() < head + length {
                        read_more(stream, &mut self.buf).await?;
                    }
                    return Ok(status);
                }
                httparse::Status::Partial => read_more(stream, &mut self.buf).await?,
            }
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("connection closed".into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}
