//! Programs 7, 8 and 9: UDP server and client, and the receive-only pair.

use core::fmt::Write;
use core::net::SocketAddr;

use embedded_nal::{nb, UdpClientStack, UdpFullStack};

use super::{say, text, RECV_SIZE};

/// Program 7: `recvfrom` `count` datagrams; print each sender; reply to it upper-cased with
/// `sendto`. No connection: each datagram may come from another client.
pub fn udp_server<S: UdpFullStack>(
    net: &mut S,
    port: u16,
    count: usize,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut sock = net.socket()?; //                        s = socket(AF_INET, SOCK_DGRAM)
    net.bind(&mut sock, port)?; //                          s.bind(("", port))
    say!(out, "udp server: bound");
    for _ in 0..count {
        let mut data = [0u8; RECV_SIZE];
        let (n, peer) = nb::block!(net.receive(&mut sock, &mut data))?; // data, addr = s.recvfrom(1024)
        say!(out, "udp server: {peer} sent {:?}", text(&data[..n]));
        let reply = &mut data[..n];
        reply.make_ascii_uppercase();
        nb::block!(net.send_to(&mut sock, peer, reply))?; // s.sendto(reply, addr)
        say!(out, "udp server: replied {:?}", text(reply));
    }
    net.close(sock)?;
    Ok(())
}

/// Program 8: `sendto` the server, `recvfrom` the reply.
pub fn udp_client<S: UdpClientStack>(
    net: &mut S,
    server: SocketAddr,
    message: &str,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut sock = net.socket()?;
    net.connect(&mut sock, server)?;
    nb::block!(net.send(&mut sock, message.as_bytes()))?; // s.sendto(msg, server)
    say!(out, "udp client: sent {message:?}");
    let mut data = [0u8; RECV_SIZE];
    let (n, _) = nb::block!(net.receive(&mut sock, &mut data))?; // s.recvfrom(1024)
    say!(out, "udp client: received {:?}", text(&data[..n]));
    net.close(sock)?;
    Ok(())
}

/// Program 9, the server: only print what arrives (`count` datagrams).
pub fn udp_sink<S: UdpFullStack>(
    net: &mut S,
    port: u16,
    count: usize,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut sock = net.socket()?;
    net.bind(&mut sock, port)?;
    say!(out, "sink: bound");
    for _ in 0..count {
        let mut data = [0u8; RECV_SIZE];
        let (n, peer) = nb::block!(net.receive(&mut sock, &mut data))?;
        say!(out, "sink: {peer} sent {:?}", text(&data[..n]));
    }
    net.close(sock)?;
    Ok(())
}

/// Program 9, the client: only send.
pub fn udp_sender<'m, S: UdpClientStack>(
    net: &mut S,
    server: SocketAddr,
    messages: impl IntoIterator<Item = &'m str>,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut sock = net.socket()?;
    net.connect(&mut sock, server)?;
    for message in messages {
        nb::block!(net.send(&mut sock, message.as_bytes()))?;
        say!(out, "sender: sent {message:?}");
    }
    net.close(sock)?;
    Ok(())
}
