//! The lesson's line chat, interactive, on the in-memory loopback.
//!
//! ```text
//! cargo run --example chat
//! printf 'hello\n\nyes\n' | cargo run --example chat
//! ```
//!
//! You are the client (lesson program 4): type a line, the server (program 3) replies. An empty
//! line is refused and not sent; `yes` or the end of input (Ctrl-D) quits. The server's operator
//! is scripted here: it answers with your line upper-cased and its length. (On a TAP device,
//! `cargo run --example tap -- serve --chat` lets a person type the replies.)

use std::io::{self, BufRead, Write};

use smolsock::clock::{Clock, Duration, VirtualClock};
use smolsock::device::Loopback;
use smolsock::event_loop::{run_until, Work};
use smolsock::service::{
    ports, ChatClient, ChatServer, Service, Submitted, BYE, EMPTY_REFUSED, PROMPT,
};
use smolsock::smoltcp::iface::SocketStorage;
use smolsock::smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};
use smolsock::storage::TcpStorage;
use smolsock::tcp::{ClientState, EphemeralPorts, PoolConfig};
use smolsock::{Stack, StackConfig};

const LOCALHOST: IpAddress = IpAddress::v4(127, 0, 0, 1);
const LINE: usize = 256;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // No options: `--help` says what this is, anything else is refused.
    clap::Command::new("chat")
        .about(
            "The lesson's line chat on an in-memory loopback: you are the client; type a line, the \
             scripted server replies with it upper-cased (ASCII letters only) and its length. An \
             empty line is refused; `yes` or the end of input (Ctrl-D) quits.",
        )
        .get_matches();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format_timestamp(None)
        .init();
    let mut slots = [const { SocketStorage::EMPTY }; 4];
    let mut server_buffers = [const { TcpStorage::<1024, 1024>::new() }; 1];
    let mut client_buffers = TcpStorage::<1024, 1024>::new();
    let clock = VirtualClock::default();
    let mut device = Loopback::<1500, 16>::new();
    let mut stack = Stack::new(
        StackConfig::ip(IpCidr::new(LOCALHOST, 8)),
        &mut device,
        &mut slots,
        clock.now(),
    );
    let mut server = ChatServer::<_, 1, LINE>::new(
        &mut stack,
        server_buffers.iter_mut(),
        PoolConfig::new(ports::CHAT, 1),
        |_from: IpEndpoint, line: &[u8], reply: &mut [u8]| {
            let text = format!(
                "{} ({} bytes)",
                String::from_utf8_lossy(line).to_ascii_uppercase(),
                line.len()
            );
            let n = text.len().min(reply.len());
            reply[..n].copy_from_slice(&text.as_bytes()[..n]);
            n
        },
    )?;
    let handle = stack.add_tcp(&mut client_buffers)?;
    let mut ports_alloc = EphemeralPorts::new(std::process::id().into());
    let server_at = IpEndpoint::new(LOCALHOST, ports::CHAT);
    let mut client = ChatClient::<LINE>::connect(&mut stack, handle, server_at, &mut ports_alloc)?;
    let budget = Duration::from_secs(30);
    run_until(&mut stack, &mut device, &clock, budget, |s| {
        let p = server.poll(s);
        Work::done_if(client.state(s) == ClientState::Connected, p)
    })?;
    println!("connected to {server_at}");

    let stdin = io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        print!("{PROMPT}");
        io::stdout().flush()?;
        let line = lines.next().transpose()?;
        // The same words as `tap chat`: a new line after the prompt, then what happened.
        match client.submit(&mut stack, line.as_deref()) {
            Ok(Submitted::Refused) => println!("\n{EMPTY_REFUSED}"),
            Ok(Submitted::Quit) => {
                println!("\n{BYE}");
                break;
            }
            Ok(Submitted::Sent) => {
                println!();
                let mut reply = String::new();
                run_until(&mut stack, &mut device, &clock, budget, |s| {
                    let p = server.poll(s);
                    match client.reply(s) {
                        Ok(Some(line)) => {
                            reply = String::from_utf8_lossy(line).into_owned();
                            Work::Done
                        }
                        Ok(None) => p.into(),
                        Err(e) => {
                            reply = format!("<{e}>");
                            Work::Done
                        }
                    }
                })?;
                println!("server: {reply}");
            }
            Err(e) => println!("\nnot sent: {e}"),
        }
    }
    // Let the close finish on both sides, as a well-behaved client does.
    run_until(&mut stack, &mut device, &clock, budget, |s| {
        let p = server.poll(s);
        Work::done_if(server.pool().stats().closed == 1, p)
    })?;
    Ok(())
}
