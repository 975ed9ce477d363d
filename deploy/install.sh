#!/bin/bash
# Install Shoal on Debian 12, as root: Debian packages, a virtualenv with
# Shoal in it, and virtlogd/libvirtd running. Safe to run again.
#
#   deploy/install.sh                  libvirtd in the host's network namespace
#   deploy/install.sh --netns NAME     libvirtd inside namespace NAME (made if
#                                      absent), so droplet bridges stay in it
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SHOAL_VENV:-/opt/shoal/venv}"
NETNS=""

while [ $# -gt 0 ]; do
    case "$1" in
        --netns) NETNS="$2"; shift 2 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

PACKAGES=(
    # hypervisor
    libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
    dnsmasq-base iptables iproute2 ovmf
    # droplet network filters: libvirt's stock filters, which Shoal's own
    # build on, run as ebtables rules (ebtables-nft comes with iptables)
    libvirt-daemon-config-nwfilter
    # building libvirt-python into the virtualenv
    libvirt-dev pkg-config gcc python3-dev python3-venv
    # building the Debian test image and the KVM probe kit
    mmdebstrap grub-pc-bin e2fsprogs fdisk busybox-static cpio
    # the demo and the end-to-end tests talk to guests over SSH
    openssh-client curl
    # password_reset hashes the new root password (openssl passwd -6)
    openssl
    # the tests check seed ISOs with a second ISO reader (isoinfo) and
    # build a hand-made seed for the image boot test
    genisoimage
)

log() { echo "install: $*" >&2; }

install_packages() {
    local missing=()
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$package")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "Debian packages present"
        return
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

install_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null
    "$VENV/bin/pip" install -q -e "$REPO[test]"
    ln -sf "$VENV/bin/shoal" /usr/local/bin/shoal
    log "virtualenv ready at $VENV ($("$VENV/bin/python" --version))"
}

running() {
    # A daemon counts as running when its pid file names a live process.
    local pidfile="$1"
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

init_manages_libvirt() {
    [ -d /run/systemd/system ] && systemctl is-active -q libvirtd 2>/dev/null
}

netns_of() {
    readlink "/proc/$1/ns/net"
}

ensure_netns() {
    ip netns list | grep -qw "^$NETNS" || ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
}

start_daemons() {
    if init_manages_libvirt && [ -z "$NETNS" ]; then
        log "libvirtd is managed by systemd"
        return
    fi
    running /run/virtlogd.pid || virtlogd -d

    local exec=()
    if [ -n "$NETNS" ]; then
        ensure_netns
        exec=(ip netns exec "$NETNS")
    fi
    if running /run/libvirtd.pid; then
        local want
        want="$("${exec[@]}" readlink /proc/self/ns/net)"
        if [ "$(netns_of "$(cat /run/libvirtd.pid)")" = "$want" ]; then
            log "libvirtd already running here"
            return
        fi
        if [ "${SHOAL_RESTART_LIBVIRTD:-0}" != "1" ]; then
            log "libvirtd runs in another network namespace than ${NETNS:-the host namespace};"
            log "stop it, or set SHOAL_RESTART_LIBVIRTD=1 to let this script restart it"
            exit 1
        fi
        log "restarting libvirtd in ${NETNS:-the host namespace}"
        kill "$(cat /run/libvirtd.pid)"
        for _ in $(seq 50); do running /run/libvirtd.pid || break; sleep 0.2; done
    fi
    "${exec[@]}" libvirtd -d
    for _ in $(seq 100); do
        virsh -q -c qemu:///system version >/dev/null 2>&1 && break
        sleep 0.2
    done
    log "libvirtd started${NETNS:+ in network namespace $NETNS}"
}

kvm_device_access() {
    # udev gives /dev/kvm to the kvm group (mode 0660) on a normal host; a
    # machine without udev leaves it root-only. libvirt then finds KVM
    # "not available" to its QEMU user yet enabled in its own probe, calls
    # its capability cache stale and probes QEMU again on every lookup,
    # which made each domain define take up to a minute here.
    [ -c /dev/kvm ] && getent group kvm >/dev/null || return 0
    if [ -z "$(find /dev/kvm -group kvm -perm -g=rw)" ]; then
        chgrp kvm /dev/kvm
        chmod g+rw /dev/kvm
        log "/dev/kvm given to the kvm group, as udev would"
    fi
}

prepare_probe_kit() {
    # The virt-type probe boots this kit; it is fetched here, outside any
    # network namespace, because droplet namespaces have no way out.
    "$VENV/bin/python" -m shoal.images.probe_kit >/dev/null
}

install_packages
install_venv
prepare_probe_kit
kvm_device_access
start_daemons
