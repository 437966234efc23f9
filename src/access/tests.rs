//! The access policy: who is let in by uid, who is asked for the token, what
//! a refusal says, and the queries a peer is looked up by.

use super::*;

fn policy(allowed: Allowed, token: bool, open: bool) -> Policy {
    Policy {
        allowed,
        own_uid: 1000,
        token: token.then(|| Secret::new(b"0123456789abcdef")),
        token_file: None,
        token_timeout: Duration::from_millis(5000),
        insecure_open: open,
    }
}

#[test]
fn same_uid_by_default() {
    let p = policy(Allowed::Uids(vec![]), false, false);
    assert!(p.needs_lookup());
    assert_eq!(p.decide(Some(Owner::Uid(1000))), Verdict::Admit(Via::Uid));
    assert_eq!(
        p.decide(Some(Owner::Uid(65534))),
        Verdict::Refuse(Refusal::OtherUid(65534))
    );
    assert_eq!(
        p.decide(Some(Owner::Uid(0))),
        Verdict::Refuse(Refusal::OtherUid(0)),
        "not even root, unless listed"
    );
    assert_eq!(
        p.decide(Some(Owner::Gone)),
        Verdict::Refuse(Refusal::Unidentified)
    );
    assert_eq!(
        p.decide(Some(Owner::Remote)),
        Verdict::Refuse(Refusal::Remote)
    );
}

#[test]
fn listed_users_and_any() {
    let p = policy(Allowed::Uids(vec![65534]), false, false);
    assert_eq!(p.decide(Some(Owner::Uid(65534))), Verdict::Admit(Via::Uid));
    assert_eq!(p.decide(Some(Owner::Uid(1000))), Verdict::Admit(Via::Uid));
    assert!(matches!(
        p.decide(Some(Owner::Uid(1))),
        Verdict::Refuse(Refusal::OtherUid(1))
    ));
    let any = policy(Allowed::Any, false, false);
    assert!(!any.needs_lookup());
    assert_eq!(any.decide(None), Verdict::Admit(Via::Unchecked));
    assert_eq!(any.decide(Some(Owner::Uid(7))), Verdict::Admit(Via::Uid));
    // With a token, remote clients still need it: the lookup stays.
    assert!(policy(Allowed::Any, true, false).needs_lookup());
}

#[test]
fn everyone_not_let_in_by_uid_is_asked_for_the_token() {
    let p = policy(Allowed::Uids(vec![]), true, false);
    assert_eq!(p.decide(Some(Owner::Uid(1000))), Verdict::Admit(Via::Uid));
    for owner in [Owner::Uid(65534), Owner::Gone, Owner::Remote] {
        assert_eq!(p.decide(Some(owner)), Verdict::AskToken, "{owner:?}");
    }
}

#[test]
fn allow_users_none_asks_everyone_for_the_token() {
    let p = policy(Allowed::Nobody, true, false);
    assert_eq!(p.decide(Some(Owner::Uid(1000))), Verdict::AskToken);
    assert!(p.needs_lookup());
}

#[test]
fn insecure_open_opens_to_remote_clients_only() {
    let p = policy(Allowed::Uids(vec![]), false, true);
    assert_eq!(p.decide(Some(Owner::Remote)), Verdict::Admit(Via::Open));
    assert!(matches!(
        p.decide(Some(Owner::Uid(65534))),
        Verdict::Refuse(_)
    ));
    assert!(matches!(p.decide(Some(Owner::Gone)), Verdict::Refuse(_)));
}

#[test]
fn refusals_say_what_would_help_and_never_the_token() {
    let p = policy(Allowed::Uids(vec![]), true, false);
    let line = Refusal::OtherUid(65534).describe(&p);
    assert!(
        line.contains("uid 65534") && line.contains("--allow-users 65534"),
        "{line}"
    );
    assert_eq!(
        Refusal::OtherUid(1).reply(&p),
        None,
        "closed without a word"
    );
    assert_eq!(
        Refusal::TokenTimeout.reply(&p).unwrap(),
        "dbgproxy: access refused: no token within 5000ms\n"
    );
    for r in [Refusal::NoToken, Refusal::BadToken, Refusal::TokenTimeout] {
        let text = format!("{} {:?} {p:?}", r.describe(&p), r.reply(&p));
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
    let mut c = Counters::default();
    c.count(Refusal::OtherUid(3));
    c.count(Refusal::BadToken);
    assert_eq!((c.other_uid, c.bad_token, c.total()), (1, 1, 2));
}

#[test]
fn users_by_number_name_or_any() {
    assert_eq!(
        parse_users(&["65534".into()]).unwrap(),
        Allowed::Uids(vec![65534])
    );
    assert_eq!(
        parse_users(&["root,65534".into(), "7".into()]).unwrap(),
        Allowed::Uids(vec![0, 65534, 7])
    );
    assert_eq!(parse_users(&["any".into()]).unwrap(), Allowed::Any);
    assert_eq!(parse_users(&["none".into()]).unwrap(), Allowed::Nobody);
    assert!(parse_users(&["1,any".into()]).is_err());
    assert!(parse_users(&["none".into(), "0".into()]).is_err());
    assert!(
        parse_users(&["no-such-user-here".into()])
            .unwrap_err()
            .contains("no-such-user-here")
    );
}

#[test]
fn queries_are_canonical() {
    let q = Query::new(
        "[::ffff:127.0.0.1]:5859".parse().unwrap(),
        "[::ffff:127.0.0.1]:40000".parse().unwrap(),
    );
    assert_eq!(q.ours, "127.0.0.1:5859".parse().unwrap());
    assert_eq!(q.peer, "127.0.0.1:40000".parse().unwrap());
}
