#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian 12 machine with
# rustup. Idempotent; run by .ci/run and usable by people.
set -euo pipefail

need_apt=()
command -v qemu-system-aarch64 >/dev/null || need_apt+=(qemu-system-arm)
command -v aarch64-linux-gnu-readelf >/dev/null || need_apt+=(binutils-aarch64-linux-gnu)
# The net driver's TAP test: ip netns and ping.
command -v ip >/dev/null || need_apt+=(iproute2)
command -v ping >/dev/null || need_apt+=(iputils-ping)
# The network server's tests and benchmark: the real curl and wrk.
command -v curl >/dev/null || need_apt+=(curl)
command -v wrk >/dev/null || need_apt+=(wrk)
# The disk image of `cargo xtask run` and the file system tests: mkfs.fat,
# fsck.fat (dosfstools), mcopy and mdir (mtools).
command -v mkfs.fat >/dev/null || need_apt+=(dosfstools)
command -v mcopy >/dev/null || need_apt+=(mtools)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
    else
        echo "ci/setup.sh: please install: ${need_apt[*]}" >&2
    fi
fi

# The seL4 target for the PD cross-build. rustup's target where it installs;
# otherwise Debian's rustc-web with build-std (see xtask's sel4 build).
if command -v rustup >/dev/null && rustup target add aarch64-unknown-none >/dev/null 2>&1; then
    echo "ci/setup.sh: rustup target aarch64-unknown-none ready"
elif [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web cargo-web rust-web-src >/dev/null
    echo "ci/setup.sh: using Debian's rustc-web with build-std for aarch64-unknown-none"
fi

# The host kernel schedules PDs of equal priority round-robin (SCHED_RR), as
# seL4 does with turns of a budget; Linux's turns are 100 ms by default, long
# enough for a driver that hangs to keep another driver of its priority off
# the CPU until that driver's server complains about it. 8 ms is the drivers'
# budget in system.xml. Only real-time round-robin threads use this setting.
if [ "$(id -u)" = 0 ] && [ -w /proc/sys/kernel/sched_rr_timeslice_ms ]; then
    if echo 8 2>/dev/null > /proc/sys/kernel/sched_rr_timeslice_ms; then
        echo "ci/setup.sh: SCHED_RR turns of 8 ms (kernel.sched_rr_timeslice_ms)"
    fi
fi
