//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz).service(readyz);
}

/// The process is alive.
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers and signing keys are loaded.
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state.db.ping().await;
    let keys = !state.keys().jwks_json.is_empty();
    let body = serde_json::json!({
        "status": if database && keys { "ready" } else { "unavailable" },
        "database": database,
        "keys": keys,
    });
    let mut resp = if database && keys { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    resp.json(body)
}
