//! A real SMTP server inside the test process, for tests of code that sends mail.
//!
//! [`SmtpSink::start`] listens on a free loopback port (mailin-embedded, a blocking server on its
//! own threads) and keeps every message it accepts, decoded the way a mail client would decode it
//! (mail-parser: MIME parts, quoted-printable and base64 bodies, RFC 2047 subjects). Tests wait for
//! mail with [`SmtpSink::wait_for`], which wakes on arrival instead of polling, and can make the
//! server refuse the next messages with [`SmtpSink::fail_next`] to exercise retries.
//!
//! mailin-embedded has no way to stop a server, so its threads (one accepting, 32 for
//! sessions) live until the test process exits; each sink costs that and one socket.

use mail_parser::{MessageParser, PartType};
use mailin_embedded::{Handler, Response, Server, response};
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

/// One message as the sink received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message exactly as transmitted (after SMTP dot-unstuffing).
    pub raw: String,
    /// The `Message-ID` header with its angle brackets, as [`achex_notification::message_id`]
    /// writes it.
    pub message_id: Option<String>,
    /// The decoded subject; empty when there is none.
    pub subject: String,
    /// The decoded `text/plain` part, if the message has one.
    pub text_body: Option<String>,
    /// The decoded `text/html` part, if the message has one.
    pub html_body: Option<String>,
}

impl ReceivedMail {
    fn parse(from: String, to: Vec<String>, data: &[u8]) -> Self {
        let raw = String::from_utf8_lossy(data).into_owned();
        let parsed = MessageParser::default().parse(data);
        let Some(message) = parsed else {
            return Self { from, to, raw, message_id: None, subject: String::new(), text_body: None, html_body: None };
        };
        // mail-parser lists an HTML part among the text bodies when there is no text/plain one
        // (and the other way round); only a part of the asked-for type counts here.
        let text_body = message.text_body.iter().find_map(|&id| match &message.parts.get(id as usize)?.body {
            PartType::Text(text) => Some(text.to_string()),
            _ => None,
        });
        let html_body = message.html_body.iter().find_map(|&id| match &message.parts.get(id as usize)?.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        });
        Self {
            message_id: message.message_id().map(|id| format!("<{id}>")),
            subject: message.subject().unwrap_or_default().to_owned(),
            text_body,
            html_body,
            from,
            to,
            raw,
        }
    }

    /// The raw value of the first header called `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let message = MessageParser::default().parse(self.raw.as_bytes())?;
        message.header_raw(name).map(|value| value.trim().to_owned())
    }
}

struct Shared {
    received: Mutex<Vec<ReceivedMail>>,
    /// How many messages have arrived; waiters watch it.
    arrived: watch::Sender<usize>,
    /// Reply codes for the next messages to refuse, in order.
    failures: Mutex<VecDeque<u16>>,
}

/// mailin clones the handler for every connection, so the per-message fields start empty in
/// each session and everything shared sits behind the `Arc`.
#[derive(Clone)]
struct SinkHandler {
    shared: Arc<Shared>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for SinkHandler {
    /// Queued refusals are answered to the DATA command. A real server would more often refuse
    /// at the end of the data, but mailin keeps a session in its data state after a refusal
    /// there, so the client's QUIT would be taken for message text and never answered, and the
    /// client would hang until its timeout. Refused at DATA, the session still answers QUIT.
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        if let Some(code) = self.shared.failures.lock().unwrap_or_else(PoisonError::into_inner).pop_front() {
            return Response::custom(code, format!("smtp sink refuses this message as told ({code})"));
        }
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let data = std::mem::take(&mut self.data);
        let mail = ReceivedMail::parse(std::mem::take(&mut self.from), std::mem::take(&mut self.to), &data);
        // The count is published while the list is locked: two sessions ending together must not
        // publish their counts out of order (a stale 3 after a 4 left waiters waiting for mail
        // that had arrived).
        let mut received = self.shared.received.lock().unwrap_or_else(PoisonError::into_inner);
        received.push(mail);
        self.shared.arrived.send_replace(received.len());
        response::OK
    }
}

/// Concurrent SMTP sessions the sink serves.
const SESSION_THREADS: u32 = 32;

/// An SMTP server on `127.0.0.1` that keeps what it receives.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl SmtpSink {
    /// Starts a sink on a free port. Panics if no loopback socket can be had: a test can't run
    /// without one.
    pub fn start() -> SmtpSink {
        // Binding here and handing the listener over means the port is known before the server
        // thread runs and nothing else can take it in between.
        let listener = TcpListener::bind("127.0.0.1:0").expect("the smtp sink needs a loopback port");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            received: Mutex::new(Vec::new()),
            arrived: watch::Sender::new(0),
            failures: Mutex::new(VecDeque::new()),
        });
        let handler = SinkHandler { shared: shared.clone(), from: String::new(), to: Vec::new(), data: Vec::new() };
        let mut server = Server::new(handler);
        // A session thread stays busy for as long as a client keeps its connection, and senders pool
        // their connections: enough threads for several dispatchers' pools at once.
        server.with_name("smtp-sink.test").with_num_threads(SESSION_THREADS).with_tcp_listener(listener);
        std::thread::Builder::new()
            .name(format!("smtp-sink-{}", addr.port()))
            .spawn(move || {
                if let Err(error) = server.serve() {
                    eprintln!("smtp sink on {addr} stopped: {error}");
                }
            })
            .expect("the smtp sink thread starts");
        SmtpSink { addr, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`, for `SmtpMailer::from_url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Everything received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Refuses the next `count` messages with reply `code` to the DATA command: a 4xx code for a
    /// temporary failure (451: local error), a 5xx code for a permanent one (554: transaction
    /// failed).
    pub fn fail_next(&self, count: usize, code: u16) {
        assert!((400..600).contains(&code), "a refusal needs a 4xx or 5xx code, not {code}");
        let mut failures = self.shared.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.extend(std::iter::repeat_n(code, count));
    }

    /// Waits until at least `count` messages have arrived and returns them all. Panics after
    /// `timeout`, listing what did arrive.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let mut arrived = self.shared.arrived.subscribe();
        let reached = tokio::time::timeout(timeout, arrived.wait_for(|&n| n >= count)).await;
        if !matches!(reached, Ok(Ok(_))) {
            let subjects: Vec<String> = self.messages().into_iter().map(|m| m.subject).collect();
            panic!("expected {count} mails within {timeout:?}; the smtp sink has {}: {subjects:?}", subjects.len());
        }
        self.messages()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use achex_core::{AuctionId, Lang, LangText, Money, UserId};
    use achex_notification::{
        MailError, Mailer, NotificationPayload, OutgoingEmail, Recipient, SmtpMailer, message_id, render,
    };
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    const WAIT: Duration = Duration::from_secs(10);

    fn outbid_email(lang: Lang) -> OutgoingEmail {
        let payload = NotificationPayload::Outbid {
            auction_id: AuctionId::new(),
            listing_title: LangText {
                zh: Some("锂电池正极材料制备方法".into()),
                en: Some("Cathode material for lithium batteries".into()),
            },
            your_max: Money::cny(1_200_000),
            current_price: Money::cny(1_234_567),
            leader_code: Some("B-03".into()),
            ends_at: Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).single().expect("a valid time"),
        };
        OutgoingEmail {
            event_id: Uuid::now_v7(),
            to: Recipient { user_id: UserId::new(), name: "王小明".into(), address: "wang@example.com".into() },
            lang,
            rendered: render(&payload, lang, "http://localhost:8080"),
        }
    }

    fn mailer(sink: &SmtpSink) -> SmtpMailer {
        SmtpMailer::from_url(&sink.url(), "achex <notify@achex.test>".parse().expect("a valid sender"))
            .expect("the sink's URL is valid")
    }

    #[tokio::test]
    async fn a_chinese_outbid_mail_arrives_decoded_with_its_message_id_and_exact_amount() {
        let sink = SmtpSink::start();
        let email = outbid_email(Lang::Zh);
        mailer(&sink).send(&email).await.expect("the sink accepts the mail");

        let mails = sink.wait_for(1, WAIT).await;
        assert_eq!(mails.len(), 1);
        let mail = &mails[0];
        assert_eq!(mail.from, "notify@achex.test");
        assert_eq!(mail.to, vec!["wang@example.com".to_owned()]);
        assert_eq!(mail.subject, "您的出价已被超越 —「锂电池正极材料制备方法」");
        assert_eq!(
            mail.message_id.as_deref(),
            Some(message_id(email.event_id, email.to.user_id, "achex.test").as_str())
        );
        assert_eq!(mail.header("Auto-Submitted").as_deref(), Some("auto-generated"));

        let text = mail.text_body.as_deref().expect("a text/plain part");
        assert!(text.contains("当前价格：¥12,345.67"), "{text}");
        assert!(text.contains("您的最高出价：¥12,000.00"), "{text}");
        assert_eq!(text.replace("\r\n", "\n"), email.rendered.text);

        let html = mail.html_body.as_deref().expect("a text/html part");
        assert!(html.contains("¥12,345.67"), "{html}");
        assert!(html.contains("锂电池正极材料制备方法"), "{html}");
        // What went over the wire was encoded: the Chinese text is not in the raw message.
        assert!(!mail.raw.contains("锂电池"));
    }

    #[tokio::test]
    async fn a_451_reply_is_a_transient_failure_and_the_retry_gets_through() {
        let sink = SmtpSink::start();
        sink.fail_next(1, 451);
        let mailer = mailer(&sink);
        let email = outbid_email(Lang::En);

        let first = mailer.send(&email).await;
        assert!(matches!(&first, Err(MailError::Transient(reason)) if reason.contains("451")), "{first:?}");
        assert!(sink.messages().is_empty());

        mailer.send(&email).await.expect("the second attempt is accepted");
        let mails = sink.wait_for(1, WAIT).await;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].subject, "You have been outbid on “Cathode material for lithium batteries”");
    }

    #[tokio::test]
    async fn a_554_reply_is_a_permanent_failure() {
        let sink = SmtpSink::start();
        sink.fail_next(1, 554);
        let result = mailer(&sink).send(&outbid_email(Lang::En)).await;
        assert!(matches!(&result, Err(MailError::Permanent(reason)) if reason.contains("554")), "{result:?}");
    }
}
