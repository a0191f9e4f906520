//! Programs 10 and 11: sticky packets, and the fix (a 4-byte length prefix).

use core::fmt::Write;
use core::net::SocketAddr;

use embedded_nal::{nb, TcpClientStack};

use super::{recv_exact, say, send_all, text, Backlog, RECV_SIZE};
use crate::frame::HEADER_LEN;
use crate::nal::NalStack;
use smoltcp::socket::tcp::State;
use smoltcp::socket::Socket;

/// Program 10, the server: accept, let the client send everything (`wait`: the lesson's
/// `time.sleep`; it gets the stack, so a stack that only moves when polled, like smolsock, can
/// be polled meanwhile: see [`until_client_closed`]), then call `recv(1024)` three times.
/// The first gets all three messages: TCP is a byte stream and keeps no boundaries.
pub fn sticky_server<S: Backlog>(
    net: &mut S,
    port: u16,
    wait: impl FnOnce(&mut S),
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut server = net.socket()?;
    net.bind(&mut server, port)?;
    net.listen_backlog(&mut server, 3)?;
    say!(out, "sticky server: listening");
    let (mut conn, _) = nb::block!(net.accept(&mut server))?;
    wait(net);
    for i in 1..=3 {
        let mut data = [0u8; RECV_SIZE];
        let n = nb::block!(net.receive(&mut conn, &mut data))?;
        say!(out, "sticky server: recv {i}: {:?}", text(&data[..n]));
    }
    net.close(conn)?;
    net.close(server)?;
    Ok(())
}

/// Program 10, the client: three quick `send`s, then close.
pub fn sticky_client<'m, S: TcpClientStack>(
    net: &mut S,
    server: SocketAddr,
    messages: impl IntoIterator<Item = &'m str>,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut sock = net.socket()?;
    nb::block!(net.connect(&mut sock, server))?;
    for message in messages {
        send_all(net, &mut sock, message.as_bytes())?;
        say!(out, "sticky client: sent {message:?}");
    }
    net.close(sock)?;
    Ok(())
}

/// Program 11, the server: the same situation as program 10 (`wait` until the client sent
/// everything), but every message is a 4-byte big-endian length and then exactly that many
/// bytes, so each `count` message comes out whole.
pub fn framed_server<S: Backlog>(
    net: &mut S,
    port: u16,
    count: usize,
    wait: impl FnOnce(&mut S),
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut server = net.socket()?;
    net.bind(&mut server, port)?;
    net.listen_backlog(&mut server, 3)?;
    say!(out, "framed server: listening");
    let (mut conn, _) = nb::block!(net.accept(&mut server))?;
    wait(net);
    for _ in 0..count {
        let mut header = [0u8; HEADER_LEN];
        if !recv_exact(net, &mut conn, &mut header)? {
            say!(out, "framed server: stream ended");
            break;
        }
        let len = u32::from_be_bytes(header) as usize;
        let mut data = [0u8; RECV_SIZE];
        let Some(body) = data.get_mut(..len) else {
            say!(out, "framed server: message of {len} bytes is too long");
            break;
        };
        if !recv_exact(net, &mut conn, body)? {
            say!(out, "framed server: stream ended inside a message");
            break;
        }
        say!(out, "framed server: message {:?}", text(body));
    }
    net.close(conn)?;
    net.close(server)?;
    Ok(())
}

/// Program 11, the client: each message as a length-prefixed frame.
pub fn framed_client<'m, S: TcpClientStack>(
    net: &mut S,
    server: SocketAddr,
    messages: impl IntoIterator<Item = &'m str>,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut sock = net.socket()?;
    nb::block!(net.connect(&mut sock, server))?;
    for message in messages {
        let len = message.len() as u32;
        send_all(net, &mut sock, &len.to_be_bytes())?;
        send_all(net, &mut sock, message.as_bytes())?;
        say!(out, "framed client: sent {message:?}");
    }
    net.close(sock)?;
    Ok(())
}

/// smolsock's `time.sleep` for programs 10 and 11: poll the stack until the client has sent
/// everything and closed (an accepted connection in CLOSE-WAIT: its FIN came after all its
/// data). The kernel receives while the program sleeps; smolsock receives only when polled, so
/// a server that merely slept would find only the first segment (the client's later ones wait
/// for its ACK, Nagle). Waits as long as it takes.
pub fn until_client_closed<
    const P: usize,
    const N: usize,
    D: smoltcp::phy::Device,
    C: crate::clock::Clock,
    const RX: usize,
    const TX: usize,
    const DG: usize,
    const BY: usize,
>(
    net: &mut NalStack<'_, '_, P, N, D, C, RX, TX, DG, BY>,
) {
    loop {
        let closed = net.stack().sockets().iter().any(
            |(_, socket)| matches!(socket, Socket::Tcp(tcp) if tcp.state() == State::CloseWait),
        );
        if closed {
            return;
        }
        net.poll();
    }
}
