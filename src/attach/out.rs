//! What `attach`'s protocol knowledge (`dialect.rs`, `dap.rs`) wants sent
//! besides the messages passing through; the bridge (`bridge.rs`) sends it.
//! Its own module so that the bridge and the dialects each import it,
//! not each other.

use crate::framing::Message;

/// Messages a dialect wants sent, besides the ones passing through.
#[derive(Default)]
pub struct Out {
    pub to_proxy: Vec<Message>,
    pub to_ide: Vec<Message>,
}
