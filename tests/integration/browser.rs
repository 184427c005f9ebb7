//! The web app in a real browser (Debian's Chromium, headless): what a visitor and a signed-in
//! institute see, rendered by the app's own JavaScript from the real API and websocket.

use achex_core::Clock;
use achex_tests::browser::{Browser, Page};
use achex_tests::{Actor, PASSWORD, TestApp, valid_listing};
use serde_json::json;

/// Signs in through the page's own dialog and waits until the live channel is subscribed.
async fn sign_in(page: &mut Page<'_>, who: &Actor) {
    page.wait_for("document.querySelector('#signin') && !document.querySelector('#signin').hidden").await;
    page.eval(&format!(
        "document.querySelector('#signin').click(); \
         const form = document.querySelector('#login-form'); \
         form.email.value = {email}; form.password.value = {password}; form.requestSubmit(); true",
        email = json!(who.email),
        password = json!(PASSWORD),
    ))
    .await;
    page.wait_for("document.body.classList.contains('live-on') && !document.querySelector('#signout').hidden").await;
}

/// The owner of `listing`, signed in on its page, where the lot form is offered.
async fn open_lot_form(page: &mut Page<'_>, owner: &Actor, listing: &str) {
    sign_in(page, owner).await;
    page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    page.wait_for("document.querySelector('.auction-room form.lot-form')").await;
}

/// JavaScript for the value of a `datetime-local` input showing `t` in the browser's time zone.
fn local_input(t: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "new Date(new Date({ms}).getTime() - new Date({ms}).getTimezoneOffset() * 60000).toISOString().slice(0, 16)",
        ms = t.timestamp_millis()
    )
}

/// An English lot, live now, on a published listing: (auction id, listing id).
async fn live_lot(app: &TestApp) -> (String, String) {
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let reply = app.get(&format!("/api/v1/auctions/{auction}"), None).await;
    let listing = reply.assert_status(200)["listing_id"].as_str().unwrap().to_owned();
    (auction, listing)
}

/// A second listing that also matches 锂离子电池, of another kind, whose title tries to inject
/// markup.
fn software_listing() -> serde_json::Value {
    let mut listing = valid_listing();
    listing["title"] = json!({ "zh": "锂离子电池管理软件 <img src=x onerror=\"window.pwned=1\">" });
    listing["summary"] = json!({ "zh": "估算锂离子电池的荷电状态。" });
    listing["description"] = json!({ "zh": "一套锂离子电池管理系统软件。" });
    listing["kind"] = json!("software_copyright");
    listing["patents"] = json!([]);
    listing
}

#[tokio::test]
async fn a_visitor_searching_in_the_browser_sees_marked_hits_and_narrows_them_with_a_facet() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (app.verified_institute("大连化学物理研究所").await, app.reviewer().await);
    app.published(&owner, &reviewer).await;
    let reply = app.post("/api/v1/listings", Some(&owner.token), software_listing()).await;
    let software = reply.assert_status(201)["id"].as_str().unwrap().to_owned();
    app.post(&format!("/api/v1/listings/{software}/submit"), Some(&owner.token), json!({})).await.assert_status(200);
    app.post(&format!("/api/v1/listings/{software}/review"), Some(&reviewer.token), json!({"decision": "approve"}))
        .await
        .assert_status(200);
    app.wait_indexed().await;

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/#/?q=锂离子电池")).await;
    let hits = page
        .wait_for(
            "document.querySelectorAll('article.hit').length === 2 && document.querySelectorAll('article.hit').length",
        )
        .await;
    assert_eq!(hits, 2);
    // The query's words are marked in the titles, and the institute's markup is text.
    let marked = page.eval("[...document.querySelectorAll('article.hit h3 mark')].map(m => m.textContent)").await;
    assert!(
        marked.as_array().is_some_and(|m| m.iter().any(|w| w.as_str().unwrap_or("").contains("锂离子电池"))),
        "{marked}"
    );
    assert_eq!(page.eval("document.querySelectorAll('article.hit img').length").await, 0);
    assert_eq!(page.eval("window.pwned === undefined").await, true);
    let titles =
        page.eval("[...document.querySelectorAll('article.hit h3')].map(h => h.textContent).join('\\n')").await;
    assert!(titles.as_str().unwrap_or("").contains("<img src=x"), "the title is shown as written: {titles}");

    // The kind facet counts one of each; choosing software leaves the software listing.
    let facet = page
        .wait_for(
            "[...document.querySelectorAll('.facet-value')].map(b => b.dataset.focus + '=' + b.querySelector('.count').textContent).join(',')",
        )
        .await;
    assert!(facet.as_str().unwrap_or("").contains("kind:software_copyright=1"), "{facet}");
    assert!(facet.as_str().unwrap_or("").contains("kind:invention_patent=1"), "{facet}");
    page.eval("document.querySelector('.facet-value[data-focus=\"kind:software_copyright\"]').click()").await;
    let narrowed = page
        .wait_for("location.hash.includes('kind=software_copyright') && document.querySelectorAll('article.hit').length === 1 && document.querySelector('article.hit h3').textContent")
        .await;
    assert!(narrowed.as_str().unwrap_or("").starts_with("锂离子电池管理软件"), "{narrowed}");
}

#[tokio::test]
async fn a_signed_in_institute_sees_its_approval_arrive_live_without_reloading() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (app.verified_institute("大连化学物理研究所").await, app.reviewer().await);
    let listing = app.draft(&owner).await;
    app.post(&format!("/api/v1/listings/{listing}/submit"), Some(&owner.token), json!({})).await.assert_status(200);

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/")).await;
    sign_in(&mut page, &owner).await;
    // Signed in, with the live channel subscribed, and nothing unread yet.
    assert_eq!(page.eval("document.querySelector('#bell-count').hidden").await, true);

    app.post(&format!("/api/v1/listings/{listing}/review"), Some(&reviewer.token), json!({"decision": "approve"}))
        .await
        .assert_status(200);
    let toast = page.wait_for("document.querySelector('#toasts .toast')?.textContent").await;
    // In the institute's language (Chinese), naming the listing.
    let toast = toast.as_str().unwrap_or("");
    assert!(toast.starts_with("审核通过") && toast.contains("一种高能量密度锂离子电池正极材料"), "{toast}");
    assert_eq!(page.eval("document.querySelector('#bell-count').textContent").await, "1");
    assert_eq!(page.eval("document.querySelector('#bell-count').hidden").await, false);
}

#[tokio::test]
async fn an_enterprise_in_the_auction_room_sees_a_rival_bid_arrive_live_and_outbids_it() {
    let app = TestApp::spawn().await;
    let (auction, _owner) = app.english_auction(|_| {}).await;
    let organizer = app.organizer().await;
    let (me, my_code) = app.ready_bidder(&auction, &organizer).await;
    let (rival, rival_code) = app.ready_bidder(&auction, &organizer).await;
    let listing = app.get(&format!("/api/v1/auctions/{auction}"), None).await.assert_status(200)["listing_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/")).await;
    sign_in(&mut page, &me).await;
    page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    // The room is live on the lot's topic, and offers the bid form to a bidder with a deposit.
    let code = page
        .wait_for(
            "document.querySelector('.auction-room.live-on .lot-status[data-status=\"live\"]') \
             && document.querySelector('.auction-room form.bid-form') \
             && document.querySelector('.lot-act p').textContent",
        )
        .await;
    assert!(code.as_str().unwrap_or("").contains(&my_code), "{code}");

    // A rival's bid, placed elsewhere, appears without a reload.
    let reply = app
        .request(
            reqwest::Method::POST,
            &format!("/api/v1/auctions/{auction}/bids"),
            Some(&rival.token),
            Some(json!({"amount": {"amount": 100_000, "currency": "CNY"}})),
        )
        .await;
    reply.assert_status(201);
    let shown = page
        .wait_for(&format!(
            "document.querySelectorAll('.lot-bids li[data-seq]').length === 1 \
             && document.querySelector('.lot-bids li').textContent.includes({rival}) \
             && document.querySelector('.lot-price').textContent",
            rival = json!(rival_code)
        ))
        .await;
    assert_eq!(shown, "¥1,000");

    // Outbid it from the page: ¥1,100 is the next minimum (¥1,000 plus the ¥100 increment).
    page.eval(
        "const f = document.querySelector('.auction-room form.bid-form'); \
         f.amount.value = '1,100'; f.requestSubmit(); true",
    )
    .await;
    let facts = page
        .wait_for(&format!(
            "document.querySelector('.lot-price').textContent === '¥1,100' \
             && document.querySelector('.lot-facts').textContent.includes({mine}) \
             && document.querySelector('.lot-facts').textContent",
            mine = json!(my_code)
        ))
        .await;
    assert!(facts.as_str().unwrap_or("").contains("¥1,200"), "the next minimum moves up: {facts}");
    let state = app.get(&format!("/api/v1/auctions/{auction}"), None).await;
    assert_eq!(state.assert_status(200)["state"]["leader_code"], my_code.as_str());
    assert_eq!(state.body["state"]["current_price"]["amount"], 110_000);
    assert_eq!(state.body["state"]["bid_count"], 2);
}

#[tokio::test]
async fn a_visitor_opens_a_long_lots_whole_bid_history_from_the_room() {
    let app = TestApp::spawn().await;
    let (auction, listing) = live_lot(&app).await;
    let organizer = app.organizer().await;
    let (alice, _) = app.ready_bidder(&auction, &organizer).await;
    let (bob, _) = app.ready_bidder(&auction, &organizer).await;
    for i in 0..12 {
        let who = if i % 2 == 0 { &alice } else { &bob };
        let bid = json!({"amount": {"amount": 100_000 + i * 10_000, "currency": "CNY"}});
        app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&who.token), bid).await.assert_status(201);
    }

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url(&format!("/#/listings/{listing}"))).await;
    // The room shows the latest ten, newest first, numbered from the count of bids.
    let latest = page
        .wait_for(
            "document.querySelectorAll('.lot-bids li[data-seq]').length === 10 \
             && [...document.querySelectorAll('.lot-bids li strong')].map((e) => e.textContent)",
        )
        .await;
    assert_eq!(latest[0], "¥2,100");
    assert_eq!(latest[9], "¥1,200");
    page.eval("document.querySelector('.auction-room button.linkish').click(); true").await;
    let all = page
        .wait_for(
            "document.querySelectorAll('.lot-bids-all li[data-seq]').length === 12 \
             && [...document.querySelectorAll('.lot-bids-all li strong')].map((e) => e.textContent)",
        )
        .await;
    assert_eq!(all[11], "¥1,000", "the first bid is last: {all}");
}

#[tokio::test]
async fn an_enterprise_registers_from_the_auction_room_and_is_told_its_deposit_is_awaited() {
    let app = TestApp::spawn().await;
    let (auction, listing) = live_lot(&app).await;
    let me = app.enterprise().await;

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/")).await;
    sign_in(&mut page, &me).await;
    page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    page.wait_for("document.querySelector('.auction-room .lot-act button.primary')").await;
    page.eval("document.querySelector('.auction-room .lot-act button.primary').click(); true").await;
    let told = page.wait_for("document.querySelector('.auction-room .lot-act')?.textContent.includes('¥100') && document.querySelector('.auction-room .lot-act').textContent").await;
    let mine = app.get(&format!("/api/v1/auctions/{auction}/registrations/me"), Some(&me.token)).await;
    let code = mine.assert_status(200)["bidder_code"].as_str().unwrap().to_owned();
    assert_eq!(mine.body["deposit_status"], "unconfirmed");
    assert!(told.as_str().unwrap_or("").contains(&code), "the page shows the bidder code {code}: {told}");
    assert_eq!(page.eval("document.querySelector('.auction-room form.bid-form') === null").await, true);
}

#[tokio::test]
async fn an_institute_puts_its_listing_up_for_auction_from_the_listing_page() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (app.verified_institute("大连化学物理研究所").await, app.reviewer().await);
    let listing = app.published(&owner, &reviewer).await;

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/")).await;
    open_lot_form(&mut page, &owner, &listing).await;
    // Times typed in the browser's zone: an hour from the server's now, for a day.
    let starts = app.clock.now() + chrono::Duration::hours(1);
    page.eval(&format!(
        "const f = document.querySelector('.auction-room form.lot-form'); \
         f.starting_price.value = '1,000'; f.increment.value = '100'; f.deposit.value = '100'; \
         f.reserve.value = '1500'; f.starts_at.value = {starts}; f.ends_at.value = {ends}; f.soft_close.value = '2'; \
         f.requestSubmit(); true",
        starts = local_input(starts),
        ends = local_input(starts + chrono::Duration::days(1)),
    ))
    .await;
    // The room replaces the form: the lot is upcoming, with its starting price.
    let status = page
        .wait_for("document.querySelector('.auction-room .lot-status')?.dataset.status === 'upcoming' && document.querySelector('.lot-facts').textContent")
        .await;
    assert!(status.as_str().unwrap_or("").contains("¥1,000"), "the minimum bid is the starting price: {status}");

    let lots = app.get(&format!("/api/v1/listings/{listing}/auctions"), None).await;
    let lot = &lots.assert_status(200)["items"][0];
    let id = lot["id"].as_str().unwrap();
    assert_eq!(lot["state"]["status"], "upcoming");
    let starts_at: chrono::DateTime<chrono::Utc> = lot["state"]["starts_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(starts_at.timestamp() / 60, starts.timestamp() / 60, "to the minute typed");
    assert!(lot["state"].get("reserve_price").is_none());
    let result = app.get(&format!("/api/v1/auctions/{id}"), None).await;
    assert_eq!(result.assert_status(200)["state"]["next_minimum_bid"]["amount"], 100_000);
}

#[tokio::test]
async fn an_institute_puts_up_a_dutch_lot_and_an_enterprise_accepts_it_at_the_falling_price_shown() {
    let app = TestApp::spawn().await;
    let (owner, reviewer) = (app.verified_institute("中国农业科学院").await, app.reviewer().await);
    let listing = app.published(&owner, &reviewer).await;

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/")).await;
    open_lot_form(&mut page, &owner, &listing).await;
    // Choosing Dutch shows its schedule and hides what an ascending lot asks for.
    let shown = page
        .eval(
            "(() => { const f = document.querySelector('.auction-room form.lot-form'); \
             f.format.value = 'dutch'; f.format.dispatchEvent(new Event('change')); \
             const visible = (n) => !f.querySelector(`[data-field=${n}]`).hidden; \
             return [visible('dutch_step'), visible('dutch_floor'), visible('increment'), visible('soft_close')]; })()",
        )
        .await;
    assert_eq!(shown, json!([true, true, false, false]));
    let starts = app.clock.now() + chrono::Duration::hours(1);
    page.eval(&format!(
        "const f = document.querySelector('.auction-room form.lot-form'); \
         f.starting_price.value = '1,000'; f.dutch_step.value = '100'; f.dutch_interval.value = '10'; \
         f.dutch_floor.value = '500'; f.deposit.value = '100'; \
         f.starts_at.value = {starts}; f.ends_at.value = {ends}; f.requestSubmit(); true",
        starts = local_input(starts),
        ends = local_input(starts + chrono::Duration::hours(2)),
    ))
    .await;
    page.wait_for("document.querySelector('.auction-room .lot-status')?.dataset.status === 'upcoming'").await;
    let lots = app.get(&format!("/api/v1/listings/{listing}/auctions"), None).await;
    let auction = lots.assert_status(200)["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(lots.body["items"][0]["state"]["format"], "dutch");

    // Live, and 25 minutes in: two drops of ¥100 from ¥1,000.
    let organizer = app.organizer().await;
    let (bidder, code) = app.ready_bidder(&auction, &organizer).await;
    app.clock.advance(chrono::Duration::minutes(85));
    app.tick().await;
    let mut bidder_browser = Browser::launch().await;
    let mut bidder_page = bidder_browser.open(&app.url("/")).await;
    sign_in(&mut bidder_page, &bidder).await;
    bidder_page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    let button = "document.querySelector('.auction-room button.accept')";
    let label = bidder_page.wait_for(&format!("{button}?.textContent.includes('¥') && {button}.textContent")).await;
    assert!(label.as_str().unwrap_or("").contains("¥800"), "{label}");
    assert_eq!(bidder_page.eval("document.querySelector('.auction-room [name=max]') === null").await, true);
    bidder_page.eval(&format!("{button}.click(); true")).await;
    bidder_page.wait_for("document.querySelector('.auction-room .lot-status')?.dataset.status === 'closed'").await;

    let result = app.get(&format!("/api/v1/auctions/{auction}/result"), None).await;
    assert_eq!(result.assert_status(200)["outcome"], "sold");
    assert_eq!(result.body["deals"][0]["price"]["amount"], 80_000);
    let state = app.get(&format!("/api/v1/auctions/{auction}"), None).await;
    assert_eq!(state.assert_status(200)["state"]["leader_code"], code.as_str());
}

#[tokio::test]
async fn an_organizer_confirms_a_deposit_in_the_room_and_the_bidders_page_offers_the_bid_form_at_once() {
    let app = TestApp::spawn().await;
    let (auction, listing) = live_lot(&app).await;
    let organizer = app.organizer().await;
    let bidder = app.enterprise().await;
    let reply = app.post(&format!("/api/v1/auctions/{auction}/registrations"), Some(&bidder.token), json!({})).await;
    let code = reply.assert_status(201)["bidder_code"].as_str().unwrap().to_owned();

    // The bidder's page waits for its deposit.
    let mut bidder_browser = Browser::launch().await;
    let mut bidder_page = bidder_browser.open(&app.url("/")).await;
    sign_in(&mut bidder_page, &bidder).await;
    bidder_page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    bidder_page
        .wait_for("document.querySelector('.auction-room.live-on .lot-act')?.textContent.includes('¥100') && !document.querySelector('form.bid-form')")
        .await;

    // The organizer sees the organisation behind the code and confirms its deposit.
    let mut organizer_browser = Browser::launch().await;
    let mut organizer_page = organizer_browser.open(&app.url("/")).await;
    sign_in(&mut organizer_page, &organizer).await;
    organizer_page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    let row = format!("document.querySelector('table.registrations tr[data-code={}]')", json!(code));
    let shown = organizer_page.wait_for(&format!("{row}?.textContent")).await;
    assert!(shown.as_str().unwrap_or("").contains("Test Enterprise Ltd"), "{shown}");
    organizer_page.eval(&format!("{row}.querySelector('button').click(); true")).await;
    organizer_page.wait_for(&format!("{row} && !{row}.querySelector('button')")).await;
    let mine = app.get(&format!("/api/v1/auctions/{auction}/registrations/me"), Some(&bidder.token)).await;
    assert_eq!(mine.assert_status(200)["deposit_status"], "held");

    // The bidder's page learns it from the lot's live topic and offers the bid form, no reload.
    bidder_page.wait_for("document.querySelector('.auction-room form.bid-form')").await;
}

#[tokio::test]
async fn an_admin_cancels_a_live_lot_from_the_room_with_a_reason() {
    let app = TestApp::spawn().await;
    let (auction, listing) = live_lot(&app).await;
    let admin = app.admin().await;

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/")).await;
    sign_in(&mut page, &admin).await;
    page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    page.wait_for("document.querySelector('.auction-room form.lot-cancel')").await;
    page.eval(
        "const f = document.querySelector('.auction-room form.lot-cancel'); \
         f.reason.value = '专利权属存在争议'; f.requestSubmit(); true",
    )
    .await;
    page.wait_for(
        "document.querySelector('.auction-room .lot-status')?.dataset.status === 'closed' \
         && !document.querySelector('.auction-room form.lot-cancel')",
    )
    .await;
    let result = app.get(&format!("/api/v1/auctions/{auction}/result"), None).await;
    assert_eq!(result.assert_status(200)["outcome"], "cancelled");
    assert!(result.body.to_string().contains("专利权属存在争议"), "{}", result.body);
}

#[tokio::test]
async fn an_admin_records_a_defaulting_winner_and_the_room_shows_the_runner_up() {
    let app = TestApp::spawn().await;
    let (auction, listing) = live_lot(&app).await;
    let (organizer, admin) = (app.organizer().await, app.admin().await);
    let (alice, alice_code) = app.ready_bidder(&auction, &organizer).await;
    let (bob, bob_code) = app.ready_bidder(&auction, &organizer).await;
    for (who, amount) in [(&alice, 100_000), (&bob, 110_000), (&alice, 120_000)] {
        let bid = json!({"amount": {"amount": amount, "currency": "CNY"}});
        app.post(&format!("/api/v1/auctions/{auction}/bids"), Some(&who.token), bid).await.assert_status(201);
    }
    app.clock.advance(chrono::Duration::hours(2));
    app.tick().await;

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/")).await;
    sign_in(&mut page, &admin).await;
    page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    let facts = page.wait_for("document.querySelector('.auction-room button.lot-default') && document.querySelector('.lot-facts').textContent").await;
    assert!(facts.as_str().unwrap_or("").contains(&alice_code), "{facts}");
    page.eval("window.confirm = () => true; document.querySelector('.auction-room button.lot-default').click(); true")
        .await;
    let facts = page
        .wait_for(&format!(
            "document.querySelector('.lot-facts').textContent.includes({bob}) && document.querySelector('.lot-facts').textContent",
            bob = json!(bob_code)
        ))
        .await;
    assert!(facts.as_str().unwrap_or("").contains("¥1,100"), "the runner-up at its own highest bid: {facts}");
    let result = app.get(&format!("/api/v1/auctions/{auction}/result"), None).await;
    assert_eq!(result.assert_status(200)["deals"][0]["status"], "defaulted");
}

#[tokio::test]
async fn a_signed_in_visitor_watches_a_lot_from_the_room_and_can_stop() {
    let app = TestApp::spawn().await;
    let (auction, listing) = live_lot(&app).await;
    let visitor = app.enterprise().await;

    let mut browser = Browser::launch().await;
    let mut page = browser.open(&app.url("/")).await;
    sign_in(&mut page, &visitor).await;
    page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    let button = "document.querySelector('.auction-room button.lot-watch')";
    page.wait_for(&format!("{button} && !{button}.hidden && {button}.getAttribute('aria-pressed') === 'false'")).await;
    page.eval(&format!("{button}.click(); true")).await;
    page.wait_for(&format!("{button}.getAttribute('aria-pressed') === 'true'")).await;
    let list = app.get("/api/v1/me/watchlist", Some(&visitor.token)).await;
    assert_eq!(list.assert_status(200)["auctions"], json!([auction]));

    // Coming back shows it watched; a second click stops watching.
    page.eval("location.hash = '#/'; true").await;
    page.wait_for("!document.querySelector('.auction-room')").await;
    page.eval(&format!("location.hash = '#/listings/{listing}'; true")).await;
    page.wait_for(&format!("{button} && {button}.getAttribute('aria-pressed') === 'true'")).await;
    page.eval(&format!("{button}.click(); true")).await;
    page.wait_for(&format!("{button}.getAttribute('aria-pressed') === 'false'")).await;
    let list = app.get("/api/v1/me/watchlist", Some(&visitor.token)).await;
    assert_eq!(list.assert_status(200)["auctions"], json!([]));
}
