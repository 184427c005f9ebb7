//! A real browser for tests: Debian's Chromium, headless, driven over the Chrome DevTools
//! Protocol (JSON over a websocket) with the websocket client the live-channel tests already
//! use, so no WebDriver server and no browser-automation crate is needed.
//!
//! `make test` installs the `chromium` package when it is missing. `ACHEX_CHROMIUM` names
//! another binary.
//!
//! Waiting is event-driven: [`Page::wait_for`] evaluates a condition in the page and, until it
//! holds, again on every change of the document (a `MutationObserver`), failing after a deadline.
//! Nothing sleeps.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a page may take to reach a condition a test waits for.
const DEADLINE: Duration = Duration::from_secs(15);

/// A headless Chromium process with one DevTools connection. Killed on drop.
pub struct Browser {
    child: Child,
    socket: Socket,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// One tab of a [`Browser`].
pub struct Page<'b> {
    browser: &'b mut Browser,
    session: String,
}

fn binary() -> String {
    std::env::var("ACHEX_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned())
}

impl Browser {
    /// Starts Chromium with a fresh profile and connects to its DevTools endpoint.
    pub async fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let mut child = Command::new(binary())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-port=0",
                "--lang=en-US",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {} ({e}): install Debian's chromium package (make test does)", binary())
            });
        // Chromium prints its DevTools address on stderr once it listens.
        let stderr = child.stderr.take().expect("piped stderr");
        let endpoint = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stderr).lines();
            let endpoint = lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|line| line.split_once("DevTools listening on ").map(|(_, url)| url.trim().to_owned()));
            // Keep draining, so that the browser never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            endpoint
        })
        .await
        .expect("reading the browser's output")
        .expect("the browser exited before it listened for DevTools");
        let (socket, _) = tokio_tungstenite::connect_async(endpoint.as_str()).await.expect("connect to DevTools");
        Browser { child, socket, next_id: 0, _profile: profile }
    }

    /// Sends one command and returns its result, skipping the events that arrive meanwhile.
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket.send(Message::text(message.to_string())).await.expect("send to DevTools");
        loop {
            let reply = self.receive().await;
            if reply["id"] == json!(id) {
                if let Some(error) = reply.get("error") {
                    panic!("DevTools {method} failed: {error}");
                }
                return reply["result"].clone();
            }
        }
    }

    async fn receive(&mut self) -> Value {
        // Longer than a page's own deadline, so that the page reports what it waited for.
        let frame = tokio::time::timeout(DEADLINE + Duration::from_secs(10), self.socket.next())
            .await
            .expect("DevTools answered in time")
            .expect("the DevTools connection is open")
            .expect("a DevTools frame");
        match frame {
            Message::Text(text) => serde_json::from_str(&text).expect("DevTools sends JSON"),
            other => panic!("unexpected DevTools frame {other:?}"),
        }
    }

    /// Opens a new tab on `url` and waits until it has loaded.
    pub async fn open(&mut self, url: &str) -> Page<'_> {
        let target = self.call(None, "Target.createTarget", json!({ "url": "about:blank" })).await;
        let attached =
            self.call(None, "Target.attachToTarget", json!({ "targetId": target["targetId"], "flatten": true })).await;
        let session = attached["sessionId"].as_str().expect("a session id").to_owned();
        let mut page = Page { browser: self, session };
        page.call("Page.enable", json!({})).await;
        page.call("Runtime.enable", json!({})).await;
        page.navigate(url).await;
        page
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Page<'_> {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.browser.call(Some(&self.session), method, params).await
    }

    /// Loads `url` and waits for its load event.
    pub async fn navigate(&mut self, url: &str) {
        let navigated = self.call("Page.navigate", json!({ "url": url })).await;
        if let Some(error) = navigated.get("errorText") {
            panic!("cannot load {url}: {error}");
        }
        loop {
            let event = self.browser.receive().await;
            if event["method"] == "Page.loadEventFired" && event["sessionId"] == json!(self.session) {
                return;
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting it when it is a promise) and returns its
    /// value. An exception thrown in the page fails the test with its message.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let reply = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expression, "awaitPromise": true, "returnByValue": true, "userGesture": true }),
            )
            .await;
        if let Some(details) = reply.get("exceptionDetails") {
            let message = details["exception"]["description"].as_str().or(details["text"].as_str()).unwrap_or("");
            panic!("the page threw while evaluating {expression}: {message}");
        }
        reply["result"]["value"].clone()
    }

    /// Waits until the JavaScript expression `condition` is truthy in the page and returns its
    /// value. The condition is checked now and after every change of the document.
    pub async fn wait_for(&mut self, condition: &str) -> Value {
        let source = serde_json::to_string(condition).expect("a string");
        let deadline = DEADLINE.as_millis();
        self.eval(&format!(
            r#"new Promise((resolve, reject) => {{
                const test = () => {{ try {{ return ({condition}); }} catch (e) {{ return undefined; }} }};
                const now = test();
                if (now) return resolve(now);
                const observer = new MutationObserver(() => {{
                    const v = test();
                    if (v) {{ observer.disconnect(); clearTimeout(timer); resolve(v); }}
                }});
                observer.observe(document, {{ subtree: true, childList: true, characterData: true, attributes: true }});
                const timer = setTimeout(() => {{
                    observer.disconnect();
                    reject(new Error("waited {deadline} ms for " + {source} + "; the page shows: " + document.body.innerText.slice(0, 500)));
                }}, {deadline});
            }})"#
        ))
        .await
    }
}
