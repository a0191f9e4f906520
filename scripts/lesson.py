#!/usr/bin/env python3
"""The socket lesson's kernel-side programs, for smolsock's clients to talk to.

Plain Python sockets, as the lesson writes them: run them where the kernel's side of the TAP
device is (`sudo ip netns exec smolsock python3 scripts/lesson.py ...`), then point
`target/release/examples/tap client ...` or `tap chat` at 192.168.69.100.

  tcp-server    [--port 8000] [--backlog 5]  upper-case echo: accept, recv(1024), send upper-cased, close
  udp-server    [--port 8848]                upper-case echo to each sender (recvfrom / sendto)
  udp-sink      [--port 8888]                print what arrives, reply nothing
  chat-server   [--port 8080] [--auto]       a line chat: you type each reply (an empty reply is
                                             refused); with --auto the reply is "ok: LINE"
  framed-server [--port 9000]                4-byte big-endian length frames, each echoed upper-cased
  tcp-client    HOST [MESSAGE] [--port 8000] connect, send, print the reply (lesson program 2)
  udp-client    HOST [MESSAGE] [--port 8848] sendto, print the reply from recvfrom (program 8)

Every server binds to --host (default 0.0.0.0; an IPv6 address such as fd00:69::100 makes it
an AF_INET6 server, as a HOST with a colon makes a client use AF_INET6), prints "listening on
HOST:PORT" once it does, serves until Ctrl-C, and upper-cases ASCII letters only, as smolsock's
services do.
"""

import argparse
import socket
import struct
import sys

MAX_FRAME = 4096  # smolsock's framed echo takes payloads up to 4096 bytes


def say(*words):
    print(*words, flush=True)


def family(host):
    """AF_INET6 for an IPv6 address (it has a colon), else AF_INET: the lesson's AF_INET6."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listening(sock, kind):
    host, port = sock.getsockname()[:2]
    say(f"{kind} listening on {host}:{port}")


def tcp_listener(args, backlog, kind):
    """bind and listen(backlog), with SO_REUSEADDR (program 5: restart without "address in use")."""
    server = socket.socket(family(args.host), socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(backlog)
    listening(server, kind)
    return server


def tcp_server(args):
    """Lesson program 1 (and 6, the backlog): one recv, the reply, close; then the next client."""
    with tcp_listener(args, args.backlog, "tcp-server") as server:
        while True:
            conn, peer = server.accept()
            with conn:
                data = conn.recv(1024)
                say(f"{peer[0]}:{peer[1]} sent {data!r}")
                conn.sendall(data.upper())


def udp_server(args):
    """Lesson program 7, with smolsock's reply: the datagram upper-cased, to its sender."""
    with socket.socket(family(args.host), socket.SOCK_DGRAM) as server:
        server.bind((args.host, args.port))
        listening(server, "udp-server")
        while True:
            data, peer = server.recvfrom(65535)
            say(f"{peer[0]}:{peer[1]} sent {data!r}")
            server.sendto(data.upper(), peer)


def udp_sink(args):
    """Lesson program 9: receive only."""
    with socket.socket(family(args.host), socket.SOCK_DGRAM) as server:
        server.bind((args.host, args.port))
        listening(server, "udp-sink")
        count = total = 0
        while True:
            data, peer = server.recvfrom(65535)
            count, total = count + 1, total + len(data)
            say(f"{peer[0]}:{peer[1]} sent {data!r} ({count} datagrams, {total} bytes so far)")


def operator_reply(line, auto):
    """The operator's answer to `line`: typed at the terminal (never empty), or "ok: LINE"."""
    if auto:
        return "ok: " + line
    while True:
        sys.stdout.write("reply> ")
        sys.stdout.flush()
        typed = sys.stdin.readline()
        if not typed:
            return "(the operator has left)"
        typed = typed.rstrip("\r\n")
        if typed.strip():
            return typed
        say("empty reply refused: type a reply (the client waits for one)")


def chat_server(args):
    """Lesson program 3: clients one after another; each line gets the operator's reply."""
    with tcp_listener(args, 1, "chat-server") as server:
        while True:
            conn, peer = server.accept()
            say(f"{peer[0]}:{peer[1]} joined")
            with conn, conn.makefile("rwb") as stream:
                for raw in stream:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if line.strip() == "yes":  # the client's goodbye: nothing to answer
                        break
                    say(f"{peer[0]}:{peer[1]} says: {line}")
                    stream.write(operator_reply(line, args.auto).encode() + b"\n")
                    stream.flush()
            # A client that vanished ends its loop, not the server.
            say(f"{peer[0]}:{peer[1]} left")


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        piece = conn.recv(n - len(data))
        if not piece:
            return None
        data += piece
    return data


def framed_server(args):
    """Lesson program 11: a 4-byte big-endian length, then exactly that many bytes."""
    with tcp_listener(args, 5, "framed-server") as server:
        while True:
            conn, peer = server.accept()
            with conn:
                while True:
                    header = read_exactly(conn, 4)
                    if header is None:
                        break
                    (length,) = struct.unpack(">I", header)
                    if length > MAX_FRAME:
                        say(f"{peer[0]}:{peer[1]}: frame of {length} bytes refused")
                        break
                    payload = read_exactly(conn, length)
                    if payload is None:
                        break
                    say(f"{peer[0]}:{peer[1]} frame {payload!r}")
                    conn.sendall(struct.pack(">I", len(payload)) + payload.upper())


def tcp_client(args):
    """Lesson program 2."""
    with socket.create_connection((args.server, args.port), timeout=10) as conn:
        conn.sendall(args.message.encode())
        say(conn.recv(1024).decode("utf-8", "replace"))


def udp_client(args):
    """Lesson program 8."""
    with socket.socket(family(args.server), socket.SOCK_DGRAM) as conn:
        conn.settimeout(5)
        conn.sendto(args.message.encode(), (args.server, args.port))
        data, _ = conn.recvfrom(65535)
        say(data.decode("utf-8", "replace"))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Run with --help after a program's name for its options.",
    )
    programs = parser.add_subparsers(dest="program", required=True)

    def server(name, port, run, text):
        p = programs.add_parser(name, help=text, description=text)
        p.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
        p.add_argument("--port", type=int, default=port, help=f"port (default {port})")
        p.set_defaults(run=run)
        return p

    p = server("tcp-server", 8000, tcp_server, "TCP upper-case echo, one request per client")
    p.add_argument("--backlog", type=int, default=5, help="listen(BACKLOG) (default 5)")
    server("udp-server", 8848, udp_server, "UDP upper-case echo")
    server("udp-sink", 8888, udp_sink, "UDP receive-only")
    p = server("chat-server", 8080, chat_server, "line chat, the operator replies")
    p.add_argument("--auto", action="store_true", help='reply "ok: LINE" instead of asking')
    server("framed-server", 9000, framed_server, "4-byte length frames, upper-cased")
    for name, port, run, text in [
        ("tcp-client", 8000, tcp_client, "send MESSAGE over TCP, print the reply"),
        ("udp-client", 8848, udp_client, "send MESSAGE as a datagram, print the reply"),
    ]:
        p = programs.add_parser(name, help=text, description=text)
        p.add_argument("server", help="the server's address, e.g. 192.168.69.1")
        p.add_argument("--port", type=int, default=port, help=f"port (default {port})")
        p.add_argument("message", nargs="?", default="hello world")
        p.set_defaults(run=run)

    args = parser.parse_args()
    try:
        args.run(args)
    except KeyboardInterrupt:
        pass
    except OSError as e:
        sys.exit(f"{args.program}: {e}")


if __name__ == "__main__":
    main()
