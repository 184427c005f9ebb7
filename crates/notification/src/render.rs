//! Bilingual templates: a [`NotificationPayload`] becomes the words one user reads, in Chinese or
//! English.
//!
//! The same [`Rendered`] feeds every channel: `subject`, `text` and `html` make the e-mail;
//! `title` and `link` make the inbox row and the live message. Listing titles and event names
//! are [`LangText`]; when the reader's language is missing the other one is shown rather than
//! nothing. Everything a user wrote (titles, reasons, search names, organisation names) is
//! escaped in the HTML part.

mod format;
mod layout;

pub use format::{escape_html, format_money, format_time};
pub use layout::SETTINGS_PATH;

use crate::payload::{AgendaStage, ListingChange, MatchedListing, NotificationPayload};
use achex_core::{Lang, LangText};
pub(crate) use format::one_line;
use layout::Letter;
use serde::{Deserialize, Serialize};

/// One notification as one reader sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// The e-mail subject: one line, no brand prefix (the From name carries it).
    pub subject: String,
    /// The plain-text part of the e-mail.
    pub text: String,
    /// The HTML part of the e-mail: a complete document with inline styles.
    pub html: String,
    /// A short line for the inbox and the live channel.
    pub title: String,
    /// The body for the inbox and the live channel: the message's paragraphs, facts and items,
    /// without the e-mail's heading, button and signature.
    pub summary: String,
    /// Where the notification leads in the web client, relative (`/auctions/<id>`) so the inbox
    /// and live messages work on whatever host serves the client.
    pub link: String,
}

/// Subjects and titles cut user text to this many characters; the body shows it whole.
const SHORT_TEXT: usize = 60;
/// A digest lists at most this many listings; the rest are counted.
const DIGEST_LIMIT: usize = 20;

/// Renders `payload` for a reader of `lang`. `base_url` is the public address of the web client
/// (`https://achex.example`); the e-mail parts link to it, the inbox `link` stays relative.
pub fn render(payload: &NotificationPayload, lang: Lang, base_url: &str) -> Rendered {
    let letter = letter(payload, lang);
    Rendered {
        text: letter.text(lang, base_url),
        html: letter.html(lang, base_url),
        summary: letter.summary(lang),
        subject: letter.subject,
        title: letter.title,
        link: letter.action.1,
    }
}

/// Picks the reader's language, then the other one, then a placeholder: a message never shows
/// an empty name.
fn pick(text: &LangText, lang: Lang) -> &str {
    text.best(lang).unwrap_or(match lang {
        Lang::Zh => "（无标题）",
        Lang::En => "(untitled)",
    })
}

/// `zh` or `en`, whichever the reader reads.
fn tr<'a>(lang: Lang, zh: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

fn auction_link(auction_id: impl std::fmt::Display) -> String {
    format!("/auctions/{auction_id}")
}

fn view_auction(lang: Lang, auction_id: impl std::fmt::Display) -> (String, String) {
    (tr(lang, "查看拍卖", "View the auction").to_owned(), auction_link(auction_id))
}

fn fact(lang: Lang, zh: &str, en: &str, value: String) -> (String, String) {
    (tr(lang, zh, en).to_owned(), value)
}

fn plain(subject: String, title: String, heading: &str, paragraphs: Vec<String>, action: (String, String)) -> Letter {
    Letter {
        subject,
        title,
        heading: heading.to_owned(),
        paragraphs,
        facts: Vec::new(),
        items: Vec::new(),
        after_items: None,
        quote: None,
        action,
    }
}

fn letter(payload: &NotificationPayload, lang: Lang) -> Letter {
    use NotificationPayload as P;
    match payload {
        P::Outbid { auction_id, listing_title, your_max, current_price, leader_code, ends_at } => {
            let full = pick(listing_title, lang);
            let short = one_line(full, SHORT_TEXT);
            let mut letter = plain(
                match lang {
                    Lang::Zh => format!("您的出价已被超越 —「{short}」"),
                    Lang::En => format!("You have been outbid on “{short}”"),
                },
                match lang {
                    Lang::Zh => format!("出价被超越：{short}"),
                    Lang::En => format!("Outbid: {short}"),
                },
                tr(lang, "您的出价已被超越", "You have been outbid"),
                vec![match lang {
                    Lang::Zh => format!(
                        "在「{full}」的拍卖中，另一位竞买人的出价已超过您设定的最高出价。如需继续竞拍，请在拍卖结束前提高出价。"
                    ),
                    Lang::En => format!(
                        "Another bidder has gone above the maximum you set on “{full}”. To stay in the auction, raise your bid before it ends."
                    ),
                }],
                (tr(lang, "提高出价", "Raise your bid").to_owned(), auction_link(auction_id)),
            );
            letter.facts.push(fact(lang, "您的最高出价", "Your maximum", format_money(*your_max, lang)));
            letter.facts.push(fact(lang, "当前价格", "Current price", format_money(*current_price, lang)));
            if let Some(code) = leader_code {
                letter.facts.push(fact(lang, "当前领先", "Leading bidder", code.clone()));
            }
            letter.facts.push(fact(lang, "结束时间", "Ends", format_time(*ends_at, lang)));
            letter
        }
        P::AuctionStarting { auction_id, listing_title, starts_at } => {
            let full = pick(listing_title, lang);
            let short = one_line(full, SHORT_TEXT);
            let when = format_time(*starts_at, lang);
            let mut letter = plain(
                match lang {
                    Lang::Zh => format!("「{short}」即将开拍"),
                    Lang::En => format!("“{short}” opens for bidding soon"),
                },
                match lang {
                    Lang::Zh => format!("即将开拍：{short}"),
                    Lang::En => format!("Starting soon: {short}"),
                },
                tr(lang, "拍卖即将开始", "The auction starts soon"),
                vec![match lang {
                    Lang::Zh => format!("「{full}」将于 {when} 开始竞价。"),
                    Lang::En => format!("Bidding on “{full}” opens at {when}."),
                }],
                view_auction(lang, auction_id),
            );
            letter.facts.push(fact(lang, "开始时间", "Starts", when));
            letter
        }
        P::AuctionEndingSoon { auction_id, listing_title, ends_at } => {
            let full = pick(listing_title, lang);
            let short = one_line(full, SHORT_TEXT);
            let when = format_time(*ends_at, lang);
            let mut letter = plain(
                match lang {
                    Lang::Zh => format!("「{short}」即将结束竞价"),
                    Lang::En => format!("Bidding on “{short}” ends soon"),
                },
                match lang {
                    Lang::Zh => format!("即将结束：{short}"),
                    Lang::En => format!("Ending soon: {short}"),
                },
                tr(lang, "拍卖即将结束", "The auction ends soon"),
                vec![match lang {
                    Lang::Zh => format!("「{full}」的竞价将于 {when} 结束。临近结束时的出价可能会使结束时间顺延。"),
                    Lang::En => format!(
                        "Bidding on “{full}” ends at {when}. A bid in the final minutes can move the close later."
                    ),
                }],
                (tr(lang, "去出价", "Place a bid").to_owned(), auction_link(auction_id)),
            );
            letter.facts.push(fact(lang, "结束时间", "Ends", when));
            letter
        }
        P::AuctionWon { auction_id, listing_title, price } => {
            let full = pick(listing_title, lang);
            let short = one_line(full, SHORT_TEXT);
            let price = format_money(*price, lang);
            let mut letter = plain(
                match lang {
                    Lang::Zh => format!("恭喜您竞得「{short}」"),
                    Lang::En => format!("You won the auction for “{short}”"),
                },
                match lang {
                    Lang::Zh => format!("恭喜竞得：{short}"),
                    Lang::En => format!("You won: {short}"),
                },
                tr(lang, "恭喜，您已竞得此项成果", "Congratulations, you won"),
                vec![match lang {
                    Lang::Zh => format!(
                        "「{full}」的拍卖已结束，您以 {price} 成为买受人。请登录查看成交确认及后续签约、付款安排。"
                    ),
                    Lang::En => format!(
                        "The auction for “{full}” has closed and you are the winning bidder at {price}. Sign in to see the confirmation and the next steps for contract and payment."
                    ),
                }],
                (tr(lang, "查看成交结果", "View the result").to_owned(), auction_link(auction_id)),
            );
            letter.facts.push(fact(lang, "成交价", "Winning price", price));
            letter
        }
        P::AuctionLost { auction_id, listing_title, final_price } => {
            let full = pick(listing_title, lang);
            let short = one_line(full, SHORT_TEXT);
            let outcome = match (lang, final_price) {
                (Lang::Zh, Some(price)) => {
                    format!("「{full}」的拍卖已结束，很遗憾您未能竞得，成交价为 {}。", format_money(*price, lang))
                }
                (Lang::Zh, None) => format!("「{full}」的拍卖已结束，本次未成交。"),
                (Lang::En, Some(price)) => format!(
                    "The auction for “{full}” has closed and another bidder won it at {}.",
                    format_money(*price, lang)
                ),
                (Lang::En, None) => format!("The auction for “{full}” has closed without a sale."),
            };
            let mut letter = plain(
                match lang {
                    Lang::Zh => format!("「{short}」的拍卖已结束"),
                    Lang::En => format!("The auction for “{short}” has closed"),
                },
                match lang {
                    Lang::Zh => format!("拍卖已结束：{short}"),
                    Lang::En => format!("Auction closed: {short}"),
                },
                tr(lang, "拍卖已结束", "The auction has closed"),
                vec![
                    outcome,
                    tr(
                        lang,
                        "如您缴纳了保证金，将按拍卖规则退还。",
                        "If you paid a deposit, it will be released under the auction rules.",
                    )
                    .to_owned(),
                ],
                view_auction(lang, auction_id),
            );
            if let Some(price) = final_price {
                letter.facts.push(fact(lang, "成交价", "Final price", format_money(*price, lang)));
            }
            letter
        }
        P::DepositConfirmed { auction_id, listing_title, amount } => deposit_letter(
            lang,
            auction_id,
            pick(listing_title, lang),
            format_money(*amount, lang),
            DepositWords {
                subject: ["您的保证金已确认 —「{}」", "Your deposit for “{}” is confirmed"],
                title: ["保证金已确认：{}", "Deposit confirmed: {}"],
                heading: ["保证金已确认", "Deposit confirmed"],
                body: [
                    "平台已确认您为「{}」缴纳的保证金，您现在可以参与竞价。",
                    "We have confirmed your deposit for “{}”. You can now bid.",
                ],
            },
        ),
        P::DepositReleased { auction_id, listing_title, amount } => deposit_letter(
            lang,
            auction_id,
            pick(listing_title, lang),
            format_money(*amount, lang),
            DepositWords {
                subject: ["您的保证金已退还 —「{}」", "Your deposit for “{}” has been released"],
                title: ["保证金已退还：{}", "Deposit released: {}"],
                heading: ["保证金已退还", "Deposit released"],
                body: [
                    "您为「{}」缴纳的保证金已退还，到账时间以银行处理为准。",
                    "Your deposit for “{}” has been released. When it reaches your account depends on your bank.",
                ],
            },
        ),
        P::DepositForfeited { auction_id, listing_title, amount } => deposit_letter(
            lang,
            auction_id,
            pick(listing_title, lang),
            format_money(*amount, lang),
            DepositWords {
                subject: ["您在「{}」的保证金不予退还", "Your deposit for “{}” has been forfeited"],
                title: ["保证金不予退还：{}", "Deposit forfeited: {}"],
                heading: ["保证金不予退还", "Deposit forfeited"],
                body: [
                    "根据拍卖规则，您为「{}」缴纳的保证金不予退还。如有疑问，请联系平台客服。",
                    "Under the auction rules, your deposit for “{}” has been forfeited. If you believe this is a mistake, please contact the platform.",
                ],
            },
        ),
        P::ListingApproved { listing_id, listing_title } => {
            let full = pick(listing_title, lang);
            let short = one_line(full, SHORT_TEXT);
            plain(
                match lang {
                    Lang::Zh => format!("您的成果「{short}」已通过审核"),
                    Lang::En => format!("Your listing “{short}” has been approved"),
                },
                match lang {
                    Lang::Zh => format!("审核通过：{short}"),
                    Lang::En => format!("Approved: {short}"),
                },
                tr(lang, "成果已通过审核", "Your listing is live"),
                vec![match lang {
                    Lang::Zh => format!("「{full}」已通过平台审核并公开展示，企业用户现在可以检索和查看。"),
                    Lang::En => format!("“{full}” passed review and is now public: enterprises can find and view it."),
                }],
                (tr(lang, "查看成果", "View the listing").to_owned(), format!("/listings/{listing_id}")),
            )
        }
        P::ListingRejected { listing_id, listing_title, reason } => {
            let full = pick(listing_title, lang);
            let short = one_line(full, SHORT_TEXT);
            let mut letter = plain(
                match lang {
                    Lang::Zh => format!("您的成果「{short}」需要修改"),
                    Lang::En => format!("Your listing “{short}” needs changes"),
                },
                match lang {
                    Lang::Zh => format!("需要修改：{short}"),
                    Lang::En => format!("Changes needed: {short}"),
                },
                tr(lang, "成果未通过审核", "Your listing needs changes"),
                vec![match lang {
                    Lang::Zh => format!("审核人员退回了「{full}」，请根据以下意见修改后重新提交。"),
                    Lang::En => {
                        format!(
                            "A reviewer sent “{full}” back. Please revise it as explained below and submit it again."
                        )
                    }
                }],
                (tr(lang, "修改成果", "Edit the listing").to_owned(), format!("/listings/{listing_id}")),
            );
            letter.quote = Some((tr(lang, "审核意见", "Reviewer’s comments").to_owned(), reason.trim().to_owned()));
            letter
        }
        P::SavedSearchMatch { saved_search_id, saved_search_name, listings } => {
            let name = one_line(saved_search_name, SHORT_TEXT);
            let count = listings.len();
            // "new" when every listing is newly published; "new or updated" once an auction
            // change is among them, so the words never claim an old listing is new.
            let only_new = listings.iter().all(|l| l.change.is_none());
            let mut letter = plain(
                match (lang, only_new) {
                    (Lang::Zh, true) => format!("您保存的搜索「{name}」有 {count} 项新成果"),
                    (Lang::Zh, false) => format!("您保存的搜索「{name}」有 {count} 项新成果或更新"),
                    (Lang::En, true) if count == 1 => format!("A new listing matches “{name}”"),
                    (Lang::En, true) => format!("{count} new listings match “{name}”"),
                    (Lang::En, false) if count == 1 => format!("An updated listing matches “{name}”"),
                    (Lang::En, false) => format!("{count} new or updated listings match “{name}”"),
                },
                match (lang, only_new) {
                    (Lang::Zh, true) => format!("「{name}」有新成果"),
                    (Lang::Zh, false) => format!("「{name}」有更新"),
                    (Lang::En, true) => format!("New for “{name}”"),
                    (Lang::En, false) => format!("Updates for “{name}”"),
                },
                if only_new {
                    tr(lang, "有新成果符合您的搜索", "New listings match your search")
                } else {
                    tr(lang, "有成果更新符合您的搜索", "Listings matching your search have changed")
                },
                vec![match (lang, only_new) {
                    (Lang::Zh, true) => format!("以下新发布的成果符合您保存的搜索「{name}」："),
                    (Lang::Zh, false) => format!("以下新发布或有更新的成果符合您保存的搜索「{name}」："),
                    (Lang::En, true) => format!("These newly published listings match your saved search “{name}”:"),
                    (Lang::En, false) => {
                        format!("These new or updated listings match your saved search “{name}”:")
                    }
                }],
                (tr(lang, "查看全部结果", "See all results").to_owned(), format!("/saved-searches/{saved_search_id}")),
            );
            list_listings(&mut letter, listings, lang);
            letter
        }
        P::SavedSearchDigest { saved_search_id, saved_search_name, listings } => {
            let name = one_line(saved_search_name, SHORT_TEXT);
            let count = listings.len();
            let only_new = listings.iter().all(|l| l.change.is_none());
            let (zh_what, en_one, en_many) = if only_new {
                ("新成果", "new listing", "new listings")
            } else {
                ("新成果或更新", "new or updated listing", "new or updated listings")
            };
            let en_what = if count == 1 { en_one } else { en_many };
            let mut letter = plain(
                match lang {
                    Lang::Zh => format!("搜索摘要「{name}」：{count} 项{zh_what}"),
                    Lang::En => format!("Your digest for “{name}”: {count} {en_what}"),
                },
                match lang {
                    Lang::Zh => format!("「{name}」摘要：{count} 项{zh_what}"),
                    Lang::En if only_new => format!("Digest for “{name}”: {count} new"),
                    Lang::En => format!("Digest for “{name}”: {count} new or updated"),
                },
                tr(lang, "保存的搜索摘要", "Your saved-search digest"),
                vec![match lang {
                    Lang::Zh => format!("自上次摘要以来，有 {count} 项{zh_what}符合您保存的搜索「{name}」："),
                    Lang::En if count == 1 => {
                        format!("Since your last digest, 1 {en_what} matches your saved search “{name}”:")
                    }
                    Lang::En => {
                        format!("Since your last digest, {count} {en_what} match your saved search “{name}”:")
                    }
                }],
                (tr(lang, "查看全部结果", "See all results").to_owned(), format!("/saved-searches/{saved_search_id}")),
            );
            list_listings(&mut letter, listings, lang);
            letter
        }
        P::MeetingRequest { matchmaking_event_id, event_name, meeting_request_id, requester } => {
            let event = pick(event_name, lang);
            let short_event = one_line(event, SHORT_TEXT);
            let short_requester = one_line(requester, SHORT_TEXT);
            let mut letter = plain(
                match lang {
                    Lang::Zh => format!("{short_requester} 希望在「{short_event}」与您洽谈"),
                    Lang::En => format!("{short_requester} asks to meet you at {short_event}"),
                },
                match lang {
                    Lang::Zh => format!("洽谈请求：{short_requester}"),
                    Lang::En => format!("Meeting request: {short_requester}"),
                },
                tr(lang, "您收到一个洽谈请求", "You have a meeting request"),
                vec![match lang {
                    Lang::Zh => {
                        format!("{requester} 希望在「{event}」期间与您安排一次洽谈。请在网站上接受或拒绝该请求。")
                    }
                    Lang::En => format!(
                        "{requester} would like to meet you during {event}. Accept or decline the request on the website."
                    ),
                }],
                (
                    tr(lang, "回复请求", "Respond to the request").to_owned(),
                    format!("/events/{matchmaking_event_id}/meeting-requests/{meeting_request_id}"),
                ),
            );
            letter.facts.push(fact(lang, "活动", "Event", event.to_owned()));
            letter.facts.push(fact(lang, "请求方", "From", requester.clone()));
            letter
        }
        P::AgendaPublished { matchmaking_event_id, event_name, stage } => {
            let event = pick(event_name, lang);
            let short = one_line(event, SHORT_TEXT);
            let (subject, title, heading, body) = match (lang, stage) {
                (Lang::Zh, AgendaStage::Preliminary) => (
                    format!("「{short}」初步日程已发布"),
                    format!("初步日程：{short}"),
                    "初步日程已发布",
                    format!("「{event}」的初步日程已发布。请核对您的洽谈安排；如有冲突，请尽快更新您的可用时间。"),
                ),
                (Lang::Zh, AgendaStage::Final) => (
                    format!("「{short}」最终日程已发布"),
                    format!("最终日程：{short}"),
                    "最终日程已发布",
                    format!("「{event}」的最终日程已发布。您可以将其导入日历（ICS），并在现场凭二维码签到。"),
                ),
                (Lang::En, AgendaStage::Preliminary) => (
                    format!("The preliminary agenda for {short} is out"),
                    format!("Preliminary agenda: {short}"),
                    "The preliminary agenda is out",
                    format!(
                        "The preliminary agenda for {event} is out. Please check your meetings and update your availability soon if anything clashes."
                    ),
                ),
                (Lang::En, AgendaStage::Final) => (
                    format!("The final agenda for {short} is out"),
                    format!("Final agenda: {short}"),
                    "The final agenda is out",
                    format!(
                        "The final agenda for {event} is out. Add it to your calendar (ICS) and check in on site with your QR code."
                    ),
                ),
            };
            plain(
                subject,
                title,
                heading,
                vec![body],
                (tr(lang, "查看日程", "View the agenda").to_owned(), format!("/events/{matchmaking_event_id}/agenda")),
            )
        }
    }
}

/// The words of one deposit message, `[zh, en]`, each with one `{}` for the listing title.
struct DepositWords {
    subject: [&'static str; 2],
    title: [&'static str; 2],
    heading: [&'static str; 2],
    body: [&'static str; 2],
}

fn deposit_letter(
    lang: Lang,
    auction_id: impl std::fmt::Display,
    full_title: &str,
    amount: String,
    words: DepositWords,
) -> Letter {
    let index = match lang {
        Lang::Zh => 0,
        Lang::En => 1,
    };
    let short = one_line(full_title, SHORT_TEXT);
    // The templates are constants with exactly one placeholder; `replacen` keeps user text from
    // ever being read as a format string.
    let fill = |template: &str, value: &str| template.replacen("{}", value, 1);
    let mut letter = plain(
        fill(words.subject[index], &short),
        fill(words.title[index], &short),
        words.heading[index],
        vec![fill(words.body[index], full_title)],
        view_auction(lang, auction_id),
    );
    letter.facts.push(fact(lang, "保证金金额", "Deposit", amount));
    letter
}

fn list_listings(letter: &mut Letter, listings: &[MatchedListing], lang: Lang) {
    letter.items = listings
        .iter()
        .take(DIGEST_LIMIT)
        .map(|listing| {
            let title = pick(&listing.title, lang);
            let text = match listing.change {
                None => title.to_owned(),
                Some(change) => format!("{title}{}", change_note(change, lang)),
            };
            (text, format!("/listings/{}", listing.listing_id))
        })
        .collect();
    let more = listings.len().saturating_sub(DIGEST_LIMIT);
    if more > 0 {
        letter.after_items = Some(match lang {
            Lang::Zh => format!("另有 {more} 项，请在网站上查看。"),
            Lang::En => format!("…and {more} more on the website."),
        });
    }
}

/// What an already public listing's entry says changed.
fn change_note(change: ListingChange, lang: Lang) -> &'static str {
    match (change, lang) {
        (ListingChange::AuctionUpcoming, Lang::Zh) => "（即将竞价）",
        (ListingChange::AuctionUpcoming, Lang::En) => " — auction coming up",
        (ListingChange::AuctionOpen, Lang::Zh) => "（竞价进行中）",
        (ListingChange::AuctionOpen, Lang::En) => " — now open for bids",
        (ListingChange::AuctionClosed, Lang::Zh) => "（竞价已结束）",
        (ListingChange::AuctionClosed, Lang::En) => " — auction closed",
    }
}

#[cfg(test)]
mod tests;
