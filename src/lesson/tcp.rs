//! Programs 1, 2 and 6: the TCP server and client, and the backlog.

use core::fmt::Write;
use core::net::SocketAddr;

use embedded_nal::{nb, TcpClientStack};

use super::{say, send_all, text, Backlog, RECV_SIZE};

/// Most clients [`backlog_clients`] opens at once.
pub const MAX_CLIENTS: usize = 8;

/// Program 1: bind, `listen(3)`, accept one client, receive up to 1024 bytes, send them back
/// upper-cased, close.
pub fn upper_server<S: Backlog>(
    net: &mut S,
    port: u16,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut server = net.socket()?; //                      s = socket(AF_INET, SOCK_STREAM)
    net.bind(&mut server, port)?; //                        s.bind(("", port))
    net.listen_backlog(&mut server, 3)?; //                 s.listen(3)
    say!(out, "server: listening");
    let (mut conn, peer) = nb::block!(net.accept(&mut server))?; // conn, addr = s.accept()
    say!(out, "server: connection from {peer}");
    let mut data = [0u8; RECV_SIZE];
    let n = nb::block!(net.receive(&mut conn, &mut data))?; // data = conn.recv(1024)
    say!(out, "server: received {:?}", text(&data[..n]));
    let reply = &mut data[..n];
    reply.make_ascii_uppercase();
    send_all(net, &mut conn, reply)?; //                    conn.send(data.upper())
    say!(out, "server: sent {:?}", text(reply));
    net.close(conn)?; //                                    conn.close()
    net.close(server)?; //                                  s.close()
    say!(out, "server: closed");
    Ok(())
}

/// Program 2: connect, send `message`, print the reply, close.
pub fn upper_client<S: TcpClientStack>(
    net: &mut S,
    server: SocketAddr,
    message: &str,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut sock = net.socket()?; //                        s = socket(AF_INET, SOCK_STREAM)
    nb::block!(net.connect(&mut sock, server))?; //        s.connect((host, port))
    say!(out, "client: connected");
    send_all(net, &mut sock, message.as_bytes())?; //       s.send(b"hello world")
    say!(out, "client: sent {message:?}");
    let mut data = [0u8; RECV_SIZE];
    let n = nb::block!(net.receive(&mut sock, &mut data))?; // data = s.recv(1024)
    say!(out, "client: received {:?}", text(&data[..n]));
    net.close(sock)?; //                                    s.close()
    Ok(())
}

/// Program 6, the server: `listen(backlog)`, then serve `clients` clients one after another
/// (receive, reply upper-cased, close) while the others wait in the backlog.
pub fn backlog_server<S: Backlog>(
    net: &mut S,
    port: u16,
    backlog: usize,
    clients: usize,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut server = net.socket()?;
    net.bind(&mut server, port)?;
    net.listen_backlog(&mut server, backlog)?; //           s.listen(backlog)
    say!(out, "server: listening, backlog {backlog}");
    for _ in 0..clients {
        let (mut conn, _) = nb::block!(net.accept(&mut server))?;
        let mut data = [0u8; RECV_SIZE];
        let n = nb::block!(net.receive(&mut conn, &mut data))?;
        say!(out, "server: served {:?}", text(&data[..n]));
        data[..n].make_ascii_uppercase();
        send_all(net, &mut conn, &data[..n])?;
        net.close(conn)?;
    }
    net.close(server)?;
    say!(out, "server: closed");
    Ok(())
}

/// Program 6, the clients: `n` clients connect one after another without being served; each
/// connected one then sends "client i", prints the reply and closes. A client the server's
/// backlog has no room for is refused.
pub fn backlog_clients<S: TcpClientStack>(
    net: &mut S,
    server: SocketAddr,
    n: usize,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut connected: heapless::Vec<(usize, S::TcpSocket), MAX_CLIENTS> = heapless::Vec::new();
    for i in 0..n.min(MAX_CLIENTS) {
        let mut sock = net.socket()?;
        match nb::block!(net.connect(&mut sock, server)) {
            Ok(()) => {
                say!(out, "client {i}: connected");
                // `n` is capped at the capacity.
                connected.push((i, sock)).ok();
            }
            Err(_) => {
                say!(out, "client {i}: refused");
                net.close(sock)?;
            }
        }
    }
    for (i, mut sock) in connected {
        let mut message: heapless::String<16> = heapless::String::new();
        let _ = write!(message, "client {i}");
        send_all(net, &mut sock, message.as_bytes())?;
        let mut data = [0u8; RECV_SIZE];
        let n = nb::block!(net.receive(&mut sock, &mut data))?;
        say!(out, "client {i}: received {:?}", text(&data[..n]));
        net.close(sock)?;
    }
    Ok(())
}
