#!/usr/bin/env bash
# Cargo runner for the firmware: qemu-run.sh ELF [args...]. The board follows the target (and,
# on Cortex-M0, the program):
#
#   thumbv7m-none-eabi                        → qemu-system-arm -M mps2-an385 (Cortex-M3)
#   thumbv7em-none-eabihf                     → qemu-system-arm -M mps2-an386 (Cortex-M4F)
#   thumbv6m-none-eabi, selftest and fault    → qemu-system-arm -M microbit (nRF51, Cortex-M0)
#   thumbv6m-none-eabi, net and net-large     → qemu-system-arm -M mps2-an385 (runs v6-M code)
#   riscv32imac-unknown-none-elf              → qemu-system-riscv32 -M virt -bios none, virtio-net
#
# On Arm, semihosting carries the firmware's output and exit status (0 = pass); on RISC-V the
# UART and the virt machine's test device do. The network programs (and the RISC-V self-test,
# which checks virtio-net against QEMU's gateway) get QEMU user networking, no root needed, with
# the host ports forwarded to 10.0.2.15:
#   TCP 127.0.0.1:${HOST_TCP_ECHO:-18000} → 8000 (upper-case echo)
#   TCP 127.0.0.1:${HOST_TCP_FRAMED:-19000} → 9000 (framed echo)
#   UDP 127.0.0.1:${HOST_UDP_ECHO:-18848} → 8848 (UDP echo)
#   UDP 127.0.0.1:${HOST_UDP_SINK:-18888} → 8888 (UDP sink)
# QEMU_NIC replaces that user network with another network backend of QEMU's, e.g.
# `tap,ifname=tap0,script=no,downscript=no` (how tests/qemu.rs reaches `net-ipv6` over IPv6:
# QEMU 7.2 forwards host ports to IPv4 guest addresses only). QEMU_MACHINE overrides the board;
# QEMU_EXTRA adds arguments.
set -euo pipefail
elf="$1"
shift
program=$(basename "$elf")
qemu=qemu-system-arm
case "$elf" in
*thumbv7em-none-eabihf*) machine=mps2-an386 ;;
*thumbv6m-none-eabi*)
  case "$program" in
  net*) machine=mps2-an385 ;;
  *) machine=microbit ;;
  esac
  ;;
*riscv32*) qemu=qemu-system-riscv32 machine=virt ;;
*) machine=mps2-an385 ;;
esac
machine="${QEMU_MACHINE:-$machine}"
fwd="hostfwd=tcp:127.0.0.1:${HOST_TCP_ECHO:-18000}-:8000"
fwd+=",hostfwd=tcp:127.0.0.1:${HOST_TCP_FRAMED:-19000}-:9000"
fwd+=",hostfwd=udp:127.0.0.1:${HOST_UDP_ECHO:-18848}-:8848"
fwd+=",hostfwd=udp:127.0.0.1:${HOST_UDP_SINK:-18888}-:8888"
nic="${QEMU_NIC:-user,$fwd}"
args=()
if [[ "$qemu" == qemu-system-riscv32 ]]; then
  # virtio-net on the virtio-mmio bus; the self-test needs the device but no forwarded ports.
  netdev="user,id=net0"
  [[ "$program" == net* ]] && netdev="$nic,id=net0"
  args=(-bios none -netdev "$netdev" -device virtio-net-device,netdev=net0)
else
  args=(-semihosting-config enable=on,target=native)
  [[ "$program" == net* ]] && args+=(-nic "$nic")
fi
# shellcheck disable=SC2086
exec "$qemu" -M "$machine" -nographic "${args[@]}" ${QEMU_EXTRA:-} -kernel "$elf" "$@"
