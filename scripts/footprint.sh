#!/usr/bin/env bash
# Footprint of the release firmware (firmware/), per mode, with and without logging, at
# opt-level "s" (the release profile) and "z".
#
#   flash = .vector_table + .text + .rodata + .data   (what is programmed)
#   RAM   = .data + .bss                              (static RAM; the stack comes on top)
#
# Usage: scripts/footprint.sh [--check] [--markdown] [--target TRIPLE] [--opt "s z"]
#   --check     exit 1 unless net mode, logging off, opt-level "s" fits the budget:
#               flash <= 32 KiB and RAM <= 24 KiB.
#   --markdown  print only the README's footprint table (needs opt-levels s and z), exactly as
#               the README has it; .ci/run checks that the README's table equals this output.
#               Sizes are deterministic for a given toolchain and Cargo.lock, so the toolchain
#               is pinned: FOOTPRINT_TOOLCHAIN (default below) with the target installed, e.g.
#               rustup toolchain install 1.95.0 --profile minimal --target thumbv7m-none-eabi
# Needs arm-none-eabi-size (Debian: binutils-arm-none-eabi) or llvm-size.
set -euo pipefail
checkout=$(cd "$(dirname "$0")/.." && pwd)
cd "$checkout/firmware"

# The compiler the README's figures were measured with; another one gives other sizes.
toolchain=${FOOTPRINT_TOOLCHAIN:-1.95.0}
check=0
markdown=0
target=thumbv7m-none-eabi
opts="s z"
while [[ $# -gt 0 ]]; do
  case "$1" in
  --check) check=1 ;;
  --markdown) markdown=1 ;;
  --target) target="$2"; shift ;;
  --opt) opts="$2"; shift ;;
  *) echo "usage: $0 [--check] [--markdown] [--target TRIPLE] [--opt \"s z\"]" >&2; exit 2 ;;
  esac
  shift
done

size_tool=$(command -v arm-none-eabi-size || command -v llvm-size || true)
if [[ -z "$size_tool" ]]; then
  echo "footprint: need arm-none-eabi-size (apt-get install binutils-arm-none-eabi) or llvm-size" >&2
  exit 1
fi

if ! rustup run "$toolchain" rustc --print target-libdir --target "$target" >/dev/null 2>&1 ||
  [[ ! -d "$(rustup run "$toolchain" rustc --print target-libdir --target "$target")" ]]; then
  echo "footprint: needs Rust $toolchain with $target:" \
    "rustup toolchain install $toolchain --profile minimal --target $target" >&2
  exit 1
fi

# Issue 5's budget: 32 KiB of flash and 24 KiB of RAM, for the log-off net build with every
# hostile-network defence of issue 9 in it (see the README's footprint section for what made
# room for them).
FLASH_BUDGET=$((32 * 1024))
RAM_BUDGET=$((24 * 1024))
status=0

if ((markdown)); then
  [[ " $opts " == *" s "* && " $opts " == *" z "* ]] || { echo "--markdown needs --opt \"s z\"" >&2; exit 2; }
  # The plain table goes to stderr; stdout carries only the markdown.
  exec 3>&1 1>&2
fi
declare -A FLASH RAM

printf '%-10s %-4s %-3s %8s %8s %8s %8s %8s %8s\n' mode log opt flash RAM .text .rodata .data .bss
for opt in $opts; do
  # "s" is the release profile itself; other levels build in their own target dir so the
  # normal release artifacts stay cached.
  if [[ "$opt" == s ]]; then
    tdir=target
  else
    tdir="target/footprint-opt-$opt"
  fi
  for log in on off; do
    features=()
    [[ "$log" == off ]] && features=(--features log-off)
    # Panic locations in the logging build embed source paths: drop the checkout's own prefix
    # (the registry's is dropped by .cargo/config.toml), so the sizes are the same wherever the
    # repository is cloned (CI's clone lives elsewhere than a developer's). Arrays given with
    # --config join the configuration's own rustflags.
    CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" cargo +"$toolchain" build -q --release --target "$target" \
      --target-dir "$tdir" --bins "${features[@]}" \
      --config "target.$target.rustflags=[\"--remap-path-prefix=$checkout/=\"]"
    # Each log setting gets its own copy: the two builds write the same file names.
    for mode in selftest net net-large; do
      elf="$tdir/$target/release/$mode"
      read -r vt text rodata data bss < <("$size_tool" -A "$elf" | awk '
        $1==".vector_table"{vt=$2} $1==".text"{t=$2} $1==".rodata"{r=$2}
        $1==".data"{d=$2} $1==".bss"{b=$2}
        END{print vt+0, t+0, r+0, d+0, b+0}')
      flash=$((vt + text + rodata + data))
      ram=$((data + bss))
      FLASH[$mode/$log/$opt]=$flash
      RAM[$mode/$log/$opt]=$ram
      printf '%-10s %-4s %-3s %8d %8d %8d %8d %8d %8d\n' \
        "$mode" "$log" "$opt" "$flash" "$ram" "$text" "$rodata" "$data" "$bss"
      if [[ "$mode" == net && "$log" == off && "$opt" == s ]]; then
        verdict="net/log-off/s: flash $flash B (budget $FLASH_BUDGET), RAM $ram B (budget $RAM_BUDGET)"
        if ((flash > FLASH_BUDGET || ram > RAM_BUDGET)); then
          verdict="$verdict: OVER BUDGET"
          status=1
        else
          verdict="$verdict: within budget"
        fi
      fi
    done
  done
done
echo "${verdict:-net/log-off/s not measured}"

# 30028 -> "30 028", the README's digit grouping.
group() { printf '%d' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\| \)/\1 \2\3/' -e 'ta'; }
if ((markdown)); then
  {
    echo '| mode | logging | flash, opt `s` | flash, opt `z` | RAM, opt `s` |'
    echo '|---|---|---|---|---|'
    for row in "net off" "net on" "net-large off" "net-large on" "selftest off" "selftest on"; do
      read -r mode log <<<"$row"
      name=$mode
      [[ "$mode/$log" == net/off ]] && name="net (TCP echo + framed echo + UDP echo/sink)"
      [[ "$mode/$log" == net-large/off ]] && name="net-large (the TAP server's limits)"
      printf '| %s | %s | %s | %s | %s |\n' "$name" "$log" "$(group "${FLASH[$mode/$log/s]}")" \
        "$(group "${FLASH[$mode/$log/z]}")" "$(group "${RAM[$mode/$log/s]}")"
    done
  } >&3
fi
if ((check)); then
  exit "$status"
fi
