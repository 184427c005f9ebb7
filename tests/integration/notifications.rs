//! Notifications end to end: a real SMTP server receives the e-mails, a real websocket the live
//! pushes, and the inbox is read over HTTP.
//!
//! Nothing sleeps to wait: e-mails are awaited on the sink's arrival counter, pushes on the socket,
//! and where a test needs the dispatcher to have finished it drives the dispatcher's rounds itself
//! (`fan_out_once`, `send_due_once`), which is what its loops do.

use achex_core::{Clock, Lang, Money};
use achex_notification::render::format_money;
use achex_tests::smtp_sink::SmtpSink;
use achex_tests::{Actor, PASSWORD, TestApp};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

fn cny(amount: i64) -> Value {
    json!({"amount": amount, "currency": "CNY"})
}

/// A test app whose e-mail goes to `sink` over SMTP.
async fn app_with_mail(sink: &SmtpSink, tweak: impl FnOnce(&mut achex_server::Settings)) -> TestApp {
    let url = sink.url();
    TestApp::spawn_with(move |s| {
        s.mail.transport = achex_server::settings::MailTransport::Smtp;
        s.mail.smtp_url = achex_server::settings::Secret::new(url);
        tweak(s);
    })
    .await
}

/// An enterprise member who reads in `lang`, registered for `auction` with its deposit confirmed.
async fn bidder_in(app: &TestApp, auction: &str, organizer: &Actor, lang: &str) -> Actor {
    let email = format!("bidder-{}@example.org", uuid::Uuid::now_v7().simple());
    let reply = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": email, "password": PASSWORD, "display_name": format!("Bidder {lang}"),
                    "role": "enterprise_member", "organization_name": format!("Enterprise {lang}"), "language": lang }),
        )
        .await;
    let body = reply.assert_status(201);
    let bidder = Actor {
        email: email.clone(),
        token: body["access_token"].as_str().unwrap().to_owned(),
        refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        user_id: body["user"]["id"].as_str().unwrap().to_owned(),
        organization_id: body["user"]["organization"]["id"].as_str().unwrap().to_owned(),
        invite_code: None,
        role: achex_core::Role::EnterpriseMember,
    };
    let reply = app.post(&format!("/api/v1/auctions/{auction}/registrations"), Some(&bidder.token), json!({})).await;
    let code = reply.assert_status(201)["registration_id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/auctions/{auction}/registrations/{code}/confirm-deposit"),
        Some(&organizer.token),
        json!({}),
    )
    .await
    .assert_status(200);
    bidder
}

async fn bid(app: &TestApp, auction: &str, bidder: &Actor, amount: i64) {
    app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&bidder.token), json!({ "amount": cny(amount) }))
        .await
        .assert_status(201);
}

/// Waits, mail by mail, until one that `wanted` arrives.
async fn wait_for_mail(sink: &SmtpSink, wanted: impl Fn(&achex_tests::smtp_sink::ReceivedMail) -> bool) {
    let mut seen = 0;
    loop {
        let mails = sink.wait_for(seen + 1, WAIT).await;
        if mails.iter().any(&wanted) {
            return;
        }
        seen = mails.len();
    }
}

/// Drives the dispatcher until it has nothing left to do now.
async fn settle(app: &TestApp) {
    let notifier = app.notifier.as_ref().expect("the dispatcher runs");
    loop {
        // The dispatcher's own lanes run too: a round of theirs holds what it claimed until it
        // has recorded it, so nothing is left only when no round is running after ours.
        notifier.quiet().await;
        let derived = notifier.fan_out_once().await.expect("fan-out");
        let sent = notifier.send_due_once().await.expect("send");
        if derived == 0 && sent == 0 && notifier.rounds_in_flight() == 0 {
            break;
        }
    }
}

async fn inbox(app: &TestApp, actor: &Actor, query: &str) -> Value {
    app.get(&format!("/api/v1/notifications{query}"), Some(&actor.token)).await.assert_status(200).clone()
}

fn kinds(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|n| n["kind"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn outbid_mail_reaches_the_outbid_bidder_in_their_language_with_the_amounts() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, |_| {}).await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let zh = bidder_in(&app, &auction, &organizer, "zh").await;
    let en = bidder_in(&app, &auction, &organizer, "en").await;
    bid(&app, &auction, &zh, 100_000).await;
    bid(&app, &auction, &en, 120_000).await;
    wait_for_mail(&sink, |m| m.subject.contains("您的出价已被超越")).await;
    let mails = sink.messages();
    let outbid: Vec<_> = mails.iter().filter(|m| m.subject.contains("您的出价已被超越")).collect();
    assert_eq!(outbid.len(), 1, "one outbid mail: {:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    let mail = outbid[0];
    assert_eq!(mail.to, vec![zh.email.clone()]);
    let text = mail.text_body.as_deref().expect("a text part");
    assert!(text.contains(&format_money(Money::cny(120_000), Lang::Zh)), "current price in {text}");
    assert!(text.contains(&format_money(Money::cny(100_000), Lang::Zh)), "their maximum in {text}");
    assert!(mail.html_body.as_deref().is_some_and(|h| h.contains("¥1,200.00")));
    let message_id = mail.message_id.as_deref().expect("a Message-ID");
    assert!(message_id.contains(&zh.user_id), "{message_id} names the recipient");

    // Outbid back: the English bidder hears it in English.
    bid(&app, &auction, &zh, 140_000).await;
    wait_for_mail(&sink, |m| m.subject.starts_with("You have been outbid")).await;
    let mails = sink.messages();
    let english: Vec<_> = mails.iter().filter(|m| m.subject.starts_with("You have been outbid")).collect();
    assert_eq!(english.len(), 1);
    assert_eq!(english[0].to, vec![en.email.clone()]);
    assert!(english[0].text_body.as_deref().unwrap().contains("CNY 1,400.00"));
}

#[tokio::test]
async fn the_outbid_bidders_socket_gets_the_push_within_a_second() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, |_| {}).await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let first = bidder_in(&app, &auction, &organizer, "en").await;
    let second = bidder_in(&app, &auction, &organizer, "zh").await;
    bid(&app, &auction, &first, 100_000).await;

    let url = format!("{}/api/v1/ws", app.address.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    ws.send(Message::text(json!({"type": "auth", "token": first.token}).to_string())).await.unwrap();
    ws.send(Message::text(json!({"type": "subscribe", "topic": "user"}).to_string())).await.unwrap();
    let mut subscribed = false;
    while !subscribed {
        let message = next_json(&mut ws).await;
        subscribed = message["type"] == "subscribed" && message["topic"] == "user";
    }

    let outbid_at = std::time::Instant::now();
    bid(&app, &auction, &second, 120_000).await;
    let push = loop {
        let message = tokio::time::timeout(Duration::from_secs(1), next_json(&mut ws))
            .await
            .expect("the push arrives within 1 s of the outbidding bid");
        if message["type"] == "notification" {
            break message;
        }
    };
    assert!(outbid_at.elapsed() < Duration::from_secs(1));
    assert_eq!(push["notification"]["kind"], "outbid");
    assert_eq!(push["notification"]["data"]["current_price"]["amount"], 120_000);
    assert!(push["notification"]["title"].as_str().unwrap().starts_with("Outbid"));
    assert!(push["server_time"].is_string());
}

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("a message within 10 s") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_user_topic_needs_a_signed_in_socket() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/v1/ws", app.address.replacen("http://", "ws://", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    ws.send(Message::text(json!({"type": "subscribe", "topic": "user"}).to_string())).await.unwrap();
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "authentication_required");
}

#[tokio::test]
async fn nothing_is_mailed_to_a_user_who_turned_email_off_but_the_inbox_keeps_it() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, |_| {}).await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let quiet = bidder_in(&app, &auction, &organizer, "zh").await;
    let loud = bidder_in(&app, &auction, &organizer, "zh").await;
    app.request(
        Method::PUT,
        "/api/v1/notification-preferences",
        Some(&quiet.token),
        Some(json!({"outbid": {"email": false}})),
    )
    .await
    .assert_status(200);
    bid(&app, &auction, &quiet, 100_000).await;
    bid(&app, &auction, &loud, 120_000).await; // quiet is outbid
    bid(&app, &auction, &quiet, 140_000).await; // loud is outbid
    let is_outbid = |m: &achex_tests::smtp_sink::ReceivedMail| m.subject.contains("出价已被超越");
    wait_for_mail(&sink, |m| is_outbid(m) && m.to == vec![loud.email.clone()]).await;
    // Once the dispatcher is idle, everything it recorded as sent has arrived: then look.
    settle(&app).await;
    let sent = app.state.store.email_status_counts().await.unwrap().get("sent").copied().unwrap_or(0);
    let mails = sink.wait_for(sent as usize, WAIT).await;
    assert!(
        !mails.iter().any(|m| is_outbid(m) && m.to == vec![quiet.email.clone()]),
        "no outbid mail to the quiet bidder"
    );
    assert!(kinds(&inbox(&app, &quiet, "").await).contains(&"outbid".to_owned()), "the inbox still has it");
}

#[tokio::test]
async fn a_disabled_or_deleted_account_is_not_mailed_while_an_active_one_is() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, |_| {}).await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let disabled = bidder_in(&app, &auction, &organizer, "zh").await;
    let deleted = bidder_in(&app, &auction, &organizer, "zh").await;
    let active = bidder_in(&app, &auction, &organizer, "zh").await;
    let last = bidder_in(&app, &auction, &organizer, "zh").await;
    let id = |a: &Actor| a.user_id.parse::<achex_core::UserId>().expect("a user id");
    // Each loses its account after its bid and before it is outbid: the mail about it is due
    // after the account stopped being active.
    bid(&app, &auction, &disabled, 100_000).await;
    app.state.store.set_user_disabled(id(&disabled), true).await.unwrap();
    bid(&app, &auction, &deleted, 120_000).await; // `disabled` is outbid
    app.state.store.delete_user(id(&deleted), chrono::Utc::now()).await.unwrap();
    bid(&app, &auction, &active, 140_000).await; // `deleted` is outbid
    bid(&app, &auction, &last, 160_000).await; // `active` is outbid
    let is_outbid = |m: &achex_tests::smtp_sink::ReceivedMail| m.subject.contains("出价已被超越");
    wait_for_mail(&sink, |m| is_outbid(m) && m.to == vec![active.email.clone()]).await;
    settle(&app).await;
    let counts = app.state.store.email_status_counts().await.unwrap();
    let mails = sink.wait_for(counts.get("sent").copied().unwrap_or(0) as usize, WAIT).await;
    for gone in [&disabled, &deleted] {
        // (Their deposit confirmations went out while they were active.)
        assert!(
            !mails.iter().any(|m| is_outbid(m) && m.to == vec![gone.email.clone()]),
            "outbid mail to {}",
            gone.email
        );
    }
    assert_eq!(counts.get("skipped").copied(), Some(2), "both outbid mails were skipped: {counts:?}");
}

#[tokio::test]
async fn inbox_counts_read_state_and_pages_are_right() {
    let app = TestApp::spawn().await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let a = bidder_in(&app, &auction, &organizer, "zh").await;
    let b = bidder_in(&app, &auction, &organizer, "zh").await;
    for round in 0..3 {
        bid(&app, &auction, &a, 100_000 + round * 40_000).await;
        bid(&app, &auction, &b, 120_000 + round * 40_000).await;
    }
    settle(&app).await;

    // a: deposit confirmed + 3 times outbid; b: deposit confirmed + 2 times outbid.
    let page = inbox(&app, &a, "").await;
    assert_eq!(page["unread_count"], 4);
    assert_eq!(kinds(&page).iter().filter(|k| *k == "outbid").count(), 3);
    let newest_first: Vec<&str> =
        page["items"].as_array().unwrap().iter().map(|n| n["created_at"].as_str().unwrap()).collect();
    assert!(newest_first.windows(2).all(|w| w[0] >= w[1]));

    let first_page = inbox(&app, &a, "?limit=3").await;
    assert_eq!(first_page["items"].as_array().unwrap().len(), 3);
    let cursor = first_page["next_cursor"].as_str().expect("a next page");
    let second_page = inbox(&app, &a, &format!("?limit=3&cursor={cursor}")).await;
    assert_eq!(second_page["items"].as_array().unwrap().len(), 1);
    assert!(second_page["next_cursor"].is_null());

    let one = page["items"][0]["id"].as_str().unwrap();
    let read = app.post(&format!("/api/v1/notifications/{one}/read"), Some(&a.token), json!({})).await;
    assert!(read.assert_status(200)["read_at"].is_string());
    app.post(&format!("/api/v1/notifications/{one}/read"), Some(&a.token), json!({})).await.assert_status(200);
    assert_eq!(inbox(&app, &a, "").await["unread_count"], 3);
    assert_eq!(inbox(&app, &a, "?unread=true").await["items"].as_array().unwrap().len(), 3);

    let all = app.post("/api/v1/notifications/read-all", Some(&a.token), json!({})).await;
    assert_eq!(all.assert_status(200)["updated"], 3);
    assert_eq!(inbox(&app, &a, "").await["unread_count"], 0);
    assert_eq!(inbox(&app, &b, "").await["unread_count"], 3, "b's inbox is untouched");
}

#[tokio::test]
async fn another_users_notification_is_not_found() {
    let app = TestApp::spawn().await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let owner = bidder_in(&app, &auction, &organizer, "zh").await;
    let stranger = app.enterprise().await;
    settle(&app).await;
    let page = inbox(&app, &owner, "").await;
    let id = page["items"][0]["id"].as_str().expect("a deposit notification");

    app.post(&format!("/api/v1/notifications/{id}/read"), Some(&stranger.token), json!({}))
        .await
        .assert_error(404, "not_found");
    assert_eq!(inbox(&app, &stranger, "").await["items"].as_array().unwrap().len(), 0);
    assert_eq!(inbox(&app, &owner, "").await["unread_count"], 1, "still unread for its owner");
    app.get("/api/v1/notifications", None).await.assert_status(401);
    app.post(&format!("/api/v1/notifications/{}/read", uuid::Uuid::now_v7()), Some(&owner.token), json!({}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn preferences_default_to_everything_on_and_refuse_unknown_kinds_and_a_silent_inbox() {
    let app = TestApp::spawn().await;
    let user = app.enterprise().await;
    let defaults = app.get("/api/v1/notification-preferences", Some(&user.token)).await;
    assert_eq!(defaults.assert_status(200)["outbid"], json!({"email": true, "live": true}));

    let put = |body: Value| app.request(Method::PUT, "/api/v1/notification-preferences", Some(&user.token), Some(body));
    let changed = put(json!({"outbid": {"email": false}})).await;
    assert_eq!(changed.assert_status(200)["outbid"]["email"], false);
    assert_eq!(changed.body["auction_won"]["email"], true, "other kinds keep their switches");

    put(json!({"outbidd": {"email": false}})).await.assert_error(422, "validation_failed");
    put(json!({"outbid": {"inbox": false}})).await.assert_error(422, "validation_failed");
    put(json!({"outbid": {"sms": true}})).await.assert_error(422, "validation_failed");
    let kept = app.get("/api/v1/notification-preferences", Some(&user.token)).await;
    assert_eq!(kept.assert_status(200)["outbid"]["email"], false, "a refused update changes nothing");
    app.get("/api/v1/notification-preferences", None).await.assert_status(401);
}

#[tokio::test]
async fn a_sender_that_died_holding_deliveries_is_retried_after_its_lease_and_each_mail_goes_once() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, |s| s.notifications.enabled = false).await;
    let notifier = dispatcher_of(&app);
    four_mails_due(&app).await;
    while notifier.fan_out_once().await.unwrap() > 0 {}
    // Run twice, as two processes (or a restarted one) would: nothing is derived twice.
    assert_eq!(notifier.fan_out_once().await.unwrap(), 0);

    // A sender claims everything due and dies before sending. The fan-out claimed the mails it
    // wrote for this dispatcher's senders: let them go first, as a stopping process does.
    assert_eq!(notifier.release_handed().await.unwrap(), 4);
    let claimed = app.state.store.claim_due_emails(app.clock.now(), chrono::Duration::seconds(60), 100).await.unwrap();
    assert_eq!(claimed.len(), 4, "the listing approval, two deposit confirmations and one outbid");
    assert_eq!(notifier.send_due_once().await.unwrap(), 0, "the dead sender's claims hold until the lease ends");

    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(notifier.send_due_once().await.unwrap(), 4);
    assert_eq!(notifier.send_due_once().await.unwrap(), 0);
    assert_each_mail_once(&sink, 4).await;
}

/// An English lot with two registered bidders, the first outbid by the second: four e-mails to
/// derive (the listing's approval, two deposit confirmations and one outbid).
async fn four_mails_due(app: &TestApp) {
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let a = bidder_in(app, &auction, &organizer, "zh").await;
    let b = bidder_in(app, &auction, &organizer, "en").await;
    bid(app, &auction, &a, 100_000).await;
    bid(app, &auction, &b, 120_000).await;
}

/// Waits for `count` mails at `sink` and checks that each is a different message.
async fn assert_each_mail_once(sink: &SmtpSink, count: usize) {
    let mails = sink.wait_for(count, WAIT).await;
    let ids: std::collections::HashSet<_> = mails.iter().map(|m| m.message_id.clone().unwrap()).collect();
    assert_eq!((mails.len(), ids.len()), (count, count), "different messages, each once");
}

/// A dispatcher of `node`'s, driven by the test (the node's own loops are off).
fn dispatcher_of(node: &TestApp) -> std::sync::Arc<achex_server::notify::Notifier> {
    std::sync::Arc::new(achex_server::notify::Notifier::new(
        node.state.clone(),
        achex_server::startup::mailer(&node.settings).unwrap(),
        node.indexer.clone(),
        achex_server::startup::notify_config(&node.settings),
    ))
}

#[tokio::test]
async fn a_dispatcher_killed_holding_the_mail_its_fan_out_claimed_leaves_it_to_another_after_the_lease() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, |s| s.notifications.enabled = false).await;
    let sibling = app.spawn_sibling().await;
    let (killed, survivor) = (dispatcher_of(&app), dispatcher_of(&sibling));
    four_mails_due(&app).await;
    // The first derives everything, claiming the mail it wrote for its own senders, and dies
    // before sending any.
    while killed.fan_out_once().await.unwrap() > 0 {}
    drop(killed);
    assert_eq!(survivor.fan_out_once().await.unwrap(), 0, "nothing is derived twice");
    assert_eq!(survivor.send_due_once().await.unwrap(), 0, "the dead dispatcher's claims hold until the lease ends");
    assert_eq!(sink.messages().len(), 0);

    app.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(survivor.send_due_once().await.unwrap(), 4);
    assert_eq!(survivor.send_due_once().await.unwrap(), 0);
    assert_each_mail_once(&sink, 4).await;
}

#[tokio::test]
async fn a_dispatcher_that_stops_releases_the_mail_it_claimed_and_another_sends_it_at_once() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, |s| s.notifications.enabled = false).await;
    let sibling = app.spawn_sibling().await;
    let (stopping, other) = (dispatcher_of(&app), dispatcher_of(&sibling));
    four_mails_due(&app).await;
    while stopping.fan_out_once().await.unwrap() > 0 {}
    assert_eq!(other.send_due_once().await.unwrap(), 0, "claimed for the first dispatcher's senders");

    assert_eq!(stopping.release_handed().await.unwrap(), 4);
    assert_eq!(stopping.send_due_once().await.unwrap() + other.send_due_once().await.unwrap(), 4, "due again at once");
    assert_eq!(stopping.send_due_once().await.unwrap() + other.send_due_once().await.unwrap(), 0);
    assert_each_mail_once(&sink, 4).await;
}

#[tokio::test]
async fn two_dispatchers_on_one_database_send_each_mail_once() {
    let sink = SmtpSink::start();
    // Two nodes on one database, each with its own dispatcher; the test drives both rounds so it
    // knows when they are done.
    let app = app_with_mail(&sink, |s| s.notifications.enabled = false).await;
    let sibling = app.spawn_sibling().await;
    let (one, two) = (dispatcher_of(&app), dispatcher_of(&sibling));
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let mut bidders = Vec::new();
    for _ in 0..4 {
        bidders.push(bidder_in(&app, &auction, &organizer, "zh").await);
    }
    for round in 0..12 {
        bid(&app, &auction, &bidders[round % bidders.len()], 100_000 + 20_000 * round as i64).await;
    }
    let drive = |notifier: std::sync::Arc<achex_server::notify::Notifier>| async move {
        loop {
            let derived = notifier.fan_out_once().await.expect("fan-out");
            let sent = notifier.send_due_once().await.expect("send");
            if derived == 0 && sent == 0 {
                break;
            }
        }
    };
    tokio::join!(drive(one.clone()), drive(two.clone()));
    tokio::join!(drive(one), drive(two));

    // The listing approval, 4 deposit confirmations, 11 outbid bidders.
    let counts = app.state.store.email_status_counts().await.unwrap();
    assert_eq!(counts.get("sent").copied(), Some(16), "{counts:?}");
    assert_eq!(counts.values().sum::<u64>(), 16, "{counts:?}");
    let mails = sink.wait_for(16, WAIT).await;
    let mut ids: Vec<_> = mails.iter().map(|m| m.message_id.clone().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16, "no Message-ID arrived twice");
    assert_eq!(mails.len(), 16);
    let outbid_rows: usize = {
        let mut total = 0;
        for bidder in &bidders {
            total += kinds(&inbox(&app, bidder, "").await).iter().filter(|k| *k == "outbid").count();
        }
        total
    };
    assert_eq!(outbid_rows, 11, "one inbox entry per outbid, not one per dispatcher");
}

#[tokio::test]
async fn failed_mail_is_retried_with_backoff_then_parked_for_an_admin_who_can_requeue_it() {
    let sink = SmtpSink::start();
    let app = app_with_mail(&sink, |s| {
        s.notifications.enabled = false;
        s.notifications.max_attempts = 2;
        s.notifications.retry_base_secs = 30;
    })
    .await;
    let notifier = achex_server::notify::Notifier::new(
        app.state.clone(),
        achex_server::startup::mailer(&app.settings).unwrap(),
        app.indexer.clone(),
        achex_server::startup::notify_config(&app.settings),
    );
    let owner = app.verified_institute("Mail Institute").await;
    let reviewer = app.reviewer().await;
    app.published(&owner, &reviewer).await;
    while notifier.fan_out_once().await.unwrap() > 0 {}

    sink.fail_next(2, 451);
    assert_eq!(notifier.send_due_once().await.unwrap(), 1, "first attempt (refused)");
    assert_eq!(notifier.send_due_once().await.unwrap(), 0, "not due again before the backoff");
    app.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(notifier.send_due_once().await.unwrap(), 1, "second attempt (refused)");
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(notifier.send_due_once().await.unwrap(), 0, "parked after the last attempt");
    assert!(sink.messages().is_empty());

    let admin = app.admin().await;
    let mut owner = owner;
    app.relogin(&mut owner).await;
    let parked = app.get("/api/v1/admin/notifications/parked", Some(&admin.token)).await;
    let items = parked.assert_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "listing_approved");
    assert_eq!(items[0]["attempts"], 2);
    assert!(items[0]["last_error"].as_str().unwrap().contains("451"));
    app.get("/api/v1/admin/notifications/parked", Some(&owner.token)).await.assert_status(403);

    let id = items[0]["notification_id"].as_str().unwrap();
    app.post(&format!("/api/v1/admin/notifications/{id}/retry"), Some(&owner.token), json!({}))
        .await
        .assert_status(403);
    app.post(&format!("/api/v1/admin/notifications/{id}/retry"), Some(&admin.token), json!({}))
        .await
        .assert_status(204);
    assert_eq!(notifier.send_due_once().await.unwrap(), 1);
    let mails = sink.wait_for(1, WAIT).await;
    assert_eq!(mails[0].to, vec![owner.email.clone()]);
}

#[tokio::test]
async fn approval_and_rejection_reach_the_listing_owner() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("Owner Institute").await;
    let reviewer = app.reviewer().await;
    app.published(&owner, &reviewer).await;
    let draft = app.draft(&owner).await;
    app.post(&format!("/api/v1/listings/{draft}/submit"), Some(&owner.token), json!({})).await.assert_status(200);
    app.post(
        &format!("/api/v1/listings/{draft}/review"),
        Some(&reviewer.token),
        json!({"decision": "reject", "reason": "缺少专利证书"}),
    )
    .await
    .assert_status(200);
    settle(&app).await;
    let page = inbox(&app, &owner, "").await;
    let mut found = kinds(&page);
    found.sort();
    assert_eq!(found, ["listing_approved", "listing_rejected"]);
    let rejected = page["items"].as_array().unwrap().iter().find(|n| n["kind"] == "listing_rejected").unwrap();
    assert_eq!(rejected["data"]["reason"], "缺少专利证书");
    assert!(rejected["body"].as_str().unwrap().contains("缺少专利证书"));
    // The notification names the listing by its id and its title in both languages.
    let listing = app.get(&format!("/api/v1/listings/{draft}"), Some(&owner.token)).await;
    assert_eq!(rejected["data"]["listing_id"], draft.as_str());
    assert_eq!(rejected["data"]["listing_title"], listing.assert_status(200)["title"]);
}

#[tokio::test]
async fn listing_events_written_before_they_carried_titles_are_named_from_the_database_alike() {
    let app = TestApp::spawn().await;
    let owner = app.verified_institute("Owner Institute").await;
    let reviewer = app.reviewer().await;
    let listing = app.published(&owner, &reviewer).await;
    let store = &app.state.store;
    let events: Vec<achex_store::OutboxEvent> = store
        .outbox_after(achex_store::Topic::Listing, 0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "approved")
        .collect();
    assert_eq!(events.len(), 1, "one approval");
    // The same event as it was written before events carried the title and the author.
    let mut older = events[0].clone();
    let payload = older.payload.as_object_mut().expect("an object payload");
    assert!(payload.remove("title").is_some() && payload.remove("created_by").is_some());
    assert_eq!(achex_store::ListingTitle::carried_by(&older), None);

    let carried = store.listing_titles_of_events(&events).await.unwrap();
    let looked_up = store.listing_titles_of_events([&older]).await.unwrap();
    assert_eq!(carried, looked_up);
    let response = app.get(&format!("/api/v1/listings/{listing}"), Some(&owner.token)).await;
    let shown = response.assert_status(200);
    let named = &looked_up[&achex_core::ListingId::from(older.subject)];
    assert_eq!(serde_json::to_value(&named.title).unwrap(), shown["title"]);
    assert_eq!(named.created_by.to_string(), owner.user_id);
}

#[tokio::test]
async fn bidders_hear_when_a_lot_opens_and_once_before_it_ends_and_how_it_ended() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _owner) = app
        .english_auction(|body| {
            body["starts_at"] = json!(now + chrono::Duration::minutes(10));
            body["ends_at"] = json!(now + chrono::Duration::minutes(70));
        })
        .await;
    let organizer = app.organizer().await;
    let mut winner = bidder_in(&app, &auction, &organizer, "zh").await;
    let mut loser = bidder_in(&app, &auction, &organizer, "en").await;
    let notifier = app.notifier.clone().unwrap();

    app.clock.advance(chrono::Duration::minutes(11));
    app.tick().await;
    settle(&app).await;
    app.relogin(&mut loser).await;
    app.relogin(&mut winner).await;
    assert!(kinds(&inbox(&app, &loser, "").await).contains(&"auction_starting".to_owned()));
    bid(&app, &auction, &loser, 100_000).await;
    bid(&app, &auction, &winner, 110_000).await;

    // Fifty minutes before the end: no reminder yet. Ten minutes before: one, however often the
    // clock work runs.
    notifier.remind_once().await.unwrap();
    app.clock.advance(chrono::Duration::minutes(50));
    notifier.remind_once().await.unwrap();
    notifier.remind_once().await.unwrap();
    settle(&app).await;
    app.relogin(&mut loser).await;
    app.relogin(&mut winner).await;
    for bidder in [&winner, &loser] {
        let reminders =
            kinds(&inbox(&app, bidder, "").await).into_iter().filter(|k| k == "auction_ending_soon").count();
        assert_eq!(reminders, 1, "exactly one reminder per lot and person");
    }

    app.clock.advance(chrono::Duration::minutes(11));
    app.tick().await;
    settle(&app).await;
    app.relogin(&mut loser).await;
    app.relogin(&mut winner).await;
    assert!(kinds(&inbox(&app, &winner, "").await).contains(&"auction_won".to_owned()));
    let lost = kinds(&inbox(&app, &loser, "").await);
    assert!(lost.contains(&"auction_lost".to_owned()));
    assert!(lost.contains(&"deposit_released".to_owned()));
}

#[tokio::test]
async fn a_matching_listing_triggers_an_immediate_saved_search_alert_only_for_matching_searches() {
    let app = TestApp::spawn().await;
    let buyer = app.enterprise().await;
    let other = app.enterprise().await;
    for (who, q) in [(&buyer, "锂离子电池"), (&other, "量子计算")] {
        let body = json!({"name": q, "query": {"q": q}, "alert": "immediate"});
        app.post("/api/v1/saved-searches", Some(&who.token), body).await.assert_status(201);
    }
    let notifier = app.notifier.clone().unwrap();
    notifier.alert_once().await.unwrap();

    let owner = app.verified_institute("Battery Institute").await;
    let reviewer = app.reviewer().await;
    app.clock.advance(chrono::Duration::seconds(1)); // published after the searches were saved
    let listing = app.published(&owner, &reviewer).await; // valid_listing(): a lithium-ion cathode
    notifier.alert_once().await.unwrap();
    settle(&app).await;

    let page = inbox(&app, &buyer, "").await;
    let alerts: Vec<&Value> =
        page["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "saved_search_match").collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["data"]["listings"][0]["listing_id"], listing.as_str());
    assert!(kinds(&inbox(&app, &other, "").await).is_empty(), "a search that does not match stays silent");

    // Nothing new: no second alert.
    notifier.alert_once().await.unwrap();
    settle(&app).await;
    let again = inbox(&app, &buyer, "").await;
    assert_eq!(again["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "saved_search_match").count(), 1);
}

#[tokio::test]
async fn a_listing_whose_auction_opens_alerts_the_searches_it_now_matches_as_an_update() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _owner) = app
        .english_auction(|body| {
            body["starts_at"] = json!(now + chrono::Duration::minutes(10));
            body["ends_at"] = json!(now + chrono::Duration::minutes(70));
        })
        .await;
    let listing = app.get(&format!("/api/v1/auctions/{auction}"), None).await.assert_status(200)["listing_id"].clone();
    app.clock.advance(chrono::Duration::seconds(1)); // the listing is old news to these searches
    let live_hunter = app.enterprise().await;
    let upcoming_hunter = app.enterprise().await;
    for (who, auction_filter) in [(&live_hunter, "live"), (&upcoming_hunter, "upcoming")] {
        let body =
            json!({"name": "电池", "query": {"q": "锂离子电池", "auction": auction_filter}, "alert": "immediate"});
        app.post("/api/v1/saved-searches", Some(&who.token), body).await.assert_status(201);
    }
    let notifier = app.notifier.clone().unwrap();
    notifier.alert_once().await.unwrap();
    settle(&app).await;
    assert!(kinds(&inbox(&app, &live_hunter, "").await).is_empty(), "nothing is live yet");
    assert!(kinds(&inbox(&app, &upcoming_hunter, "").await).is_empty(), "already upcoming before the search");

    app.clock.advance(chrono::Duration::minutes(11));
    app.tick().await;
    notifier.alert_once().await.unwrap();
    notifier.alert_once().await.unwrap();
    settle(&app).await;
    let page = inbox(&app, &live_hunter, "").await;
    let alerts: Vec<&Value> =
        page["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "saved_search_match").collect();
    assert_eq!(alerts.len(), 1, "one alert however often the clock work runs: {page}");
    assert_eq!(
        alerts[0]["data"]["listings"],
        json!([{
            "listing_id": listing,
            "title": alerts[0]["data"]["listings"][0]["title"],
            "change": "auction_open",
        }])
    );
    assert!(alerts[0]["title"].as_str().unwrap().contains("更新"), "{}", alerts[0]["title"]);
    assert!(
        kinds(&inbox(&app, &upcoming_hunter, "").await).is_empty(),
        "a search the listing no longer matches stays silent"
    );
}

#[tokio::test]
async fn watchers_hear_when_a_lot_opens_and_before_it_ends_without_registering() {
    let app = TestApp::spawn().await;
    let now = app.clock.now();
    let (auction, _owner) = app
        .english_auction(|body| {
            body["starts_at"] = json!(now + chrono::Duration::minutes(10));
            body["ends_at"] = json!(now + chrono::Duration::minutes(30));
        })
        .await;
    let mut watcher = app.enterprise().await;
    let mut quitter = app.enterprise().await;
    for who in [&watcher, &quitter] {
        app.post(&format!("/api/v1/auctions/{auction}/watch"), Some(&who.token), json!({})).await.assert_status(204);
    }
    app.post(&format!("/api/v1/auctions/{auction}/watch"), Some(&watcher.token), json!({})).await.assert_status(204);
    let list = app.get("/api/v1/me/watchlist", Some(&watcher.token)).await;
    assert_eq!(list.assert_status(200)["auctions"], json!([auction]));
    app.request(Method::DELETE, &format!("/api/v1/auctions/{auction}/watch"), Some(&quitter.token), None)
        .await
        .assert_status(204);
    app.post(&format!("/api/v1/auctions/{}/watch", uuid::Uuid::now_v7()), Some(&watcher.token), json!({}))
        .await
        .assert_error(404, "not_found");
    app.post(&format!("/api/v1/auctions/{auction}/watch"), None, json!({})).await.assert_status(401);

    app.clock.advance(chrono::Duration::minutes(11));
    app.tick().await;
    settle(&app).await;
    app.clock.advance(chrono::Duration::minutes(5)); // 14 minutes left
    let notifier = app.notifier.clone().unwrap();
    notifier.remind_once().await.unwrap();
    settle(&app).await;
    app.relogin(&mut watcher).await;
    app.relogin(&mut quitter).await;
    let mut heard = kinds(&inbox(&app, &watcher, "").await);
    heard.sort();
    assert_eq!(heard, ["auction_ending_soon", "auction_starting"]);
    assert!(kinds(&inbox(&app, &quitter, "").await).is_empty(), "unwatching stops the notifications");
}

#[tokio::test]
async fn a_daily_saved_search_sends_one_digest_a_day_with_what_is_new() {
    let app = TestApp::spawn_with(|s| s.notifications.digest_hour_utc = 0).await;
    let mut buyer = app.enterprise().await;
    let body = json!({"name": "电池", "query": {"q": "锂离子电池", "trl_min": "5"}, "alert": "daily"});
    app.post("/api/v1/saved-searches", Some(&buyer.token), body).await.assert_status(201);
    let owner = app.verified_institute("Digest Institute").await;
    let reviewer = app.reviewer().await;
    app.clock.advance(chrono::Duration::seconds(1));
    let first = app.published(&owner, &reviewer).await;
    let second = app.published(&owner, &reviewer).await;
    let notifier = app.notifier.clone().unwrap();
    notifier.alert_once().await.unwrap();
    app.relogin(&mut buyer).await;
    assert!(
        !kinds(&inbox(&app, &buyer, "").await).contains(&"saved_search_digest".to_owned()),
        "no digest on the day the search was saved"
    );

    app.clock.advance(chrono::Duration::days(1));
    app.wait_indexed().await;
    notifier.alert_once().await.unwrap();
    notifier.alert_once().await.unwrap();
    settle(&app).await;
    app.relogin(&mut buyer).await;
    let page = inbox(&app, &buyer, "").await;
    let digests: Vec<&Value> =
        page["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "saved_search_digest").collect();
    assert_eq!(digests.len(), 1, "one digest, however often the clock work runs");
    let listed: Vec<&str> =
        digests[0]["data"]["listings"].as_array().unwrap().iter().map(|l| l["listing_id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&first.as_str()) && listed.contains(&second.as_str()));
}
