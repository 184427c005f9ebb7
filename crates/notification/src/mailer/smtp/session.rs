//! One SMTP connection, spoken by hand: replies, `EHLO`, `STARTTLS`, `AUTH`, and the mail
//! transaction, which pipelines its envelope when the server offers `PIPELINING` (RFC 2920).
//!
//! Why not lettre's connection: it waits for the reply to every command, so each mail costs four
//! round trips (`MAIL`, `RCPT`, `DATA`, the content), and it writes the content and the final dot
//! in two writes. Here, with `PIPELINING`, `MAIL`, `RCPT` and `DATA` leave in one write and the
//! content with its dot in another; in a chain of mails ([`Session::send_chain`]) the next mail's
//! envelope leaves in the same write as the content before it: one round trip, one write and one
//! read a mail, on both sides of the connection. A server that does not offer `PIPELINING` gets
//! one command at a time. lettre still builds the MIME message.

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

/// `commands`, each ended by CRLF, appended to `out`.
fn push_commands(out: &mut Vec<u8>, commands: &[String]) {
    for command in commands {
        out.extend_from_slice(command.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// One mail for [`Session::send_chain`]: the envelope's sender and recipients, and the whole
/// message (headers and body, CRLF line ends).
#[derive(Debug, Clone, Copy)]
pub(super) struct Mail<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub content: &'a [u8],
}

/// What became of one mail of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    Sent,
    Failed(MailError),
    /// The connection broke before the mail's content left: it was not delivered, and can go
    /// at once on another connection.
    NotSent,
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
}

impl Session {
    /// Connects, reads the greeting, says `EHLO`, secures the connection and logs in, as the
    /// endpoint asks. Every failure is transient unless the server's reply says otherwise.
    pub async fn open(dialer: &Dialer<'_>) -> Result<Session, MailError> {
        let Endpoint { host, port, security, credentials, .. } = dialer.endpoint;
        let address = format!("{host}:{port}");
        let tcp = tokio::time::timeout(dialer.timeout, TcpStream::connect((host.as_str(), *port)))
            .await
            .map_err(|_| MailError::Transient(format!("connecting to {address} timed out")))?
            .map_err(|e| MailError::Transient(format!("connecting to {address}: {e}")))?;
        // Each write is a whole group of commands or a whole message: nothing to gain from Nagle.
        tcp.set_nodelay(true).map_err(|e| MailError::Transient(format!("{address}: {e}")))?;
        // A URL that asks for TLS always has its setup (`SmtpMailer::tls_setup`); without one,
        // nothing goes in clear.
        let no_tls = || MailError::Transient(format!("{address}: TLS is required but not set up"));
        let stream = match (security, dialer.tls) {
            (Security::Implicit, Some(tls)) => Stream::Tls(Box::new(handshake(tls, tcp, dialer.timeout).await?)),
            (Security::Implicit | Security::StartTls, None) => return Err(no_tls()),
            (Security::None | Security::StartTls, _) => Stream::Plain(tcp),
        };
        let mut session = Session {
            io: BufReader::with_capacity(8 * 1024, stream),
            extensions: Extensions::default(),
            out: Vec::new(),
            line: Vec::with_capacity(256),
            timeout: dialer.timeout,
            broken: false,
        };
        let greeting = session.read_reply().await?;
        if greeting.code != 220 {
            return Err(greeting.failure("the server's greeting"));
        }
        session.ehlo(dialer.hello).await?;
        if let (Security::StartTls, Some(tls)) = (security, dialer.tls) {
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

    /// `NOOP`: is the server still there?
    pub async fn noop(&mut self) -> bool {
        matches!(self.command("NOOP").await, Ok(reply) if reply.is_completion())
    }

    /// Sends `mails` in order on this connection, one outcome each. With `PIPELINING` each
    /// mail's envelope rides behind the previous mail's content (RFC 2920 lets the content open a
    /// group), so a chain costs one round trip a mail, plus one.
    pub async fn send_chain(&mut self, mails: &[Mail<'_>]) -> Vec<Outcome> {
        let envelopes: Vec<Result<Vec<String>, MailError>> = mails.iter().map(|m| self.envelope(m)).collect();
        let mut outcomes = Vec::with_capacity(mails.len());
        // Whether the envelope of the mail at hand already left, behind the previous content.
        let mut sent_ahead = false;
        for (i, mail) in mails.iter().enumerate() {
            if self.broken {
                outcomes.push(Outcome::NotSent);
                continue;
            }
            let commands = match &envelopes[i] {
                Ok(commands) => commands,
                Err(error) => {
                    outcomes.push(Outcome::Failed(error.clone()));
                    continue;
                }
            };
            let Ok(replies) = self.envelope_replies(commands, std::mem::take(&mut sent_ahead)).await else {
                outcomes.push(Outcome::NotSent);
                continue;
            };
            if let Some(error) = self.refusal(commands, &replies).await {
                outcomes.push(Outcome::Failed(error));
                continue;
            }
            self.out.clear();
            push_data(&mut self.out, mail.content);
            if self.extensions.pipelining
                && let Some(Ok(next)) = envelopes.get(i + 1)
            {
                push_commands(&mut self.out, next);
                sent_ahead = true;
            }
            // From here the server may have the message, whatever happens next: a failure is an
            // ordinary one, retried later (with the same Message-ID).
            let reply = match self.write_out().await {
                Ok(()) => self.read_reply().await,
                Err(error) => Err(error),
            };
            outcomes.push(match reply {
                Ok(reply) if reply.is_completion() => Outcome::Sent,
                Ok(reply) => Outcome::Failed(reply.failure("the message")),
                Err(error) => Outcome::Failed(error),
            });
        }
        outcomes
    }

    /// The envelope of `mail` (`MAIL`, a `RCPT` per address, `DATA`), or why it can't go to
    /// this server.
    fn envelope(&self, mail: &Mail<'_>) -> Result<Vec<String>, MailError> {
        let Mail { from, to, content } = *mail;
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
        Ok(commands)
    }

    /// The replies to an envelope, in order. With `PIPELINING` all its commands are written
    /// at once (unless they already left, `sent_ahead`) before any reply is read; otherwise each
    /// waits for the previous reply, and a refusal ends the envelope there.
    async fn envelope_replies(&mut self, commands: &[String], sent_ahead: bool) -> Result<Vec<Reply>, MailError> {
        let mut replies = Vec::with_capacity(commands.len());
        if self.extensions.pipelining {
            if !sent_ahead {
                self.out.clear();
                push_commands(&mut self.out, commands);
                self.write_out().await?;
            }
            for _ in commands {
                replies.push(self.read_reply().await?);
            }
        } else {
            for command in commands {
                let reply = self.command(command).await?;
                let refused = reply.code >= 400;
                replies.push(reply);
                if refused {
                    break;
                }
            }
        }
        Ok(replies)
    }

    /// The first refusal among an envelope's replies, after ending the transaction so the
    /// connection can carry the next mail.
    async fn refusal(&mut self, commands: &[String], replies: &[Reply]) -> Option<MailError> {
        let (command, reply) = commands.iter().zip(replies).find(|(command, reply)| {
            let expected = if command.as_str() == "DATA" { reply.code == 354 } else { reply.is_completion() };
            !expected
        })?;
        let error = reply.failure(command);
        let data_accepted = replies.len() == commands.len() && replies.last().is_some_and(|r| r.code == 354);
        if data_accepted {
            // RFC 2920 §3.1: the server took DATA although it refused a recipient; an empty
            // message ends it, and is refused for lack of recipients.
            self.out.clear();
            self.out.extend_from_slice(b".\r\n");
            if self.write_out().await.is_err() || self.read_reply().await.is_err() {
                return Some(error);
            }
        }
        self.reset().await;
        Some(error)
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
