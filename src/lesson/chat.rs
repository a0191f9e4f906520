//! Programs 3 and 4: the chat server and client.

use core::fmt::Write;
use core::net::SocketAddr;

use embedded_nal::{nb, TcpClientStack};

use super::{say, send_all, text, Backlog, RECV_SIZE};

/// Program 3: accept clients one after another (`clients` of them); for each, loop: receive,
/// print, reply with the operator's next line (`operator`; "bye" once it has none left). A
/// client that disconnects ends its loop, not the server.
pub fn chat_server<'l, S: Backlog>(
    net: &mut S,
    port: u16,
    clients: usize,
    operator: &mut impl Iterator<Item = &'l str>,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut server = net.socket()?;
    net.bind(&mut server, port)?;
    net.listen_backlog(&mut server, 3)?;
    say!(out, "chat server: listening");
    for _ in 0..clients {
        let (mut conn, peer) = nb::block!(net.accept(&mut server))?;
        say!(out, "chat server: {peer} joined");
        let mut data = [0u8; RECV_SIZE];
        loop {
            match nb::block!(net.receive(&mut conn, &mut data)) {
                Ok(0) | Err(_) => {
                    say!(out, "chat server: client left");
                    break;
                }
                Ok(n) => {
                    say!(out, "chat server: client says {:?}", text(&data[..n]));
                    let reply = operator.next().unwrap_or("bye");
                    send_all(net, &mut conn, reply.as_bytes())?;
                    say!(out, "chat server: replied {reply:?}");
                }
            }
        }
        net.close(conn)?;
    }
    net.close(server)?;
    Ok(())
}

/// Program 4: for each line the user types (`lines`): an empty line is refused with a
/// message, `yes` disconnects, anything else is sent and the reply printed.
pub fn chat_client<'l, S: TcpClientStack>(
    net: &mut S,
    server: SocketAddr,
    lines: impl IntoIterator<Item = &'l str>,
    out: &mut impl Write,
) -> Result<(), S::Error> {
    let mut sock = net.socket()?;
    nb::block!(net.connect(&mut sock, server))?;
    say!(out, "chat client: connected");
    for line in lines {
        if line.is_empty() {
            say!(out, "chat client: please type something");
            continue;
        }
        if line == "yes" {
            say!(out, "chat client: disconnecting");
            break;
        }
        send_all(net, &mut sock, line.as_bytes())?;
        let mut data = [0u8; RECV_SIZE];
        let n = nb::block!(net.receive(&mut sock, &mut data))?;
        say!(out, "chat client: server says {:?}", text(&data[..n]));
    }
    net.close(sock)?;
    Ok(())
}
