use super::*;
use crate::payload::samples;
use achex_core::{AuctionId, ListingId, Money};

const BASE: &str = "https://achex.example/";

fn outbid(title: LangText) -> NotificationPayload {
    NotificationPayload::Outbid {
        auction_id: AuctionId::new(),
        listing_title: title,
        your_max: Money::cny(1_200_000),
        current_price: Money::cny(1_234_567),
        leader_code: Some("B-03".into()),
        ends_at: samples::at(2026, 11, 20, 10, 0),
    }
}

#[test]
fn outbid_mail_in_chinese_shows_exact_amount() {
    let rendered = render(&outbid(samples::title()), Lang::Zh, BASE);
    assert_eq!(rendered.subject, "您的出价已被超越 —「锂电池正极材料制备方法」");
    assert_eq!(rendered.title, "出价被超越：锂电池正极材料制备方法");
    for part in [&rendered.text, &rendered.html] {
        assert!(part.contains("¥12,345.67"), "{part}");
        assert!(part.contains("¥12,000.00"), "{part}");
        assert!(part.contains("B-03"), "{part}");
        assert!(part.contains("2026年11月20日 18:00（北京时间）"), "{part}");
    }
    assert!(rendered.text.contains("当前价格：¥12,345.67"), "{}", rendered.text);
    assert!(rendered.html.contains(r#"<html lang="zh-CN">"#));
}

#[test]
fn outbid_mail_in_english_shows_the_currency_code() {
    let rendered = render(&outbid(samples::title()), Lang::En, BASE);
    assert_eq!(rendered.subject, "You have been outbid on “Cathode material for lithium batteries”");
    assert!(rendered.text.contains("Current price: CNY 12,345.67"), "{}", rendered.text);
    assert!(rendered.text.contains("Your maximum: CNY 12,000.00"), "{}", rendered.text);
    assert!(rendered.text.contains("Ends: 20 Nov 2026, 10:00 UTC"), "{}", rendered.text);
    assert!(rendered.html.contains(r#"<html lang="en">"#));
    assert!(!rendered.text.contains('¥'));
}

#[test]
fn the_link_is_relative_and_the_mail_links_are_absolute() {
    let payload = outbid(samples::title());
    let NotificationPayload::Outbid { auction_id, .. } = &payload else { unreachable!() };
    let rendered = render(&payload, Lang::En, BASE);
    assert_eq!(rendered.link, format!("/auctions/{auction_id}"));
    let absolute = format!("https://achex.example/auctions/{auction_id}");
    assert!(rendered.text.contains(&absolute), "{}", rendered.text);
    assert!(rendered.html.contains(&format!(r#"href="{absolute}""#)), "{}", rendered.html);
    assert!(rendered.text.contains("https://achex.example/settings/notifications"));
}

#[test]
fn a_chinese_reader_sees_the_english_title_when_there_is_no_chinese_one() {
    let rendered = render(&outbid(LangText::en("Soil moisture sensor")), Lang::Zh, BASE);
    assert_eq!(rendered.title, "出价被超越：Soil moisture sensor");
    assert!(rendered.text.contains("在「Soil moisture sensor」的拍卖中"), "{}", rendered.text);
}

#[test]
fn an_english_reader_sees_the_chinese_title_when_there_is_no_english_one() {
    let title = LangText { zh: Some("土壤湿度传感器".into()), en: Some("   ".into()) };
    let rendered = render(&outbid(title), Lang::En, BASE);
    assert_eq!(rendered.title, "Outbid: 土壤湿度传感器");
}

#[test]
fn a_title_missing_in_both_languages_shows_a_placeholder() {
    assert_eq!(render(&outbid(LangText::default()), Lang::En, BASE).title, "Outbid: (untitled)");
    assert_eq!(render(&outbid(LangText::default()), Lang::Zh, BASE).title, "出价被超越：（无标题）");
}

#[test]
fn user_text_is_escaped_in_the_html_part() {
    let attack = r#"<script>alert("owned")</script><img src=x onerror=alert(1)>"#;
    let payloads = [
        outbid(LangText::en(attack)),
        NotificationPayload::ListingRejected {
            listing_id: ListingId::new(),
            listing_title: LangText::en("Fine title"),
            reason: attack.into(),
        },
        NotificationPayload::SavedSearchMatch {
            saved_search_id: achex_core::SavedSearchId::new(),
            saved_search_name: attack.into(),
            listings: vec![crate::MatchedListing::new_listing(ListingId::new(), LangText::zh(attack))],
        },
        NotificationPayload::MeetingRequest {
            matchmaking_event_id: uuid::Uuid::now_v7(),
            event_name: LangText::en(attack),
            meeting_request_id: uuid::Uuid::now_v7(),
            requester: attack.into(),
        },
    ];
    for payload in payloads {
        for lang in [Lang::Zh, Lang::En] {
            let rendered = render(&payload, lang, BASE);
            assert!(!rendered.html.contains("<script"), "{}", rendered.html);
            assert!(!rendered.html.contains("<img"), "{}", rendered.html);
            assert!(rendered.html.contains("&lt;script&gt;"), "{}", rendered.html);
            // The plain-text part shows the text as written: it is never interpreted.
            assert!(rendered.text.contains("<script>"), "{}", rendered.text);
        }
    }
}

#[test]
fn subjects_and_titles_are_single_short_lines() {
    let long = "一种".repeat(50) + "\r\nBcc: someone@example.com";
    let rendered = render(&outbid(LangText::zh(long)), Lang::Zh, BASE);
    for line in [&rendered.subject, &rendered.title] {
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert!(line.chars().count() < 80, "{line}");
        assert!(line.contains('…'), "{line}");
    }
}

#[test]
fn every_kind_renders_in_both_languages_with_a_link_and_no_empty_part() {
    for payload in samples::all() {
        for lang in [Lang::Zh, Lang::En] {
            let rendered = render(&payload, lang, BASE);
            let kind = payload.kind();
            assert!(!rendered.subject.is_empty(), "{kind} {lang:?}");
            assert!(!rendered.title.is_empty(), "{kind} {lang:?}");
            assert!(rendered.link.starts_with('/'), "{kind} {lang:?}: {}", rendered.link);
            assert!(rendered.text.contains(&format!("https://achex.example{}", rendered.link)), "{kind} {lang:?}");
            assert!(rendered.html.starts_with("<!DOCTYPE html>"), "{kind} {lang:?}");
            assert!(rendered.html.trim_end().ends_with("</html>"), "{kind} {lang:?}");
            // Nothing in the other language's template leaks in: Chinese mails have Chinese
            // headings, English mails have no CJK outside user text (the samples' English titles).
            if lang == Lang::En {
                assert!(!rendered.subject.contains('您'), "{kind}: {}", rendered.subject);
            }
        }
    }
}

#[test]
fn the_deposit_amount_is_shown_in_its_own_currency() {
    let deposit = &samples::all()[5];
    assert!(render(deposit, Lang::Zh, BASE).text.contains("保证金金额：US$5,000.00"));
    assert!(render(deposit, Lang::En, BASE).text.contains("Deposit: USD 5,000.00"));
}

#[test]
fn the_reviewers_reason_is_quoted_as_written() {
    let payload = NotificationPayload::ListingRejected {
        listing_id: ListingId::new(),
        listing_title: samples::title(),
        reason: "1. 请补充专利证书扫描件\n2. 摘要过短".into(),
    };
    let rendered = render(&payload, Lang::Zh, BASE);
    assert!(rendered.text.contains("> 1. 请补充专利证书扫描件\n> 2. 摘要过短"), "{}", rendered.text);
    assert!(rendered.html.contains("1. 请补充专利证书扫描件\n2. 摘要过短"), "{}", rendered.html);
}

#[test]
fn a_digest_lists_twenty_listings_and_counts_the_rest() {
    let listings: Vec<crate::MatchedListing> = (0..23)
        .map(|i| crate::MatchedListing::new_listing(ListingId::new(), LangText::en(format!("Listing {i}"))))
        .collect();
    let payload = NotificationPayload::SavedSearchDigest {
        saved_search_id: achex_core::SavedSearchId::new(),
        saved_search_name: "Sensors".into(),
        listings,
    };
    let rendered = render(&payload, Lang::En, BASE);
    assert_eq!(rendered.subject, "Your digest for “Sensors”: 23 new listings");
    assert!(rendered.text.contains("- Listing 19\n"));
    assert!(!rendered.text.contains("Listing 20"));
    assert!(rendered.text.contains("…and 3 more on the website."));
    assert_eq!(rendered.html.matches("<li ").count(), 20);
}

#[test]
fn a_single_match_reads_in_the_singular() {
    let payload = &samples::all()[10];
    assert_eq!(render(payload, Lang::En, BASE).subject, "A new listing matches “电池”");
    assert_eq!(render(payload, Lang::Zh, BASE).subject, "您保存的搜索「电池」有 1 项新成果");
}

#[test]
fn a_lost_auction_without_a_sale_says_so() {
    let payload = &samples::all()[4];
    let rendered = render(payload, Lang::En, BASE);
    assert!(rendered.text.contains("has closed without a sale"), "{}", rendered.text);
    assert!(!rendered.text.contains("Final price"));
}

#[test]
fn an_auction_change_is_announced_as_an_update_not_as_a_new_listing() {
    let listings = vec![
        crate::MatchedListing::new_listing(ListingId::new(), LangText::en("Fresh sensor")),
        crate::MatchedListing {
            listing_id: ListingId::new(),
            title: LangText { zh: Some("锂离子电池".into()), en: Some("Lithium-ion battery".into()) },
            change: Some(crate::ListingChange::AuctionOpen),
        },
    ];
    let payload = NotificationPayload::SavedSearchMatch {
        saved_search_id: achex_core::SavedSearchId::new(),
        saved_search_name: "Batteries".into(),
        listings,
    };
    let en = render(&payload, Lang::En, BASE);
    assert_eq!(en.subject, "2 new or updated listings match “Batteries”");
    assert!(en.text.contains("- Fresh sensor\n"), "{}", en.text);
    assert!(en.text.contains("- Lithium-ion battery — now open for bids\n"), "{}", en.text);
    let zh = render(&payload, Lang::Zh, BASE);
    assert_eq!(zh.subject, "您保存的搜索「Batteries」有 2 项新成果或更新");
    assert!(zh.text.contains("锂离子电池（竞价进行中）"), "{}", zh.text);
}
