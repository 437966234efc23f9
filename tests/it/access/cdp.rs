//! Another uid on the CDP client port (issue #20): refused before its HTTP
//! request is read, so neither discovery (which names the target) nor an
//! upgrade is answered; the user's own requests still are.

use super::*;
use crate::sessions::cdp::{TICKER, body, get, inspect, proxy};

#[test]
fn another_uid_is_refused_on_the_cdp_client_port() {
    if !root_or_skip("another_uid_is_refused_on_the_cdp_client_port") {
        return;
    }
    let scratch = TempDir::new("uid-cdp");
    let script = scratch.write("ticker.js", TICKER);
    let port = free_port_pair();
    let _node = inspect(&scratch.0, &script, port, false);
    let mut proxy = proxy(&scratch.0, port);
    let client = port + 1;
    let host = format!("127.0.0.1:{client}");
    wait_until("the target listed", || {
        body(&get(client, "/json/list", &host))[0]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("ticker.js"))
    });
    let target = format!("127.0.0.1:{client}");
    let list = format!("GET /json/list HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let (end, got) = as_nobody(&scratch, &target, &list, 1).finish();
    assert_eq!((end.as_str(), got.as_str()), ("eof", ""), "closed at once");
    let upgrade = format!(
        "GET /0db9c0de-0000-4000-8000-{client:012} HTTP/1.1\r\nHost: {host}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    let (end, got) = as_nobody(&scratch, &target, &upgrade, 1).finish();
    assert_eq!((end.as_str(), got.as_str()), ("eof", ""), "no 101");
    proxy.wait_log("refusing client");
    assert!(
        refusals(&proxy).iter().all(|l| l.contains("uid 65534")),
        "{:?}",
        refusals(&proxy)
    );
    // The user's own discovery still works.
    assert!(get(client, "/json/list", &host).starts_with("HTTP/1.0 200"));
    let s = status(&scratch.0, port);
    assert_eq!(s["counters"]["refused_other_uid"], 2, "{s}");
}
