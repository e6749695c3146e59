//! The wsrep status query: `SHOW GLOBAL STATUS LIKE 'wsrep%'` → [`WsrepStatus`], used by the
//! entrypoint, the checker and `status`.
//!
//! Every call is bounded by a timeout, and errors are classified ([`MysqlError`]) because the
//! probes treat "refused" (maybe dead), "too many connections" and "access denied" (alive, not
//! ready) differently.
//!
//! The local server is reached through its *reserved path* when one is configured
//! ([`Endpoint::Reserved`]: MariaDB's `extra_port`, a TCP port with its own
//! `extra_max_connections`, so clients filling `max_connections` do not lock the probes and the
//! entrypoint out); see [`resolve_local`] and docs/probes.md.
//!
//! The parts:
//! - `endpoint.rs`: where a server listens ([`Endpoint`]), where a login goes, and who logs in
//!   ([`Credentials`]);
//! - `local.rs`: the local server's endpoint from the flags and the defaults file (pure);
//! - `connect.rs`: a connection within a timeout (with the reserved port's fallback), and its
//!   failures classified ([`MysqlError`]);
//! - `wsrep.rs`: the wsrep status query and its result ([`WsrepStatus`]);
//! - `execute.rs`: running statements, with secrets redacted from errors.

mod connect;
mod endpoint;
mod execute;
mod local;
mod wsrep;

pub use connect::{connect, MysqlError};
pub use endpoint::{Credentials, Endpoint};
pub use execute::{execute, execute_all, redact};
pub use local::{local_endpoint, reserved_host, reserved_port, resolve_local, DEFAULT_SOCKET};
pub use wsrep::{wsrep_status, wsrep_status_either, WsrepStatus};
