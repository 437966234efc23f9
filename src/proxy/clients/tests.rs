//! The client table's rows, over socket pairs: a session's messages reach
//! its own row's clients only, and a client behind holds only its row.

use std::time::Instant;

use mio::Poll;

use super::Clients;
use crate::access::Owner;
use crate::config::Config;
use crate::framing::Message;
use crate::proxy::accept::Accepted;
use crate::proxy::clients::client::{Client, Peer, Stream};
use crate::session::{ClientId, To};
use crate::tokens::RowId;

const A: RowId = RowId(0);
const B: RowId = RowId(1);

fn table(poll: &Poll) -> Clients {
    let args: Vec<String> = ["--port", "1", "--client-buffer", "4", "--protocol", "raw"]
        .iter()
        .map(|a| a.to_string())
        .collect();
    let config = Config::parse_from(&args).expect("valid");
    Clients::new(Vec::new(), poll.registry(), &config).expect("no listener to register")
}

/// Lets a client in to `row`; returns its id and the peer's end.
fn join(clients: &mut Clients, poll: &Poll, row: RowId) -> (ClientId, mio::net::UnixStream) {
    let (ours, theirs) = mio::net::UnixStream::pair().expect("a socket pair");
    let uid = clients.policy().own_uid;
    let accepted = Accepted {
        stream: Stream::Unix(ours),
        peer: Peer::Unix { uid, pid: 1 },
        local: None,
    };
    let place = move |_: &Client| Some(row);
    let owner = Some(Owner::Uid(uid));
    clients.admit(accepted, owner, (poll.registry(), &place), Instant::now());
    let joined = clients.take_joined();
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].0, row);
    (joined[0].1, theirs)
}

fn queued(clients: &Clients, id: ClientId) -> usize {
    let key = clients.ids[&id];
    clients.table[key].out.len()
}

#[test]
fn a_session_reaches_its_own_rows_clients_only() {
    let poll = Poll::new().expect("poll");
    let mut clients = table(&poll);
    let (a1, _p1) = join(&mut clients, &poll, A);
    let (b1, _p2) = join(&mut clients, &poll, B);
    let (a2, _p3) = join(&mut clients, &poll, A);
    assert_eq!(clients.ids_in(A), vec![a1, a2]);
    assert_eq!(clients.ids_in(B), vec![b1]);
    let now = Instant::now();
    let hi = Message::from_bytes(b"hi\n");

    clients.deliver(A, To::All, &hi, now);
    assert_eq!((queued(&clients, a1), queued(&clients, a2)), (3, 3));
    assert_eq!(
        queued(&clients, b1),
        0,
        "row B's client hears nothing of row A"
    );

    clients.deliver(B, To::Client(a1), &hi, now);
    clients.deliver(B, To::AllBut(b1), &hi, now);
    assert_eq!(
        queued(&clients, a1),
        3,
        "B's session cannot name A's client"
    );
    assert_eq!(queued(&clients, b1), 0);

    clients.close(B, a1, "not yours", poll.registry());
    assert!(!clients.has_left(), "B's session cannot close A's client");
    clients.close(A, a1, "done", poll.registry());
    assert_eq!(clients.take_left(), vec![(A, a1)]);
}

#[test]
fn a_client_behind_holds_only_its_rows_debugger() {
    let poll = Poll::new().expect("poll");
    let mut clients = table(&poll);
    let (a1, _p1) = join(&mut clients, &poll, A);
    let (b1, _p2) = join(&mut clients, &poll, B);
    let now = Instant::now();
    // Over --client-buffer (4 bytes), not flushed: A's client is behind.
    clients.deliver(A, To::All, &Message::from_bytes(b"0123456789\n"), now);
    assert!(clients.holding(A));
    assert!(!clients.holding(B));

    let key = clients.ids[&a1];
    clients.drop_client(key, "test", log::Level::Debug, poll.registry());
    assert!(!clients.holding(A));
    assert_eq!(clients.ids_in(A), Vec::<ClientId>::new());
    assert_eq!(clients.ids_in(B), vec![b1]);
    clients.close_row(B, "row removed", poll.registry(), now);
    assert_eq!(clients.take_left(), vec![(A, a1), (B, b1)]);
}

#[test]
fn a_removed_rows_closing_clients_belong_to_no_row() {
    let poll = Poll::new().expect("poll");
    let mut clients = table(&poll);
    let (a1, _p1) = join(&mut clients, &poll, A);
    let now = Instant::now();
    // Its client has more queued than the socket takes at once.
    clients.deliver(A, To::All, &Message::from_bytes(&vec![b'x'; 1 << 22]), now);
    clients.close_row(A, "the row goes", poll.registry(), now);
    assert_eq!(clients.take_left(), vec![(A, a1)]);
    let key = clients.ids[&a1];
    assert!(!clients.table[key].out.is_empty(), "still writing");
    clients.forget_row(A);
    assert_eq!(clients.row_of(key), None);
    // A row that reuses the id starts with no members, and is not held.
    assert!(clients.members(A).is_empty());
    assert!(!clients.holding(A));
    let (a2, _p2) = join(&mut clients, &poll, A);
    assert_eq!(clients.ids_in(A), vec![a2]);
}
