//! A minimal HTTP/1.1 client for tests that talk to a server over a socket.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// One request on a new connection: (status, headers, body as JSON or `Null`).
pub async fn send(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, hyper::HeaderMap, Value) {
    let authority = base_url.trim_start_matches("http://");
    let stream = TcpStream::connect(authority).await.expect("connect to the server");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", authority);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))
        .expect("a valid request");
    let response = sender.send_request(request).await.expect("a response");
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.expect("the body").to_bytes();
    // Every answer a test gets is held to openapi.yaml.
    crate::openapi::check_response(method, path, parts.status.as_u16(), &parts.headers, &bytes);
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (parts.status.as_u16(), parts.headers, json)
}
