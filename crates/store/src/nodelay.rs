//! Turns Nagle's algorithm off on this process's connections to the PostgreSQL server.
//!
//! sqlx 0.9.0 stopped setting `TCP_NODELAY` on its sockets (sqlx issue #4335, fixed by pull
//! request #4336, not yet released). Without it, any statement larger than one TCP segment waits
//! for the server's delayed ACK: ~40 ms per large statement. Measured here: one fan-out round of
//! 500 notifications took 306 ms over TCP and 45 ms over a Unix socket (`bench-notify`), and the
//! bidding engine's batch appends suffered the same. sqlx gives no access to its socket, so after
//! each new connection this finds the process's TCP sockets whose peer is the database server and
//! sets the option on them (on sockets that already have it, setting it again changes nothing).
//!
//! Remove this module when a sqlx release sets `TCP_NODELAY` itself.
#![allow(unsafe_code)]

use std::net::SocketAddr;

/// Sets `TCP_NODELAY` on every TCP socket of this process connected to one of `peers`. Returns how
/// many sockets it touched. Linux only (it reads `/proc/self/fd`); elsewhere it does nothing.
pub(crate) fn set_on_connections_to(peers: &[SocketAddr]) -> usize {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::{BorrowedFd, RawFd};
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return 0 };
        let mut touched = 0;
        for entry in entries.flatten() {
            let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else { continue };
            // Only sockets: the link reads `socket:[inode]`.
            let is_socket =
                std::fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
            if !is_socket {
                continue;
            }
            // SAFETY: `borrow_raw` requires the descriptor to stay open while borrowed. Another
            // thread may close it meanwhile; the calls below then fail with EBADF, or act on
            // whatever reused the number, and they only read the peer address and set
            // TCP_NODELAY when that peer is the database server. No memory is involved.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let socket = socket2::SockRef::from(&fd);
            let connected_to_database = socket
                .peer_addr()
                .ok()
                .and_then(|address| address.as_socket())
                .is_some_and(|address| peers.contains(&address));
            if connected_to_database && socket.set_tcp_nodelay(true).is_ok() {
                touched += 1;
            }
        }
        touched
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = peers;
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sockets_connected_to_the_database_get_nodelay() {
        let database = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to_database = std::net::TcpStream::connect(database.local_addr().unwrap()).unwrap();
        let to_other = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert!(!to_database.nodelay().unwrap());

        let touched = set_on_connections_to(&[database.local_addr().unwrap()]);

        assert!(touched >= 1);
        assert!(to_database.nodelay().unwrap(), "the database connection has TCP_NODELAY");
        assert!(!to_other.nodelay().unwrap(), "other connections are left alone");
    }
}
