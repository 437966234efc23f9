//! The proxy as a process among others: `--daemon` (`daemon`), the control
//! socket's `status`, `list` and `stop` (`control`), and running under
//! systemd (`systemd`).

mod control;
mod daemon;
mod systemd;
