//! A load generator's HTTP/1.1 client: requests encoded once, before the clock starts, and sent
//! on kept-alive connections, as `wrk` does.
//!
//! The benchmarks run their clients on the same two cores as the server they measure. A general
//! client (reqwest) builds and encodes each URL, goes through its pool and its header maps for
//! every request, and that work (about 5% of the CPU in a profile of bench-search) was counted
//! as the server's. This one writes bytes prepared in advance and reads the reply with one
//! header parse, so what the figures show is the server.

use anyhow::{Context, Result, bail};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A GET request, encoded whole.
#[derive(Clone, Debug)]
pub struct PreparedGet {
    bytes: Arc<[u8]>,
}

impl PreparedGet {
    /// `GET path?query` to `host`, the query's pairs form-encoded (as a browser's form would).
    pub fn new(host: &str, path: &str, query: &[(&str, String)]) -> PreparedGet {
        let mut target = String::from(path);
        if !query.is_empty() {
            target.push('?');
            let mut pairs = form_urlencoded::Serializer::new(String::new());
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
            target.push_str(&pairs.finish());
        }
        let request = format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n");
        PreparedGet { bytes: request.into_bytes().into() }
    }
}

/// Kept-alive connections to one server, each used by one request at a time.
#[derive(Clone)]
pub struct KeepAliveClient {
    address: std::net::SocketAddr,
    idle: Arc<Mutex<Vec<Connection>>>,
}

struct Connection {
    stream: TcpStream,
    /// Bytes read past the previous response (none, with one request at a time, but kept).
    buffer: Vec<u8>,
}

/// A response's status and body.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl KeepAliveClient {
    pub fn new(address: std::net::SocketAddr) -> KeepAliveClient {
        KeepAliveClient { address, idle: Arc::new(Mutex::new(Vec::new())) }
    }

    /// Sends `request` and reads its whole response. A kept-alive connection the server has
    /// closed since its last use is replaced once, transparently: a GET is safe to repeat.
    pub async fn get(&self, request: &PreparedGet) -> Result<Reply> {
        let reused = self.idle.lock().expect("idle connections").pop();
        let was_reused = reused.is_some();
        let mut connection = match reused {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        let reply = match exchange(&mut connection, request).await {
            Ok(reply) => reply,
            Err(_) if was_reused => {
                connection = self.connect().await?;
                exchange(&mut connection, request).await?
            }
            Err(e) => return Err(e),
        };
        self.idle.lock().expect("idle connections").push(connection);
        Ok(reply)
    }

    async fn connect(&self) -> Result<Connection> {
        let stream = TcpStream::connect(self.address).await.context("connect")?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream, buffer: Vec::with_capacity(64 * 1024) })
    }
}

async fn exchange(connection: &mut Connection, request: &PreparedGet) -> Result<Reply> {
    connection.stream.write_all(&request.bytes).await.context("write the request")?;
    let buffer = &mut connection.buffer;
    // The head: read until it parses.
    let (status, head_len, body_len) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = response.parse(buffer)? {
            let status = response.code.context("a status")?;
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .context("the server sends sized bodies")?;
            let body_len: usize = std::str::from_utf8(length.value)?.trim().parse()?;
            break (status, head_len, body_len);
        }
        if fill(&mut connection.stream, buffer).await? == 0 {
            bail!("the connection closed before a response");
        }
    };
    while buffer.len() < head_len + body_len {
        if fill(&mut connection.stream, buffer).await? == 0 {
            bail!("the connection closed inside a response");
        }
    }
    let body = buffer[head_len..head_len + body_len].to_vec();
    buffer.drain(..head_len + body_len);
    Ok(Reply { status, body })
}

/// Appends what the socket has to `buffer`; 0 at the end of the stream.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<usize> {
    let start = buffer.len();
    buffer.resize(start + 16 * 1024, 0);
    let read = stream.read(&mut buffer[start..]).await;
    let n = *read.as_ref().unwrap_or(&0);
    buffer.truncate(start + n);
    Ok(read?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers `per_connection` requests on each connection (echoing each
    /// request's target as the body), then closes it.
    async fn server(per_connection: usize) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    let mut served = 0;
                    while served < per_connection {
                        let mut chunk = [0u8; 1024];
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&chunk[..n]);
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                            pending.drain(..end + 4);
                            let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{target}", target.len());
                            socket.write_all(reply.as_bytes()).await.expect("reply");
                            served += 1;
                        }
                    }
                });
            }
        });
        address
    }

    #[tokio::test]
    async fn each_reply_is_read_whole_and_the_query_is_form_encoded() {
        let client = KeepAliveClient::new(server(100).await);
        for text in ["锂电池", "a \"b\" & c"] {
            let request = PreparedGet::new("127.0.0.1", "/api/v1/search", &[("q", text.to_owned())]);
            let reply = client.get(&request).await.expect("reply");
            assert_eq!(reply.status, 200);
            let target = String::from_utf8(reply.body).expect("utf-8");
            let query = target.strip_prefix("/api/v1/search?").expect("the path");
            let decoded: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            assert_eq!(decoded, [("q".to_owned(), text.to_owned())]);
        }
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_replaced_without_an_error() {
        let client = KeepAliveClient::new(server(1).await);
        let request = PreparedGet::new("127.0.0.1", "/healthz", &[]);
        for _ in 0..3 {
            let reply = client.get(&request).await.expect("reply");
            assert_eq!(reply.body, b"/healthz");
        }
    }
}
