#!/usr/bin/env bash
# Build a local base image for the Containerfile from Debian packages, for when the usual base image
# (docker.io/library/python:3.11-slim-bookworm) cannot be pulled: no registry, only a Debian mirror.
#
#   deploy/container/build-base.sh [--force] [IMAGE]          (IMAGE default: localhost/sre-bot-base:bookworm)
#
# debootstrap --variant=minbase bookworm + python3, python3-venv, ca-certificates, then `podman import`. The
# mirror is the one this machine's apt uses (override with MIRROR=...). An image already present is kept unless
# --force is given, so CI pays for debootstrap once per machine. Needs root, debootstrap and podman.
# Then: podman build --format docker --build-arg BASE=localhost/sre-bot-base:bookworm -f Containerfile .
set -euo pipefail

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
IMAGE="${1:-localhost/sre-bot-base:bookworm}"
SUITE="${SUITE:-bookworm}"

die() { echo "build-base.sh: $*" >&2; exit 1; }

# The first Debian (not security) mirror apt is configured with: deb822 sources, then the one-line format.
apt_mirror() {
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v -- '-security' | head -n 1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
            awk '{for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' |
            grep -v -- '-security' | head -n 1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR="${MIRROR:-$(apt_mirror)}"

command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install -y debootstrap)"
command -v podman >/dev/null || die "podman is missing (apt-get install -y podman)"
[ "$(id -u)" = 0 ] || die "debootstrap needs root"

if [ "$force" = 0 ] && podman image exists "$IMAGE"; then
    echo "base image $IMAGE already present (--force rebuilds it)"
    exit 0
fi

root=$(mktemp -d /var/tmp/sre-bot-base.XXXXXX)
cleanup() { rm -rf --one-file-system "$root"; }
trap cleanup EXIT

echo "debootstrap $SUITE from $MIRROR into $root"
start=$SECONDS
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$SUITE" "$root" "$MIRROR" \
    >"$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed"; }
rm -f "$root.log"

# What an image does not need: downloaded .debs, package lists, docs, man pages, locales other than C.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
# The image's apt points at the same mirror; no host proxy or credentials are copied in.
printf 'deb %s %s main\n' "$MIRROR" "$SUITE" >"$root/etc/apt/sources.list"
chroot "$root" python3 -c 'import ensurepip, ssl, venv' || die "python3 (with venv, ensurepip, ssl) does not run in the new root"

tar --numeric-owner --xattrs -C "$root" -c . |
    podman import --quiet --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' \
        --message "debootstrap $SUITE minbase + python3 python3-venv ca-certificates ($MIRROR)" - "$IMAGE" >/dev/null
echo "built $IMAGE in $((SECONDS - start)) s: $(podman image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=iec)B"
