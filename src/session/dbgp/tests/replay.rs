//! Features and breakpoints, kept and replayed to the next PHP request.

use super::*;

const FILE: &str = "file:///tmp/dbgp-rec/loop.php";

#[test]
fn feature_get_tells_what_another_client_set() {
    let mut h = H::with(&[1, 2], CONN1);
    let sent = h.client(1, "feature_set -i 1 -n max_depth -v 2");
    assert_eq!(to_debugger(&sent), ["feature_set -i 1 -n max_depth -v 2"]);
    h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"1\""],
    ));
    // Answered here, byte for byte as Xdebug answered it.
    let sent = h.client(2, "feature_get -i 4 -n max_depth");
    let xdebugs = find(CONN1, &["command=\"feature_get\" transaction_id=\"4\""]);
    assert_eq!(sent, [Sent::Client(2, xdebugs)]);
    // What nobody set is Xdebug's to say.
    let sent = h.client(2, "feature_get -i 5 -n max_children");
    assert_eq!(to_debugger(&sent), ["feature_get -i 2 -n max_children"]);
}

/// Connection 1 with features and two breakpoints set by client 1, ended.
fn first_request() -> H {
    let mut h = H::with(&[1, 2], CONN1);
    h.client(1, "feature_set -i 1 -n max_depth -v 2");
    h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"1\""],
    ));
    h.client(1, "feature_set -i 3 -n resolved_breakpoints -v 1");
    h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"3\""],
    ));
    h.client(1, &format!("breakpoint_set -i 7 -t line -f {FILE} -n 4"));
    h.answer(&find(
        CONN1,
        &["command=\"breakpoint_set\" transaction_id=\"7\""],
    ));
    let cond = format!("breakpoint_set -i 8 -t conditional -f {FILE} -n 5 -- JGkgPT0gMg==");
    h.client(1, &cond);
    // Xdebug reports the breakpoint resolved before it answers the set.
    let notify = find(CONN1, &["<notify", "id=\"153690002\""]);
    assert!(h.engine(&notify).is_empty(), "held until the answer");
    let sent = h.answer(&find(
        CONN1,
        &["command=\"breakpoint_set\" transaction_id=\"8\""],
    ));
    assert_eq!(sent[0], Sent::All(notify));
    assert_eq!(attr(&sent[1].bytes(), "id").as_deref(), Some("153690002"));
    h.lost();
    h
}

/// The next request's `<init>`; the replayed commands answered as Xdebug
/// answered them on connection 2. Returns what the clients were sent.
fn second_request(h: &mut H) -> Vec<Sent> {
    h.up();
    let mut sent = h.engine(packets(CONN2)[0]);
    let replayed = to_debugger(&sent)
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    assert_eq!(replayed, ["feature_set -i 5 -n max_depth -v 2"]);
    sent.extend(h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"1\""],
    )));
    sent.extend(h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"3\""],
    )));
    sent.extend(h.answer(&find(
        CONN2,
        &["command=\"breakpoint_set\" transaction_id=\"1\""],
    )));
    sent.extend(h.answer(&find(
        CONN2,
        &["command=\"breakpoint_set\" transaction_id=\"2\""],
    )));
    sent
}

#[test]
fn breakpoints_and_features_are_replayed_to_the_next_request() {
    let mut h = first_request();
    h.up();
    let init = packets(CONN2)[0].to_vec();
    let mut sent = h.engine(&init);
    let mut commands = Vec::new();
    for answer in [
        find(CONN1, &["command=\"feature_set\" transaction_id=\"1\""]),
        find(CONN1, &["command=\"feature_set\" transaction_id=\"3\""]),
        find(CONN2, &["command=\"breakpoint_set\" transaction_id=\"1\""]),
        find(CONN2, &["command=\"breakpoint_set\" transaction_id=\"2\""]),
    ] {
        commands.extend(to_debugger(&sent).iter().map(|s| s.to_string()));
        sent = h.answer(&answer);
    }
    commands.extend(to_debugger(&sent).iter().map(|s| s.to_string()));
    assert_eq!(
        commands,
        [
            "feature_set -i 5 -n max_depth -v 2".to_string(),
            "feature_set -i 6 -n resolved_breakpoints -v 1".into(),
            format!("breakpoint_set -i 7 -t line -f {FILE} -n 4"),
            format!("breakpoint_set -i 8 -t conditional -f {FILE} -n 5 -- JGkgPT0gMg=="),
        ]
    );
    assert!(sent.is_empty(), "the answers are swallowed: {sent:?}");
    assert_eq!(h.counter("breakpoints_replayed"), 2);
    assert_eq!(h.counter("features_replayed"), 2);

    // The clients know the ids of connection 1; the engine has new ones.
    let sent = h.client(1, "breakpoint_remove -i 30 -d 153690002");
    assert_eq!(to_debugger(&sent), ["breakpoint_remove -i 9 -d 154510002"]);
    let removed = find(CONN2, &["command=\"breakpoint_remove\""]);
    let sent = h.answer(&removed);
    let answer = to_client(&sent, 1)[0];
    assert_eq!(attr(answer, "transaction_id").as_deref(), Some("30"));
    assert!(xml(answer).contains(
        "lineno=\"5\" state=\"enabled\" hit_count=\"0\" hit_value=\"0\" id=\"153690002\""
    ));
    let sent = h.client(2, "breakpoint_update -i 31 -d 153690001 -s disabled");
    assert_eq!(
        to_debugger(&sent),
        ["breakpoint_update -i 10 -d 154510001 -s disabled"]
    );
    h.answer(&find(CONN2, &["command=\"breakpoint_update\""]));

    // A third request gets what is left, as it was left.
    h.lost();
    h.up();
    let sent = h.engine(packets(CONN3)[0]);
    h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"1\""],
    ));
    let sent2 = h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"3\""],
    ));
    assert_eq!(to_debugger(&sent).len(), 1);
    assert_eq!(
        to_debugger(&sent2),
        [format!(
            "breakpoint_set -i 13 -t line -f {FILE} -n 4 -s disabled"
        )]
    );
}

#[test]
fn a_breakpoint_the_replay_set_is_not_set_twice() {
    let mut h = first_request();
    second_request(&mut h);
    // vscode-php-debug sets its breakpoints on every new request.
    let same = format!("breakpoint_set -i 40 -t line -n 4 -f {FILE}");
    let sent = h.client(1, &same);
    let [Sent::Client(1, answer)] = &sent[..] else {
        panic!("{sent:?}")
    };
    assert_eq!(attr(answer, "transaction_id").as_deref(), Some("40"));
    assert_eq!(attr(answer, "id").as_deref(), Some("153690001"));
    // Once claimed, the same again is a second breakpoint.
    let sent = h.client(1, &same);
    assert_eq!(
        to_debugger(&sent),
        [format!("breakpoint_set -i 9 -t line -n 4 -f {FILE}")]
    );
}

#[test]
fn a_new_breakpoint_whose_engine_id_a_client_knows_gets_another() {
    let mut h = first_request();
    second_request(&mut h);
    h.lost();
    // Connection 3's first id (154940001) is new; make the engine reuse
    // one a client knows (php -S: one process, ids restart per request).
    h.up();
    h.engine(packets(CONN3)[0]);
    h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"1\""],
    ));
    h.answer(&find(
        CONN1,
        &["command=\"feature_set\" transaction_id=\"3\""],
    ));
    for _ in 0..2 {
        let txn = h.txn.clone().unwrap();
        let set = find(CONN2, &["command=\"breakpoint_set\" transaction_id=\"1\""]);
        let answer = String::from_utf8(addressed(&set, &txn)).unwrap();
        h.engine(answer.replace("154510001", &format!("99{txn}")).as_bytes());
    }
    h.client(2, &format!("breakpoint_set -i 50 -t line -f {FILE} -n 6"));
    let set = find(CONN2, &["command=\"breakpoint_set\" transaction_id=\"1\""]);
    let reused = String::from_utf8(addressed(&set, h.txn.as_deref().unwrap())).unwrap();
    let sent = h.engine(reused.replace("154510001", "153690001").as_bytes());
    let id = attr(to_client(&sent, 2)[0], "id").unwrap();
    assert_eq!(id, "10000000001");
    let sent = h.client(2, "breakpoint_remove -i 51 -d 10000000001");
    assert!(to_debugger(&sent)[0].ends_with("-d 153690001"));
}
