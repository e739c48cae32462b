//! The polite fetcher against a local server: retries, Retry-After, status handling, the size cap,
//! gzip and the User-Agent. Backoffs are tiny so the tests stay fast; only lower bounds on time are
//! asserted.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::time::{Duration, Instant};

use harvest::fetch::{FetchConfig, Fetcher};
use harvest::HarvestError;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fetcher(max_retries: u32) -> Fetcher {
    Fetcher::new(FetchConfig {
        rate_per_s: 0.0,
        max_retries,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
        ..FetchConfig::default()
    })
    .unwrap()
}

async fn hits(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn a_503_with_retry_after_then_200_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .mount(&server)
        .await;
    let started = Instant::now();
    let body = fetcher(3)
        .get(&format!("{}/feed", server.uri()), &[])
        .await
        .unwrap();
    assert_eq!(body, b"ok");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited as Retry-After asked"
    );
    assert_eq!(hits(&server).await, 2);
}

#[tokio::test]
async fn a_429_is_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/api"))
        .respond_with(
            ResponseTemplate::new(429).set_body_string(r#"{"error":"API rate limit exceeded"}"#),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .respond_with(ResponseTemplate::new(200).set_body_string("fine"))
        .mount(&server)
        .await;
    let body = fetcher(3)
        .get(&format!("{}/api", server.uri()), &[("q", "x".into())])
        .await
        .unwrap();
    assert_eq!(body, b"fine");
    assert_eq!(hits(&server).await, 3);
}

#[tokio::test]
async fn a_404_is_not_retried_and_carries_the_status() {
    let server = MockServer::start().await;
    Mock::given(path("/missing"))
        .respond_with(
            ResponseTemplate::new(404).set_body_string("<html><body>No such page</body></html>"),
        )
        .mount(&server)
        .await;
    let url = format!("{}/missing", server.uri());
    let e = fetcher(5)
        .get(&url, &[("api_key", "sekrit".into())])
        .await
        .unwrap_err();
    match &e {
        HarvestError::Http {
            url: u,
            status,
            message,
        } => {
            assert_eq!(u, &url);
            assert_eq!(*status, Some(404));
            assert!(
                message.contains("No such page"),
                "the body says why: {message}"
            );
        }
        other => panic!("expected an http error, got {other:?}"),
    }
    assert!(
        !e.to_string().contains("sekrit"),
        "no query string in errors: {e}"
    );
    assert_eq!(hits(&server).await, 1);
}

#[tokio::test]
async fn exhausted_retries_name_the_url() {
    let server = MockServer::start().await;
    Mock::given(path("/flaky"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let url = format!("{}/flaky", server.uri());
    let e = fetcher(2).get(&url, &[]).await.unwrap_err();
    assert!(
        matches!(
            &e,
            HarvestError::Http {
                status: Some(500),
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("3 attempts"), "{text}");
    assert_eq!(hits(&server).await, 3);
}

#[tokio::test]
async fn connection_errors_are_retried_then_reported() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/x");
    let e = fetcher(1)
        .get(&url, &[("api_key", "sekrit".into())])
        .await
        .unwrap_err();
    match &e {
        HarvestError::Http {
            url: u,
            status: None,
            message,
        } => {
            assert_eq!(u, &url);
            assert!(message.contains("2 attempts"), "{message}");
        }
        other => panic!("expected an http error, got {other:?}"),
    }
    assert!(!e.to_string().contains("sekrit"), "{e}");
}

#[tokio::test]
async fn a_body_over_the_cap_is_too_large() {
    let server = MockServer::start().await;
    Mock::given(path("/big"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(vec![b'x'; 5_000]))
        .mount(&server)
        .await;
    // Small when compressed, large when decoded: the cap counts decoded bytes while streaming.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b'0'; 200_000]).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 1_000);
    Mock::given(path("/bomb"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Content-Encoding", "gzip")
                .set_body_bytes(gz),
        )
        .mount(&server)
        .await;
    let f = Fetcher::new(FetchConfig {
        max_body_bytes: 1_000,
        ..fetcher(3).config().clone()
    })
    .unwrap();
    for p in ["/big", "/bomb"] {
        let url = format!("{}{p}", server.uri());
        match f.get(&url, &[]).await {
            Err(HarvestError::TooLarge { url: u, limit }) => {
                assert_eq!(u, url);
                assert_eq!(limit, 1_000);
            }
            other => panic!("{p}: expected TooLarge, got {other:?}"),
        }
    }
    assert_eq!(hits(&server).await, 2, "not retried");
}

#[tokio::test]
async fn sends_the_user_agent_and_decodes_gzip() {
    let server = MockServer::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"<PubmedArticleSet/>").unwrap();
    Mock::given(path("/ua"))
        .and(header(
            "user-agent",
            "test-agent/1.0 (mailto:test@example.org)",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Content-Encoding", "gzip")
                .set_body_bytes(gz.finish().unwrap()),
        )
        .mount(&server)
        .await;
    let f = Fetcher::new(FetchConfig {
        user_agent: "test-agent/1.0 (mailto:test@example.org)".into(),
        ..fetcher(0).config().clone()
    })
    .unwrap();
    let body = f.get(&format!("{}/ua", server.uri()), &[]).await.unwrap();
    assert_eq!(body, b"<PubmedArticleSet/>");
    let req = &server.received_requests().await.unwrap()[0];
    let accept = req
        .headers
        .get("accept-encoding")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(accept.contains("gzip"), "{accept}");
}

#[tokio::test]
async fn the_rate_limit_spaces_requests_of_clones() {
    let server = MockServer::start().await;
    Mock::given(path("/r"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let f = Fetcher::new(FetchConfig {
        rate_per_s: 20.0,
        ..fetcher(0).config().clone()
    })
    .unwrap();
    let g = f.clone();
    let url = format!("{}/r", server.uri());
    let started = Instant::now();
    tokio::join!(
        async {
            for _ in 0..3 {
                f.get(&url, &[]).await.unwrap();
            }
        },
        async {
            for _ in 0..3 {
                g.get(&url, &[]).await.unwrap();
            }
        }
    );
    // Six requests at 50 ms spacing: the last starts at least 250 ms after the first.
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(hits(&server).await, 6);
}
