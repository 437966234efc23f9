use std::net::SocketAddr;

use super::*;
use crate::protocol::cdp::discovery;

const TARGET: &str = "/dbgproxy";

fn req(head: &str) -> Request {
    let bytes = format!("{head}\r\n\r\n");
    match parse_request(bytes.as_bytes()) {
        Ok(Some(r)) => r,
        other => panic!("{head:?}: {other:?}"),
    }
}

fn get(path: &str, extra: &str) -> Request {
    req(&format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:9230{extra}"
    ))
}

fn upgrade(path: &str, extra: &str) -> Request {
    get(
        path,
        &format!(
            "\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13{extra}"
        ),
    )
}

#[test]
fn host_check_is_nodes() {
    // CDP.md "Host check", verified against node 20.
    let table: &[(&str, bool)] = &[
        ("", true),
        (":9229", true),
        ("localhost", true),
        ("LocalHost:9229", true),
        ("127.0.0.1", true),
        ("127.0.0.1:9229", true),
        ("10.1.2.3:80", true),
        ("192.168.0.1", true),
        ("[::1]", true),
        ("[::1]:9229", true),
        ("[fe80::1]", true),
        ("[::ffff:127.0.0.1]:1", true),
        ("localhost6", false),
        ("foo.localhost", false),
        ("localhost.", false),
        ("127.1", false),
        ("0177.0.0.1", false),
        ("0.0.0.0", false),
        ("0.1.2.3:9229", false),
        ("[::]", false),
        ("[::]:9229", false),
        ("[::1%lo]", false),
        ("::1", false),
        ("[127.0.0.1]", false),
        ("example.com", false),
        ("evil.example:9229", false),
        ("127.0.0.1.nip.io", false),
    ];
    for (host, ok) in table {
        assert_eq!(host_allowed(host), *ok, "Host {host:?}");
    }
    let absent = req("GET /json HTTP/1.1");
    assert_eq!(absent.host, Host::Absent);
    assert_eq!(route(&absent, TARGET, None), Ok(Route::List));
    let two = req("GET /json HTTP/1.1\r\nHost: localhost\r\nHost: localhost");
    assert!(matches!(route(&two, TARGET, None), Err(Refusal::Host(_))));
    let evil = req("GET /json HTTP/1.1\r\nHost: evil.example");
    assert_eq!(
        route(&evil, TARGET, None),
        Err(Refusal::Host("evil.example".into()))
    );
    assert_eq!(
        discovery::refusal(&Refusal::Host("x".into())),
        discovery::NOT_SERVED
    );
}

#[test]
fn origin_rules() {
    let table: &[(&str, bool)] = &[
        ("devtools://devtools", true),
        ("chrome-devtools://devtools", true),
        ("http://localhost", true),
        ("http://localhost:9229", true),
        ("https://LOCALHOST:8080", true),
        ("http://127.0.0.1:3000", true),
        ("http://[::1]", true),
        ("http://[::1]:9229", true),
        ("http://evil.example", false),
        ("https://chrome-devtools-frontend.appspot.com", false),
        ("http://localhost.evil.example", false),
        ("http://127.0.0.1.nip.io", false),
        ("http://localhost:", false),
        ("http://localhost/path", false),
        ("http://192.168.1.2", false),
        ("null", false),
        ("file://", false),
        ("devtools://devtools.evil", false),
        ("chrome-extension://abc", false),
    ];
    for (origin, ok) in table {
        assert_eq!(origin_allowed(origin), *ok, "Origin {origin:?}");
    }
    let foreign = upgrade(TARGET, "\r\nOrigin: http://evil.example");
    assert!(matches!(
        route(&foreign, TARGET, None),
        Err(Refusal::Origin(_))
    ));
    let devtools = upgrade(TARGET, "\r\nOrigin: devtools://devtools");
    assert!(matches!(
        route(&devtools, TARGET, None),
        Ok(Route::Upgrade { .. })
    ));
    assert!(discovery::refusal(&Refusal::Origin(String::new())).starts_with(b"HTTP/1.0 403 "));
}

#[test]
fn paths_route_as_nodes_do() {
    let table: &[(&str, Result<Route, Refusal>)] = &[
        ("/json", Ok(Route::List)),
        ("/json/", Ok(Route::List)),
        ("/JSON/List", Ok(Route::List)),
        ("/json/list/", Ok(Route::List)),
        ("/json/version", Ok(Route::Version)),
        ("/json/Protocol/", Ok(Route::Protocol)),
        ("/json/list?x=1", Err(Refusal::NotServed)),
        ("/json/new", Err(Refusal::NotServed)),
        ("/json/activate/dbgproxy", Err(Refusal::NotServed)),
        ("/jsonx", Err(Refusal::NotServed)),
        ("/", Err(Refusal::NotServed)),
        (TARGET, Err(Refusal::NotServed)),
    ];
    for (path, want) in table {
        assert_eq!(&route(&get(path, ""), TARGET, None), want, "GET {path}");
    }
    let head = req("HEAD /json HTTP/1.1\r\nHost: localhost");
    assert_eq!(route(&head, TARGET, None), Err(Refusal::NotServed));
    let post = req("POST /json/list HTTP/1.1\r\nHost: localhost");
    assert_eq!(route(&post, TARGET, None), Err(Refusal::NotServed));
}

#[test]
fn upgrades_on_the_listed_path_only() {
    let key = "dGhlIHNhbXBsZSBub25jZQ==".to_string();
    assert_eq!(
        route(&upgrade(TARGET, ""), TARGET, None),
        Ok(Route::Upgrade { key })
    );
    let other = route(&upgrade("/380721b3", ""), TARGET, None);
    assert_eq!(other, Err(Refusal::NoTarget("/380721b3".into())));
    assert!(discovery::refusal(&other.unwrap_err()).starts_with(b"HTTP/1.0 404 "));
    // Node's 400 for an upgrade without a key.
    let keyless = get(TARGET, "\r\nUpgrade: websocket\r\nConnection: Upgrade");
    assert_eq!(route(&keyless, TARGET, None), Err(Refusal::NotServed));
}

#[test]
fn a_token_is_the_first_path_segment_everywhere() {
    let secret = Secret::new(b"s3cr3t-t0ken-0123");
    let t = Some(&secret);
    assert_eq!(
        route(&get("/s3cr3t-t0ken-0123/json/list", ""), TARGET, t),
        Ok(Route::List)
    );
    let with = upgrade("/s3cr3t-t0ken-0123/dbgproxy", "");
    assert!(matches!(route(&with, TARGET, t), Ok(Route::Upgrade { .. })));
    for path in [
        "/json/list",
        "/dbgproxy",
        "/s3cr3t-t0ken-0124/json",
        "/s3cr3t-t0ken-0123",
    ] {
        assert_eq!(
            route(&get(path, ""), TARGET, t),
            Err(Refusal::Token),
            "{path}"
        );
        assert_eq!(
            route(&upgrade(path, ""), TARGET, t),
            Err(Refusal::Token),
            "{path}"
        );
    }
    let refused = discovery::refusal(&Refusal::Token);
    assert!(!refused.windows(6).any(|w| w == b"s3cr3t"));
}

#[test]
fn heads_are_read_whole_and_bounded() {
    let full = b"GET /json HTTP/1.1\r\nHost: localhost\r\n\r\n{extra}";
    for cut in 0..full.len() - 7 {
        assert_eq!(parse_request(&full[..cut]), Ok(None), "cut at {cut}");
    }
    assert_eq!(
        parse_request(full).unwrap().unwrap().head_len,
        full.len() - 7
    );
    assert!(
        parse_request(b"\x16\x03\x01\x02\x00\x01\x00").is_err(),
        "TLS"
    );
    assert!(parse_request(b"GET /json HTTP/1.1\r\nHo st: x\r\n\r\n").is_err());
    let long = format!("GET /json HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD));
    assert!(
        parse_request(long.as_bytes()).is_err(),
        "over MAX_HEAD without an end"
    );
    let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
    assert!(parse_request(many.as_bytes()).is_err());
}

#[test]
fn the_list_names_the_proxy_from_the_requests_host() {
    let listing = discovery::Listing {
        path: "/dbgproxy".into(),
        title: "node[15738]".into(),
        url: "file://".into(),
        kind: "node".into(),
        description: "node.js instance".into(),
        favicon_url: None,
    };
    let local: SocketAddr = "127.0.0.1:9230".parse().unwrap();
    for (head, host) in [
        ("GET /json HTTP/1.1\r\nHost: localhost", "localhost"),
        (
            "GET /json HTTP/1.1\r\nHost: 127.0.0.1:9230",
            "127.0.0.1:9230",
        ),
        ("GET /json HTTP/1.1", "127.0.0.1:9230"),
    ] {
        let answer = discovery::list(
            &discovery::url_host(&req(head), local),
            std::slice::from_ref(&listing),
        );
        let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let head = std::str::from_utf8(&answer[..head_end]).unwrap();
        assert!(head.starts_with("HTTP/1.0 200 OK\r\n"));
        assert!(head.contains(&format!("Content-Length: {}\r\n", answer.len() - head_end)));
        let v: serde_json::Value = serde_json::from_slice(&answer[head_end..]).unwrap();
        assert_eq!(
            v[0]["webSocketDebuggerUrl"],
            format!("ws://{host}/dbgproxy")
        );
        assert_eq!(v[0]["id"], "dbgproxy");
        let frontend = v[0]["devtoolsFrontendUrl"].as_str().unwrap();
        assert!(
            frontend.ends_with(&format!("&ws={host}/dbgproxy")),
            "{frontend}"
        );
    }
}

#[test]
fn answers_match_node_byte_for_byte() {
    assert_eq!(
        discovery::NOT_SERVED,
        include_bytes!("../transcripts/refused.bin")
    );
    assert_eq!(
        discovery::upgrade("dGhlIHNhbXBsZSBub25jZQ=="),
        include_bytes!("../transcripts/upgrade.bin")
    );
    // Node's own /json/version passes through; Chrome's browser URL does not.
    let node = include_bytes!("../transcripts/version.bin");
    let body = &node[node.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    let ours = discovery::version(Some(body));
    assert!(
        ours.ends_with(
            b"{\n  \"Browser\": \"node.js/v20.20.2\",\n  \"Protocol-Version\": \"1.1\"\n}"
        )
    );
    let chrome = br#"{"Browser":"Chrome/126","webSocketDebuggerUrl":"ws://127.0.0.1:9222/devtools/browser/x"}"#;
    assert!(
        !discovery::version(Some(chrome))
            .windows(5)
            .any(|w| w == b"ws://")
    );
    assert!(
        discovery::version(None)
            .windows(9)
            .any(|w| w == b"dbgproxy/")
    );
}
