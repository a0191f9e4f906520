// The budget build's sizes, shared by `net` and its variants (`net-dhcp`, `net-ipv6`), which
// differ only in where the address comes from and in the NIC's frame buffers (`NIC_BUF`, set by
// each program). Included by those programs, before `net_main.rs`.
//
// The RAM budget (24 KiB of static RAM) is spent here. Four TCP sockets with 2 KiB each way
// (16 KiB) and seven socket slots (2.3 KiB) are fixed; what is left decides the NIC's frame
// buffers, the largest frame (a decoder buffer per framed socket) and datagram.

/// TCP sockets of the upper-case echo: all listen, so this is also its backlog.
const ECHO_SOCKETS: usize = 2;
/// TCP sockets of the framed echo (its backlog).
const FRAMED_SOCKETS: usize = 2;
/// Receive and transmit buffer of each TCP socket.
const TCP_BUF: usize = 2048;
/// Largest frame payload of the framed echo; a header announcing more resets that connection.
/// Each framed socket keeps a decoder buffer of this size.
const FRAME_MAX: usize = 512;
/// Largest UDP datagram served (payload bytes); smoltcp drops larger ones.
const UDP_MAX: usize = 192;
/// Datagrams queued per UDP socket and direction.
const UDP_DGRAMS: usize = 4;
/// Payload bytes queued per UDP socket and direction.
const UDP_BYTES: usize = UDP_MAX;
/// The sink's queue: the same as the echo's.
const SINK_DGRAMS: usize = UDP_DGRAMS;
const SINK_BYTES: usize = UDP_BYTES;
/// Replies waiting for address resolution at once (the UDP echo's resolve lane).
const LANE_DGRAMS: usize = 1;
