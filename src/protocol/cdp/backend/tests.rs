use super::*;

const MAX_BODY: usize = 1 << 20;

fn addr() -> SocketAddr {
    "127.0.0.1:9229".parse().unwrap()
}

fn target(id: &str, kind: &str, url: &str) -> Target {
    Target {
        id: id.into(),
        kind: kind.into(),
        title: String::new(),
        url: url.into(),
        description: String::new(),
        favicon_url: None,
        ws_url: Some(format!("ws://127.0.0.1:9222/devtools/page/{id}")),
    }
}

#[test]
fn the_request_names_node_by_ip() {
    assert_eq!(
        get_request(addr(), "/json/list"),
        b"GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:9229\r\nAccept: application/json\r\n\r\n"
    );
    let v6: SocketAddr = "[::1]:9229".parse().unwrap();
    assert!(
        get_request(v6, "/json")
            .windows(17)
            .any(|w| w == b"Host: [::1]:9229\r")
    );
}

#[test]
fn nodes_list_is_read_in_any_split() {
    let bytes = include_bytes!("../transcripts/list.bin");
    let Ok(Some(whole)) = parse_reply(bytes, false, MAX_BODY) else {
        panic!("node's list does not parse");
    };
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body.end, bytes.len());
    for cut in 0..bytes.len() {
        assert_eq!(
            parse_reply(&bytes[..cut], false, MAX_BODY),
            Ok(None),
            "cut at {cut}"
        );
    }
    let list = targets(addr(), &bytes[whole.body]).unwrap();
    assert_eq!(list.len(), 1);
    let t = choose(addr(), &list, None).unwrap();
    assert_eq!(t.kind, "node");
    assert_eq!(t.ws_path(), Some(format!("/{}", t.id).as_str()));
    assert_eq!(choose(addr(), &list, Some(&t.id)).unwrap(), t);
    let listing = t.listing("/dbgproxy".into());
    assert_eq!(
        (listing.description.as_str(), listing.kind.as_str()),
        ("node.js instance", "node")
    );
    assert!(listing.favicon_url.is_some());
}

#[test]
fn other_replies_and_their_log_lines() {
    // Node's 400 has no Content-Length: its head is enough.
    let refused = include_bytes!("../transcripts/refused.bin");
    let r = parse_reply(refused, false, MAX_BODY);
    assert_eq!(
        r.as_ref().map(|r| r.as_ref().map(|r| r.status)),
        Ok(Some(400))
    );
    let r = r.unwrap().ok_or(ReplyError::TooBig(0));
    assert_eq!(
        describe(addr(), "/json/list", &r),
        "127.0.0.1:9229 answered HTTP but not /json/list (400): is it node --inspect or \
         chromium --remote-debugging-port?"
    );
    // node 6 --debug speaks first, and not HTTP.
    let v8 = b"Type: connect\r\nV8-Version: 5.1.281.111\r\nProtocol-Version: 1\r\n";
    let r = parse_reply(v8, false, MAX_BODY).map(|_| unreachable!());
    assert_eq!(
        describe(addr(), "/json/list", &r),
        "127.0.0.1:9229 did not answer HTTP (got \"Type: connect\\r\\nV8-Version: 5.1.281.111\\r\\nProtocol\"): \
         expected node --inspect"
    );
    let closed = parse_reply(b"", true, MAX_BODY).map(|_| unreachable!());
    assert!(
        describe(addr(), "/json/list", &closed)
            .contains("(got \"nothing: the connection closed\")")
    );
    // A 200 without Content-Length ends at the close; a cut one is no reply.
    let until_close = b"HTTP/1.0 200 OK\r\n\r\n[]";
    assert_eq!(parse_reply(until_close, false, MAX_BODY), Ok(None));
    assert_eq!(
        parse_reply(until_close, true, MAX_BODY)
            .unwrap()
            .unwrap()
            .body,
        19..21
    );
    let cut = b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\n[]";
    assert!(parse_reply(cut, true, MAX_BODY).is_err());
    let huge = b"HTTP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n";
    assert_eq!(
        parse_reply(huge, false, MAX_BODY),
        Err(ReplyError::TooBig(99999999))
    );
    assert!(
        targets(addr(), b"{\"id\":1}")
            .unwrap_err()
            .contains("not a target list")
    );
}

#[test]
fn chromium_targets_are_chosen_by_type_id_or_url() {
    let mut list = vec![
        target("SW", "service_worker", "https://app.example/sw.js"),
        target("P1", "page", "https://app.example/"),
        target("P2", "page", "http://localhost:3000/admin"),
        target("W", "iframe", "https://ads.example/"),
    ];
    assert_eq!(choose(addr(), &list, None).unwrap().id, "P1");
    assert_eq!(choose(addr(), &list, Some("P2")).unwrap().id, "P2");
    assert_eq!(
        choose(addr(), &list, Some("localhost:3000")).unwrap().id,
        "P2"
    );
    assert_eq!(choose(addr(), &list, Some("sw.js")).unwrap().id, "SW");
    assert_eq!(list[1].ws_path(), Some("/devtools/page/P1"));
    let none = choose(addr(), &list, Some("nothing")).unwrap_err();
    assert!(none.contains("no target matches --target nothing; it lists [SW (service_worker)"));
    list[1].ws_url = None;
    assert_eq!(choose(addr(), &list, None).unwrap().id, "P2");
    assert!(
        choose(addr(), &list, Some("P1"))
            .unwrap_err()
            .contains("another client")
    );
}

#[test]
fn the_upgrade_is_checked_against_its_key() {
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let req = upgrade_request(addr(), "/abc", key);
    assert!(req.starts_with(b"GET /abc HTTP/1.1\r\nHost: 127.0.0.1:9229\r\n"));
    let ok = include_bytes!("../transcripts/upgrade.bin");
    for cut in 0..ok.len() {
        assert_eq!(
            parse_upgrade_reply(&ok[..cut], false, addr(), "/abc", key),
            Ok(None)
        );
    }
    let mut with_frame = ok.to_vec();
    with_frame.extend_from_slice(b"\x81\x02{}");
    assert_eq!(
        parse_upgrade_reply(&with_frame, false, addr(), "/abc", key),
        Ok(Some(ok.len()))
    );
    let other = parse_upgrade_reply(ok, false, addr(), "/abc", &new_key()).unwrap_err();
    assert!(other.contains("Sec-WebSocket-Accept"), "{other}");
    let refused = include_bytes!("../transcripts/refused.bin");
    let err = parse_upgrade_reply(refused, false, addr(), "/abc", key).unwrap_err();
    assert!(err.contains("refused its WebSocket upgrade (400)"), "{err}");
    assert_ne!(new_key(), new_key());
}
