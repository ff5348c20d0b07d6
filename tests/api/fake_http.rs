//! What the providers' fakes share: an HTTP server on a free loopback port whose every
//! request goes to one function over the fake's state, and the answer it builds.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// A fake's request handler: its state, its own base URL (for `Link` and `nextLink`
/// headers), the request and its body.
pub type Answer<S> = fn(&Mutex<S>, &str, &HttpRequest, &[u8]) -> HttpResponse;

/// Serves `answer` over `state` on 127.0.0.1; returns the base URL.
pub fn serve<S: Send + 'static>(state: Arc<Mutex<S>>, answer: Answer<S>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let served = base.clone();
    let server = HttpServer::new(move || {
        let state = state.clone();
        let base = served.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let state = state.clone();
            let base = base.clone();
            async move { answer(&state, &base, &req, &body) }
        }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    base
}

/// An answer with `status`, `headers` and a JSON body (none for 204).
pub fn respond(status: u16, headers: Vec<(&str, String)>, body: Value) -> HttpResponse {
    let mut builder = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
    for (name, value) in headers {
        builder.insert_header((name, value));
    }
    if status == 204 {
        builder.finish()
    } else {
        builder.json(body)
    }
}
