//! Clients the proxy dialled (DBGp proxy mode, `proxy/dbgp/`): a PHP IDE
//! registered with `proxyinit` listens, and the proxy connects to it for
//! each engine of its key. Once that connection is up it is a client like
//! any other, of the engine's row, owned by whoever registered the key; it
//! skips the access rules and the token, which the registration passed.

use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Registry, Token};

use super::Clients;
use crate::access::Via;
use crate::net;
use crate::proxy::clients::client::{Admission, Client, Peer, State, Stream};
use crate::session::ClientId;
use crate::tokens::{FIRST_CLIENT, RowId};

impl Clients {
    /// Takes the connected `stream` to an IDE at `peer` into `row`, owned by
    /// `uid` (`None`: a remote owner); `None` if it cannot be registered.
    pub fn adopt(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        uid: Option<u32>,
        row: RowId,
        registry: &Registry,
    ) -> Option<ClientId> {
        net::tune(&stream);
        let id = self.next_id;
        self.next_id += 1;
        let key = self.table.vacant_key();
        let via = if uid.is_some() { Via::Uid } else { Via::Token };
        let client = Client::new(
            id,
            (Stream::Tcp(stream), Peer::Tcp(peer)),
            (State::Open, Admission { uid, via }),
            Token(FIRST_CLIENT + key),
            registry,
            (self.protocol, self.flow.max_client_message()),
        );
        let mut client = match client {
            Ok(client) => client,
            Err(e) => {
                log::warn!("cannot register the connection to the IDE at {peer}: {e}");
                return None;
            }
        };
        client.row = Some(row);
        let name = client.name();
        self.table.insert(client);
        self.readable.push(key);
        self.ids.insert(id, key);
        let members = self.members.entry(row).or_default();
        if let Err(at) = members.binary_search(&key) {
            members.insert(at, key);
        }
        self.joined.push((row, id));
        self.tally.served += 1;
        log::info!("{name}: the IDE, dialled ({} connected)", self.len());
        Some(id)
    }

    /// How many of `row`'s clients are still in its session.
    pub fn open_in(&self, row: RowId) -> usize {
        self.members(row)
            .iter()
            .filter_map(|&k| self.table.get(k))
            .filter(|c| c.is_open())
            .count()
    }
}
