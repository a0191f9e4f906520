#!/usr/bin/env bash
# Cargo runner for the MPS2 firmware: qemu-run.sh ELF [args...]
#
#   thumbv7m-none-eabi   → -M mps2-an385 (Cortex-M3)
#   thumbv7em-none-eabihf → -M mps2-an386 (Cortex-M4F)
#
# Semihosting carries the firmware's output and exit status (0 = pass). The `net` binary also
# gets QEMU user networking with the host ports forwarded to 10.0.2.15 (no root needed):
#   TCP 127.0.0.1:${HOST_TCP_ECHO:-18000} → 8000 (upper-case echo)
#   TCP 127.0.0.1:${HOST_TCP_FRAMED:-19000} → 9000 (framed echo)
#   UDP 127.0.0.1:${HOST_UDP_ECHO:-18848} → 8848 (UDP echo)
#   UDP 127.0.0.1:${HOST_UDP_SINK:-18888} → 8888 (UDP sink)
# QEMU_MACHINE overrides the board; QEMU_EXTRA adds arguments.
set -euo pipefail
elf="$1"
shift
case "$elf" in
*thumbv7em-none-eabihf*) machine=mps2-an386 ;;
*) machine=mps2-an385 ;;
esac
machine="${QEMU_MACHINE:-$machine}"
net=()
if [[ "$(basename "$elf")" == net* ]]; then
  fwd="hostfwd=tcp:127.0.0.1:${HOST_TCP_ECHO:-18000}-:8000"
  fwd+=",hostfwd=tcp:127.0.0.1:${HOST_TCP_FRAMED:-19000}-:9000"
  fwd+=",hostfwd=udp:127.0.0.1:${HOST_UDP_ECHO:-18848}-:8848"
  fwd+=",hostfwd=udp:127.0.0.1:${HOST_UDP_SINK:-18888}-:8888"
  net=(-nic "user,$fwd")
fi
# shellcheck disable=SC2086
exec qemu-system-arm -M "$machine" -nographic \
  -semihosting-config enable=on,target=native \
  "${net[@]}" ${QEMU_EXTRA:-} -kernel "$elf" "$@"
