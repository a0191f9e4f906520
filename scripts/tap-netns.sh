#!/usr/bin/env bash
# Make or remove a network namespace holding a TAP device for smolsock.
#
#   sudo scripts/tap-netns.sh up NAME [TAP]     # namespace NAME, TAP device (default tap0),
#                                               # kernel side 192.168.69.100/24 and
#                                               # fd00:69::100/64, up
#   sudo scripts/tap-netns.sh down NAME [TAP]   # delete it (and the TAP device with it)
#
# The lesson's addresses exist only inside NAME: run smolsock and its peers with
# `ip netns exec NAME ...`. Nothing in the root namespace changes.
set -euo pipefail

KERNEL_CIDR=${KERNEL_CIDR:-192.168.69.100/24}
KERNEL_CIDR6=${KERNEL_CIDR6:-fd00:69::100/64}

usage() {
    echo "usage: $0 up|down NAME [TAP]   (TAP defaults to tap0)" >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
ns=$2
tap=${3:-tap0}
case $ns in
    ""|*/*|.*) echo "bad namespace name: '$ns'" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
    echo "needs root: sudo $0 $*" >&2
    exit 1
fi

exists() {
    ip netns list | awk '{print $1}' | grep -qxF -- "$1"
}

case $cmd in
up)
    if exists "$ns"; then
        echo "namespace $ns exists already; remove it with: sudo $0 down $ns $tap" >&2
        exit 1
    fi
    ip netns add "$ns"
    # Undo a half-made namespace if a later step fails.
    trap 'ip netns del "$ns" 2>/dev/null || true' ERR
    ip -n "$ns" link set lo up
    ip netns exec "$ns" ip tuntap add dev "$tap" mode tap
    # No router solicitations from the kernel side: captures show little beyond the lesson.
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$tap.router_solicitations=0" 2>/dev/null || true
    ip -n "$ns" addr add "$KERNEL_CIDR" dev "$tap"
    # nodad: usable at once (no duplicate address detection first).
    ip -n "$ns" addr add "$KERNEL_CIDR6" dev "$tap" nodad
    ip -n "$ns" link set "$tap" up
    trap - ERR
    cat <<MSG
namespace $ns: $tap with the kernel side at $KERNEL_CIDR and $KERNEL_CIDR6
  server:  sudo ip netns exec $ns target/release/examples/tap serve --iface $tap
  client:  sudo ip netns exec $ns python3 -c 'import socket; s=socket.create_connection(("192.168.69.1",8000)); s.sendall(b"hello world"); print(s.recv(1024))'
  IPv6:    sudo ip netns exec $ns python3 -c 'import socket; s=socket.create_connection(("fd00:69::1",8000)); s.sendall(b"hello world"); print(s.recv(1024))'
  ping:    sudo ip netns exec $ns ping -c 3 192.168.69.1; sudo ip netns exec $ns ping -6 -c 3 fd00:69::1
  remove:  sudo $0 down $ns $tap
MSG
    ;;
down)
    if ! exists "$ns"; then
        echo "no namespace $ns" >&2
        exit 1
    fi
    # Only delete a namespace this script made: it holds the TAP device.
    if ! ip netns exec "$ns" ip tuntap show 2>/dev/null | grep -q "^$tap:"; then
        echo "namespace $ns has no TAP device $tap; not made by this script, left alone" >&2
        exit 1
    fi
    ip netns del "$ns"
    echo "namespace $ns removed (with $tap)"
    ;;
*)
    usage
    ;;
esac
