//! One SMTP connection, spoken by hand: replies, `EHLO`, `STARTTLS`, `AUTH`, and the mail
//! transaction, which pipelines its envelope when the server offers `PIPELINING` (RFC 2920).
//!
//! Why not lettre's connection: it waits for the reply to every command, so each mail costs four
//! round trips (`MAIL`, `RCPT`, `DATA`, the content), and it writes the content and the final dot
//! in two writes. Here, with `PIPELINING`, `MAIL`, `RCPT` and `DATA` leave in one write and the
//! content with its dot in another: two round trips, two writes and two reads a mail, on both
//! sides of the connection. A server that does not offer it gets one command at a time.
//! lettre still builds the MIME message.

use super::{Endpoint, Security};
use crate::error::MailError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::ServerName;

/// A reply line longer than this is not SMTP (RFC 5321 §4.5.3.1.5 allows 512 bytes).
const MAX_LINE: u64 = 4096;
/// Lines in one reply, however the server continues it.
const MAX_LINES: usize = 100;

/// A server's reply: its code and its lines' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    fn is_completion(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The failure this reply reports after `what`: 5xx is permanent, anything else may pass.
    fn failure(&self, what: &str) -> MailError {
        let text = format!("{what}: {self}");
        if (500..600).contains(&self.code) { MailError::Permanent(text) } else { MailError::Transient(text) }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// Parses one reply line: `250-text` (more lines follow) or `250 text` (the last). Returns the
/// code, whether it is the last line, and the text.
fn parse_line(line: &[u8]) -> Option<(u16, bool, String)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
        return None;
    }
    let code = u16::from(digits[0] - b'0') * 100 + u16::from(digits[1] - b'0') * 10 + u16::from(digits[2] - b'0');
    let last = match line.get(3) {
        None | Some(b' ') => true,
        Some(b'-') => false,
        Some(_) => return None,
    };
    let text = line.get(4..).map(|t| String::from_utf8_lossy(t).into_owned()).unwrap_or_default();
    Some((code, last, text))
}

/// What the server said it supports in its `EHLO` reply.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Extensions {
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub smtp_utf8: bool,
    pub starttls: bool,
    /// `AUTH` mechanisms, upper case.
    pub auth: Vec<String>,
    /// The largest message the server takes, when it says (`SIZE n`, 0 meaning no limit).
    pub size: Option<u64>,
}

impl Extensions {
    /// Reads an `EHLO` reply; its first line is the server's greeting, not an extension.
    fn from_ehlo(reply: &Reply) -> Extensions {
        let mut ext = Extensions::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else { continue };
            match keyword.to_ascii_uppercase().as_str() {
                "PIPELINING" => ext.pipelining = true,
                "8BITMIME" => ext.eight_bit_mime = true,
                "SMTPUTF8" => ext.smtp_utf8 = true,
                "STARTTLS" => ext.starttls = true,
                "AUTH" => ext.auth.extend(words.map(str::to_ascii_uppercase)),
                "SIZE" => ext.size = words.next().and_then(|n| n.parse().ok()).filter(|&n| n > 0),
                _ => {}
            }
        }
        ext
    }
}

/// Appends `content` to `out` as the data of a mail: every line that starts with a dot gets
/// another (RFC 5321 §4.5.2), the last line ends with CRLF, then the lone dot that ends the data.
pub(super) fn push_data(out: &mut Vec<u8>, content: &[u8]) {
    out.reserve(content.len() + content.len() / 64 + 5);
    for line in content.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !content.is_empty() && !content.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// The socket, in clear or inside TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// In the reader's place while its socket goes through the TLS handshake; a session left
    /// with it is broken.
    Gone,
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was lost during the TLS handshake")
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Err(gone())),
        }
    }
}

/// How to open a connection: where, how secured, who we are.
pub(super) struct Dialer<'a> {
    pub endpoint: &'a Endpoint,
    /// Set when the endpoint asks for TLS.
    pub tls: Option<&'a (TlsConnector, ServerName<'static>)>,
    /// Our name in `EHLO`.
    pub hello: &'a str,
    /// For connecting, the TLS handshake and each reply.
    pub timeout: Duration,
}

/// An open SMTP connection, greeted, secured and logged in as its URL asks, between mails.
pub(super) struct Session {
    io: BufReader<Stream>,
    extensions: Extensions,
    /// Commands and content about to be written, kept between mails for its capacity.
    out: Vec<u8>,
    line: Vec<u8>,
    timeout: Duration,
    /// Set when the connection can't carry another mail: a network error, a reply that is not
    /// SMTP, or a failed reset.
    broken: bool,
    /// Set once a mail's content has been written: after that, a failure may follow a delivery.
    content_sent: bool,
}

impl Session {
    /// Connects, reads the greeting, says `EHLO`, secures the connection and logs in, as the
    /// endpoint asks. Every failure is transient unless the server's reply says otherwise.
    pub async fn open(dialer: &Dialer<'_>) -> Result<Session, MailError> {
        let Endpoint { host, port, security, credentials } = dialer.endpoint;
        let address = format!("{host}:{port}");
        let tcp = tokio::time::timeout(dialer.timeout, TcpStream::connect((host.as_str(), *port)))
            .await
            .map_err(|_| MailError::Transient(format!("connecting to {address} timed out")))?
            .map_err(|e| MailError::Transient(format!("connecting to {address}: {e}")))?;
        // Each write is a whole group of commands or a whole message: nothing to gain from Nagle.
        tcp.set_nodelay(true).map_err(|e| MailError::Transient(format!("{address}: {e}")))?;
        let stream = match (security, dialer.tls) {
            (Security::Implicit, Some(tls)) => Stream::Tls(Box::new(handshake(tls, tcp, dialer.timeout).await?)),
            _ => Stream::Plain(tcp),
        };
        let mut session = Session {
            io: BufReader::with_capacity(8 * 1024, stream),
            extensions: Extensions::default(),
            out: Vec::new(),
            line: Vec::with_capacity(256),
            timeout: dialer.timeout,
            broken: false,
            content_sent: false,
        };
        let greeting = session.read_reply().await?;
        if greeting.code != 220 {
            return Err(greeting.failure("the server's greeting"));
        }
        session.ehlo(dialer.hello).await?;
        if *security == Security::StartTls {
            let Some(tls) = dialer.tls else { unreachable!("STARTTLS endpoints have a TLS connector") };
            session.starttls(tls, dialer.hello).await?;
        }
        if let Some((user, password)) = credentials {
            session.login(user, password).await?;
        }
        Ok(session)
    }

    /// True when this connection must not be used again.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// True when the last mail's content was written before it failed, so the server may have
    /// taken it.
    pub fn content_sent(&self) -> bool {
        self.content_sent
    }

    /// `NOOP`: is the server still there?
    pub async fn noop(&mut self) -> bool {
        matches!(self.command("NOOP").await, Ok(reply) if reply.is_completion())
    }

    /// Sends one mail from `from` to every address in `to` (all must be accepted). `content` is
    /// the whole message, headers and body, with CRLF line ends.
    pub async fn send(&mut self, from: &str, to: &[String], content: &[u8]) -> Result<(), MailError> {
        self.content_sent = false;
        let mut parameters = String::new();
        if let Some(limit) = self.extensions.size {
            if content.len() as u64 > limit {
                return Err(MailError::Permanent(format!(
                    "the message has {} bytes and the server takes at most {limit}",
                    content.len()
                )));
            }
            parameters.push_str(&format!(" SIZE={}", content.len()));
        }
        if !content.is_ascii() {
            if !self.extensions.eight_bit_mime {
                return Err(MailError::Permanent("the message is not ASCII and the server lacks 8BITMIME".into()));
            }
            parameters.push_str(" BODY=8BITMIME");
        }
        if !from.is_ascii() || to.iter().any(|a| !a.is_ascii()) {
            if !self.extensions.smtp_utf8 {
                return Err(MailError::Permanent("an address is not ASCII and the server lacks SMTPUTF8".into()));
            }
            parameters.push_str(" SMTPUTF8");
        }
        let mut commands = Vec::with_capacity(to.len() + 2);
        commands.push(format!("MAIL FROM:<{from}>{parameters}"));
        commands.extend(to.iter().map(|address| format!("RCPT TO:<{address}>")));
        commands.push("DATA".to_owned());

        // The replies to the envelope, in order; with PIPELINING all are asked before any is read.
        let mut replies = Vec::with_capacity(commands.len());
        if self.extensions.pipelining {
            self.out.clear();
            for command in &commands {
                self.out.extend_from_slice(command.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            self.write_out().await?;
            for _ in &commands {
                replies.push(self.read_reply().await?);
            }
        } else {
            for command in &commands {
                let reply = self.command(command).await?;
                let refused = reply.code >= 400;
                replies.push(reply);
                if refused {
                    break;
                }
            }
        }

        let data_accepted = replies.len() == commands.len() && replies.last().is_some_and(|r| r.code == 354);
        let refusal = commands.iter().zip(&replies).find(|(command, reply)| {
            let expected = if command.as_str() == "DATA" { reply.code == 354 } else { reply.is_completion() };
            !expected
        });
        if let Some((command, reply)) = refusal {
            let error = reply.failure(command);
            if data_accepted {
                // RFC 2920 §3.1: the server took DATA although it refused a recipient; an empty
                // message ends it, and is refused for lack of recipients.
                self.out.clear();
                self.out.extend_from_slice(b".\r\n");
                self.write_out().await?;
                self.read_reply().await?;
            }
            self.reset().await;
            return Err(error);
        }

        self.out.clear();
        push_data(&mut self.out, content);
        self.content_sent = true;
        self.write_out().await?;
        let reply = self.read_reply().await?;
        if reply.is_completion() { Ok(()) } else { Err(reply.failure("the message")) }
    }

    /// `RSET` after a refused envelope, so the connection can carry the next mail; a connection
    /// that does not take it is dropped.
    async fn reset(&mut self) {
        if !matches!(self.command("RSET").await, Ok(reply) if reply.is_completion()) {
            self.broken = true;
        }
    }

    async fn ehlo(&mut self, hello: &str) -> Result<(), MailError> {
        let reply = self.command(&format!("EHLO {hello}")).await?;
        if !reply.is_completion() {
            return Err(reply.failure("EHLO"));
        }
        self.extensions = Extensions::from_ehlo(&reply);
        Ok(())
    }

    /// Upgrades the connection; the URL requires it, so a server that does not offer it gets no
    /// mail in clear.
    async fn starttls(&mut self, tls: &(TlsConnector, ServerName<'static>), hello: &str) -> Result<(), MailError> {
        if !self.extensions.starttls {
            return Err(MailError::Transient("the server does not offer STARTTLS, which the SMTP URL requires".into()));
        }
        let reply = self.command("STARTTLS").await?;
        if reply.code != 220 {
            return Err(reply.failure("STARTTLS"));
        }
        // Anything the server sent after its 220 came in clear and must not be read as if it had
        // come through TLS (the STARTTLS command injection of CVE-2011-0411).
        if !self.io.buffer().is_empty() {
            self.broken = true;
            return Err(MailError::Transient("the server sent data in clear after agreeing to STARTTLS".into()));
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.io, BufReader::new(Stream::Gone)).into_inner() else {
            self.broken = true;
            return Err(MailError::Transient("STARTTLS on a connection that is not in clear".into()));
        };
        let secured = handshake(tls, tcp, self.timeout).await.inspect_err(|_| self.broken = true)?;
        self.io = BufReader::with_capacity(8 * 1024, Stream::Tls(Box::new(secured)));
        // RFC 3207 §4.2: what the server said before TLS is forgotten; ask again.
        self.ehlo(hello).await
    }

    /// `AUTH PLAIN`, or `AUTH LOGIN` when the server offers only that.
    async fn login(&mut self, user: &str, password: &str) -> Result<(), MailError> {
        let offers = |m: &str| self.extensions.auth.iter().any(|a| a == m);
        let reply = if offers("PLAIN") {
            let token = BASE64.encode(format!("\0{user}\0{password}"));
            self.command(&format!("AUTH PLAIN {token}")).await?
        } else if offers("LOGIN") {
            let mut reply = self.command("AUTH LOGIN").await?;
            for answer in [user, password] {
                if reply.code != 334 {
                    break;
                }
                reply = self.command(&BASE64.encode(answer)).await?;
            }
            reply
        } else {
            return Err(MailError::Transient(format!(
                "the server offers no login we speak (PLAIN, LOGIN); it offers {:?}",
                self.extensions.auth
            )));
        };
        if reply.code == 235 { Ok(()) } else { Err(reply.failure("the login")) }
    }

    /// Writes one command and reads its reply.
    async fn command(&mut self, command: &str) -> Result<Reply, MailError> {
        self.out.clear();
        self.out.extend_from_slice(command.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.write_out().await?;
        self.read_reply().await
    }

    async fn write_out(&mut self) -> Result<(), MailError> {
        let (stream, out) = (self.io.get_mut(), &self.out);
        let written = async move {
            stream.write_all(out).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.timeout, written).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.break_off(format!("writing to the server: {e}"))),
            Err(_) => Err(self.break_off("writing to the server timed out".into())),
        }
    }

    /// Reads one reply, however many lines it has.
    async fn read_reply(&mut self) -> Result<Reply, MailError> {
        let mut lines = Vec::new();
        loop {
            self.line.clear();
            let mut limited = (&mut self.io).take(MAX_LINE);
            let read = limited.read_until(b'\n', &mut self.line);
            let n = match tokio::time::timeout(self.timeout, read).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(self.break_off(format!("reading from the server: {e}"))),
                Err(_) => return Err(self.break_off("the server did not answer in time".into())),
            };
            if n == 0 {
                return Err(self.break_off("the server closed the connection".into()));
            }
            if !self.line.ends_with(b"\n") {
                return Err(self.break_off("the server's reply line is too long".into()));
            }
            let Some((code, last, text)) = parse_line(&self.line) else {
                let shown = String::from_utf8_lossy(&self.line).trim_end().chars().take(80).collect::<String>();
                return Err(self.break_off(format!("the server's reply is not SMTP: {shown:?}")));
            };
            lines.push(text);
            if last {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_LINES {
                return Err(self.break_off("the server's reply has too many lines".into()));
            }
        }
    }

    fn break_off(&mut self, why: String) -> MailError {
        self.broken = true;
        MailError::Transient(why)
    }
}

async fn handshake(
    (connector, name): &(TlsConnector, ServerName<'static>),
    tcp: TcpStream,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, MailError> {
    match tokio::time::timeout(timeout, connector.connect(name.clone(), tcp)).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(MailError::Transient(format!("TLS with {name:?}: {e}"))),
        Err(_) => Err(MailError::Transient(format!("TLS with {name:?} timed out"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reply(code: u16, lines: &[&str]) -> Reply {
        Reply { code, lines: lines.iter().map(|l| (*l).to_owned()).collect() }
    }

    #[test]
    fn reply_lines_give_their_code_and_whether_more_follow() {
        assert_eq!(parse_line(b"250-mail.example\r\n"), Some((250, false, "mail.example".into())));
        assert_eq!(parse_line(b"250 OK\r\n"), Some((250, true, "OK".into())));
        assert_eq!(parse_line(b"354\r\n"), Some((354, true, String::new())));
        assert_eq!(parse_line(b"hello\r\n"), None);
        assert_eq!(parse_line(b"25\r\n"), None);
        assert_eq!(parse_line(b"250:OK\r\n"), None);
        assert_eq!(parse_line(b"999 no\r\n"), None);
    }

    #[test]
    fn the_ehlo_reply_tells_which_extensions_the_server_offers() {
        let ext = Extensions::from_ehlo(&reply(
            250,
            &["mail.example greets you", "PIPELINING", "SIZE 10240000", "8BITMIME", "auth login Plain", "STARTTLS"],
        ));
        assert!(ext.pipelining && ext.eight_bit_mime && ext.starttls && !ext.smtp_utf8);
        assert_eq!(ext.auth, ["LOGIN", "PLAIN"]);
        assert_eq!(ext.size, Some(10_240_000));
        // The greeting line is not an extension, and SIZE 0 means no limit.
        let ext = Extensions::from_ehlo(&reply(250, &["PIPELINING", "SIZE 0"]));
        assert!(!ext.pipelining);
        assert_eq!(ext.size, None);
    }

    #[test]
    fn a_5xx_reply_is_a_permanent_failure_and_a_4xx_one_transient() {
        assert!(
            matches!(reply(550, &["no such user"]).failure("RCPT"), MailError::Permanent(m) if m == "RCPT: 550 no such user")
        );
        assert!(matches!(reply(451, &["try later"]).failure("DATA"), MailError::Transient(_)));
    }

    #[test]
    fn lines_starting_with_a_dot_are_doubled_and_the_data_ends_with_a_lone_dot() {
        let mut out = Vec::new();
        push_data(&mut out, b"Subject: x\r\n\r\n.hidden\r\n..two\r\nend");
        assert_eq!(out, b"Subject: x\r\n\r\n..hidden\r\n...two\r\nend\r\n.\r\n");
        out.clear();
        push_data(&mut out, b".\r\n");
        assert_eq!(out, b"..\r\n.\r\n");
    }

    /// What a server does with the data: lines up to the lone dot, one leading dot removed.
    fn unstuff(data: &[u8]) -> Option<Vec<u8>> {
        let mut message = Vec::new();
        for line in data.split_inclusive(|&b| b == b'\n') {
            if line == b".\r\n" {
                return Some(message);
            }
            message.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        None
    }

    proptest! {
        /// Whatever the message holds, the server reads back exactly it (with a final CRLF),
        /// and the data ends where the message does.
        #[test]
        fn the_server_reads_back_exactly_the_message(lines in proptest::collection::vec("[.a-z\\r]{0,6}", 0..12), last in "[.a-z]{0,4}") {
            let mut content = Vec::new();
            for line in &lines {
                content.extend_from_slice(line.trim_end_matches('\r').as_bytes());
                content.extend_from_slice(b"\r\n");
            }
            content.extend_from_slice(last.as_bytes());
            let mut out = Vec::new();
            push_data(&mut out, &content);
            let mut expected = content.clone();
            if !expected.is_empty() && !expected.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            prop_assert_eq!(unstuff(&out), Some(expected));
            prop_assert!(out.ends_with(b".\r\n"));
        }
    }
}
