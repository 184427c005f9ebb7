//! One layout for every message. A [`Letter`] holds the message as structured plain text; the
//! plain-text and the HTML parts are both produced from it, so they can never say different
//! things, and every piece of text passes through [`escape_html`] on its way into the HTML.

use super::format::escape_html;
use achex_core::Lang;
use std::fmt::Write as _;

/// Where a user manages which notifications reach them; linked from every footer.
pub const SETTINGS_PATH: &str = "/settings/notifications";

pub(super) struct Letter {
    pub subject: String,
    pub title: String,
    pub heading: String,
    pub paragraphs: Vec<String>,
    /// Label and value pairs shown as a small table ("Current price: CNY 12,345.67").
    pub facts: Vec<(String, String)>,
    /// A list of linked items (saved-search matches): text and relative path.
    pub items: Vec<(String, String)>,
    /// A line after the list, e.g. "…and 3 more".
    pub after_items: Option<String>,
    /// A labelled block quoted as written, e.g. a reviewer's comments.
    pub quote: Option<(String, String)>,
    /// The button: its label and the relative path it leads to.
    pub action: (String, String),
}

/// Joins the configured public base URL and a relative path without doubling or losing the slash.
pub(super) fn absolute(base_url: &str, path: &str) -> String {
    format!("{}/{}", base_url.trim_end_matches('/'), path.trim_start_matches('/'))
}

struct Chrome {
    brand: &'static str,
    /// What follows a label: a full-width colon in Chinese text, `": "` in English.
    colon: &'static str,
    /// Between two sentences: Chinese runs them together, English leaves a space.
    space: &'static str,
    /// Latin fonts first for English: CJK fonts draw quotes and apostrophes full-width.
    fonts: &'static str,
    html_lang: &'static str,
    automatic: &'static str,
    why: &'static str,
    manage: &'static str,
}

fn chrome(lang: Lang) -> Chrome {
    match lang {
        Lang::Zh => Chrome {
            brand: "achex 成果交易所",
            colon: "：",
            space: "",
            fonts: "-apple-system,'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Segoe UI',Arial,sans-serif",
            html_lang: "zh-CN",
            automatic: "此邮件由系统自动发送，请勿直接回复。",
            why: "您收到这封邮件，是因为您的 achex 账户开启了此类通知。",
            manage: "管理通知设置",
        },
        Lang::En => Chrome {
            brand: "achex · the achievement exchange",
            colon: ": ",
            space: " ",
            fonts: "-apple-system,'Segoe UI',Roboto,Helvetica,Arial,'Liberation Sans','DejaVu Sans','PingFang SC','Microsoft YaHei','Noto Sans CJK SC',sans-serif",
            html_lang: "en",
            automatic: "This message was sent automatically; replies to it are not read.",
            why: "You receive this e-mail because this kind of notification is turned on for your achex account.",
            manage: "Manage notifications",
        },
    }
}

impl Letter {
    /// The message without its e-mail frame (heading, button, signature): what the inbox and the
    /// live channel show under the title. Listed items are plain lines; the client links them.
    pub fn summary(&self, lang: Lang) -> String {
        let chrome = chrome(lang);
        let mut parts: Vec<String> = self.paragraphs.clone();
        if !self.facts.is_empty() {
            parts.push(
                self.facts
                    .iter()
                    .map(|(label, value)| format!("{label}{}{value}", chrome.colon))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        if !self.items.is_empty() {
            parts.push(self.items.iter().map(|(text, _)| format!("- {text}")).collect::<Vec<_>>().join("\n"));
        }
        if let Some(after) = &self.after_items {
            parts.push(after.clone());
        }
        if let Some((label, quoted)) = &self.quote {
            parts.push(format!("{label}{}{quoted}", chrome.colon));
        }
        parts.join("\n\n")
    }

    pub fn text(&self, lang: Lang, base_url: &str) -> String {
        let chrome = chrome(lang);
        let mut out = String::new();
        out.push_str(&self.heading);
        out.push_str("\n\n");
        for paragraph in &self.paragraphs {
            out.push_str(paragraph);
            out.push_str("\n\n");
        }
        if !self.facts.is_empty() {
            for (label, value) in &self.facts {
                let _ = writeln!(out, "{label}{}{value}", chrome.colon);
            }
            out.push('\n');
        }
        if !self.items.is_empty() {
            for (text, path) in &self.items {
                let _ = writeln!(out, "- {text}\n  {}", absolute(base_url, path));
            }
            out.push('\n');
        }
        if let Some(after) = &self.after_items {
            out.push_str(after);
            out.push_str("\n\n");
        }
        if let Some((label, quoted)) = &self.quote {
            let _ = writeln!(out, "{label}{}", chrome.colon.trim_end());
            for line in quoted.lines() {
                let _ = writeln!(out, "> {line}");
            }
            out.push('\n');
        }
        let (action_label, action_path) = &self.action;
        let _ = writeln!(out, "{action_label}{}{}", chrome.colon, absolute(base_url, action_path));
        // "-- " (with the space) is the signature separator mail clients recognise.
        let _ = write!(
            out,
            "\n-- \n{}\n{}\n{}{}{}{}{}\n",
            chrome.brand,
            chrome.automatic,
            chrome.why,
            chrome.space,
            chrome.manage,
            chrome.colon,
            absolute(base_url, SETTINGS_PATH)
        );
        out
    }

    pub fn html(&self, lang: Lang, base_url: &str) -> String {
        let chrome = chrome(lang);
        let e = escape_html;
        let mut body = String::new();

        let _ = write!(
            body,
            r#"<h1 style="margin:0 0 16px;font-size:20px;line-height:28px;color:#111827;">{}</h1>"#,
            e(&self.heading)
        );
        for paragraph in &self.paragraphs {
            let _ = write!(body, r#"<p style="margin:0 0 16px;">{}</p>"#, e(paragraph));
        }
        if !self.facts.is_empty() {
            body.push_str(
                r#"<table role="presentation" cellspacing="0" cellpadding="0" style="width:100%;margin:0 0 20px;border-collapse:collapse;">"#,
            );
            for (label, value) in &self.facts {
                let _ = write!(
                    body,
                    concat!(
                        r#"<tr><td style="width:1%;padding:8px 24px 8px 0;border-top:1px solid #e5e7eb;color:#6b7280;white-space:nowrap;vertical-align:top;">{}</td>"#,
                        r#"<td style="padding:8px 0;border-top:1px solid #e5e7eb;color:#111827;font-weight:600;">{}</td></tr>"#
                    ),
                    e(label),
                    e(value)
                );
            }
            body.push_str("</table>");
        }
        if !self.items.is_empty() {
            body.push_str(r#"<ul style="margin:0 0 16px;padding:0 0 0 20px;">"#);
            for (text, path) in &self.items {
                let _ = write!(
                    body,
                    r#"<li style="margin:0 0 8px;"><a href="{}" style="color:#1d4ed8;">{}</a></li>"#,
                    e(&absolute(base_url, path)),
                    e(text)
                );
            }
            body.push_str("</ul>");
        }
        if let Some(after) = &self.after_items {
            let _ = write!(body, r#"<p style="margin:0 0 16px;color:#6b7280;">{}</p>"#, e(after));
        }
        if let Some((label, quoted)) = &self.quote {
            let _ = write!(
                body,
                concat!(
                    r#"<p style="margin:0 0 6px;color:#6b7280;">{}</p>"#,
                    r#"<blockquote style="margin:0 0 20px;padding:12px 16px;border-left:4px solid #f59e0b;background:#fffbeb;white-space:pre-wrap;">{}</blockquote>"#
                ),
                e(label),
                e(quoted)
            );
        }
        let (action_label, action_path) = &self.action;
        let _ = write!(
            body,
            concat!(
                r#"<p style="margin:24px 0 8px;"><a href="{}" "#,
                r#"style="display:inline-block;padding:10px 20px;border-radius:6px;background:#1d4ed8;color:#ffffff;text-decoration:none;font-weight:600;">{}</a></p>"#
            ),
            e(&absolute(base_url, action_path)),
            e(action_label)
        );

        format!(
            concat!(
                "<!DOCTYPE html>\n",
                r#"<html lang="{lang}"><head><meta charset="utf-8">"#,
                r#"<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>"#,
                "\n",
                r#"<body style="margin:0;padding:0;background:#f3f4f6;">"#,
                r#"<table role="presentation" width="100%" cellspacing="0" cellpadding="0" style="background:#f3f4f6;"><tr><td align="center" style="padding:24px 12px;">"#,
                r#"<table role="presentation" width="100%" cellspacing="0" cellpadding="0" style="max-width:600px;background:#ffffff;border-radius:8px;"#,
                r#"font-family:{fonts};font-size:15px;line-height:24px;color:#374151;">"#,
                r#"<tr><td style="padding:16px 32px;border-bottom:1px solid #e5e7eb;font-weight:700;color:#1d4ed8;">{brand}</td></tr>"#,
                "\n",
                r#"<tr><td style="padding:28px 32px 20px;">{body}</td></tr>"#,
                "\n",
                r#"<tr><td style="padding:16px 32px 24px;border-top:1px solid #e5e7eb;font-size:12px;line-height:18px;color:#6b7280;">"#,
                r#"{automatic}<br>{why}{space}<a href="{settings}" style="color:#6b7280;">{manage}</a></td></tr>"#,
                "</table></td></tr></table></body></html>\n"
            ),
            lang = chrome.html_lang,
            fonts = chrome.fonts,
            title = e(&self.subject),
            brand = e(chrome.brand),
            body = body,
            automatic = e(chrome.automatic),
            why = e(chrome.why),
            space = chrome.space,
            settings = e(&absolute(base_url, SETTINGS_PATH)),
            manage = e(chrome.manage),
        )
    }
}
