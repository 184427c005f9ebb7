//! Formatting of the values a message shows: money, times, and text made safe for HTML and for a
//! one-line subject.

use achex_core::{Currency, Lang, Money};
use chrono::{DateTime, FixedOffset, Utc};

/// An amount for people to read, computed from the integer minor units (never through a float,
/// which would print 0.1 + 0.2 kinds of surprises on large amounts).
///
/// Chinese readers get the familiar symbol (`¥12,345.67`); English readers get the ISO code
/// (`CNY 12,345.67`), because to them `¥` as easily means yen. Every currency achex accepts has
/// two decimal places.
pub fn format_money(money: Money, lang: Lang) -> String {
    let sign = if money.amount < 0 { "-" } else { "" };
    let minor = money.amount.unsigned_abs();
    let number = format!("{}.{:02}", group_thousands(minor / 100), minor % 100);
    match lang {
        Lang::Zh => {
            let symbol = match money.currency {
                Currency::Cny => "¥",
                Currency::Usd => "US$",
                Currency::Eur => "€",
            };
            format!("{sign}{symbol}{number}")
        }
        Lang::En => format!("{} {sign}{number}", money.currency.code()),
    }
}

/// `12345678` → `12,345,678`.
fn group_thousands(mut value: u64) -> String {
    let mut groups = Vec::new();
    while value >= 1000 {
        groups.push(format!("{:03}", value % 1000));
        value /= 1000;
    }
    groups.push(value.to_string());
    groups.reverse();
    groups.join(",")
}

/// A moment for people to read. Chinese readers get Beijing time (UTC+8; China has no daylight
/// saving, so a fixed offset is exact); English readers, who may be anywhere, get UTC. Either way
/// the zone is written out, so nobody has to guess.
pub fn format_time(at: DateTime<Utc>, lang: Lang) -> String {
    match lang {
        Lang::Zh => {
            let beijing = FixedOffset::east_opt(8 * 3600).map_or_else(|| at.fixed_offset(), |tz| at.with_timezone(&tz));
            format!("{}（北京时间）", beijing.format("%Y年%-m月%-d日 %H:%M"))
        }
        Lang::En => at.format("%-d %b %Y, %H:%M UTC").to_string(),
    }
}

/// Text made safe to place in HTML element content and in quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// User text reduced to one line of at most `max_chars` characters, for subjects and inbox
/// titles: line breaks and other control characters become spaces (a subject must never carry a
/// line break into the header block), runs of spaces collapse, and a cut is marked with `…`.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let cleaned: Vec<&str> =
        text.split(|c: char| c.is_control() || c.is_whitespace()).filter(|w| !w.is_empty()).collect();
    let joined = cleaned.join(" ");
    if joined.chars().count() <= max_chars {
        return joined;
    }
    let mut cut: String = joined.chars().take(max_chars.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn money_is_formatted_exactly_from_minor_units() {
        assert_eq!(format_money(Money::cny(1_234_567), Lang::En), "CNY 12,345.67");
        assert_eq!(format_money(Money::cny(1_234_567), Lang::Zh), "¥12,345.67");
        assert_eq!(format_money(Money::cny(5), Lang::En), "CNY 0.05");
        assert_eq!(format_money(Money::cny(100_000), Lang::Zh), "¥1,000.00");
        assert_eq!(format_money(Money::cny(-123_456_789), Lang::Zh), "-¥1,234,567.89");
        assert_eq!(format_money(Money::new(99_999, Currency::Usd), Lang::Zh), "US$999.99");
        assert_eq!(format_money(Money::new(1, Currency::Eur), Lang::En), "EUR 0.01");
    }

    #[test]
    fn the_largest_amounts_keep_every_digit() {
        // 2^63 - 1 minor units: a float would have rounded the last digits away.
        assert_eq!(format_money(Money::cny(i64::MAX), Lang::En), "CNY 92,233,720,368,547,758.07");
        assert_eq!(format_money(Money::cny(i64::MIN), Lang::En), "CNY -92,233,720,368,547,758.08");
    }

    #[test]
    fn times_are_beijing_time_in_chinese_and_utc_in_english() {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 17, 5, 0).single().unwrap();
        assert_eq!(format_time(at, Lang::Zh), "2026年11月21日 01:05（北京时间）");
        assert_eq!(format_time(at, Lang::En), "20 Nov 2026, 17:05 UTC");
    }

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape_html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn one_line_removes_line_breaks_and_cuts_on_characters() {
        assert_eq!(one_line("Battery\r\nBcc: victim@example.com", 100), "Battery Bcc: victim@example.com");
        assert_eq!(one_line("锂电池正极材料制备方法", 5), "锂电池正…");
        assert_eq!(one_line("short", 5), "short");
    }
}
