//! The web client: one page and its two assets, compiled into the binary so the server needs no
//! files beside it. It talks to the same public API as any other client.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

const INDEX_HTML: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const APP_CSS: &str = include_str!("../web/app.css");

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok().content_type(content_type).insert_header((header::CACHE_CONTROL, "no-cache")).body(body)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/assets/app.js", web::get().to(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/app.css", web::get().to(|| async { asset("text/css; charset=utf-8", APP_CSS) }));
}
