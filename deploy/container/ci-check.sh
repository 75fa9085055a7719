#!/usr/bin/env bash
# CI check of the container image: build it, start it, see it answer /healthz, then remove it.
#
#   deploy/container/ci-check.sh                    (as root on Debian bookworm; from anywhere in the checkout)
#
# (a) installs podman, buildah, runc and debootstrap when missing; (b) pulls the Containerfile's default base, or
# when no registry answers builds a local one from Debian packages (build-base.sh, kept for the next run);
# (c) builds the image (docker format, so HEALTHCHECK is kept); (d) runs it with runc in Slack HTTP mode (a signing
# secret and a bot token that point nowhere: enough to start, nothing leaves the machine) the way the Helm chart
# does: read-only root filesystem, a volume on /var/lib/sre-bot; (e) waits for /healthz to answer 200 from the
# host, checks it runs as the image's fixed non-root UID, that its SQLite store is in the volume and that the image
# has a HEALTHCHECK that passes; (f) stops it (a clean exit on SIGTERM) and removes it and its volume. Any failure
# exits 1 and says which step.
#
# Environment: IMAGE (default localhost/sre-bot:ci), BASE (skip (b) and use this base), CONTAINERS_CONF (else a
# temporary one: runc, cgroupfs, no default ulimits), PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / PIP_CERT (else pip's
# own config): handed to the build stage as secrets, never kept in a layer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DEFAULT_BASE=docker.io/library/python:3.11-slim-bookworm
LOCAL_BASE=localhost/sre-bot-base:bookworm
IMAGE="${IMAGE:-localhost/sre-bot:ci}"
EXPECTED_UID=10001
NAME="sre-bot-ci-$$"
VOLUME="sre-bot-ci-data-$$"

T0=$SECONDS
step() { printf -- '-- [%3ds] %s\n' "$((SECONDS - T0))" "$*"; }
fail() { printf 'ci-check: FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d /tmp/sre-bot-ci.XXXXXX)
started=0
cleanup() {
    if [ "$started" = 1 ]; then
        podman rm -f -t 2 "$NAME" >/dev/null 2>&1 || true
        podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# ---- (a) tools ---------------------------------------------------------------------------------------------------
missing=()
for tool in podman buildah runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
    step "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || fail "apt-get update"
    apt-get install -y -q podman buildah runc debootstrap </dev/null >"$work/apt.log" 2>&1 ||
        { tail -n 20 "$work/apt.log" >&2; fail "apt-get install podman buildah runc debootstrap"; }
fi
step "$(podman --version), $(buildah --version | cut -d' ' -f1-3), $(runc --version | sed -n 1p)"

if [ -z "${CONTAINERS_CONF:-}" ]; then
    # No systemd here: cgroupfs; the runtime's ulimit defaults do not apply in every sandbox; runc is the runtime.
    cat >"$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF
    export CONTAINERS_CONF="$work/containers.conf"
fi
if ! podman info >"$work/info.log" 2>&1; then
    # overlay is the default and works where the kernel allows it; vfs (slower, bigger) works everywhere.
    step "podman info failed with the default storage ($(tail -n 1 "$work/info.log")); using vfs"
    printf '[storage]\ndriver = "vfs"\ngraphroot = "/var/lib/containers/storage-vfs"\nrunroot = "/run/containers/storage-vfs"\n' \
        >"$work/storage.conf"
    export CONTAINERS_STORAGE_CONF="$work/storage.conf"
    podman info >"$work/info.log" 2>&1 || { cat "$work/info.log" >&2; fail "podman info (vfs storage)"; }
fi
step "storage driver: $(podman info --format '{{.Store.GraphDriverName}}')"

# ---- (b) base image ----------------------------------------------------------------------------------------------
if [ -n "${BASE:-}" ]; then
    step "base $BASE (given)"
elif podman image exists "$DEFAULT_BASE" || timeout 180 podman pull -q "$DEFAULT_BASE" >"$work/pull.log" 2>&1; then
    BASE=$DEFAULT_BASE
    step "base $BASE"
else
    step "cannot pull $DEFAULT_BASE ($(tail -n 1 "$work/pull.log" | cut -c1-160)); local base $LOCAL_BASE"
    deploy/container/build-base.sh "$LOCAL_BASE" || fail "building the local base image (build-base.sh)"
    BASE=$LOCAL_BASE
fi

# ---- (c) build ---------------------------------------------------------------------------------------------------
pip_setting() {  # the environment's value, else pip's config (global.*), as the host's pip sees it
    local env_name=$1 key=$2 value=${!1:-} py
    if [ -z "$value" ]; then
        for py in .venv/bin/python python3; do
            value=$("$py" -m pip config get "global.$key" 2>/dev/null) && break || value=""
        done
    fi
    printf '%s' "$value"
}
# Only http(s) indexes can be reached from inside the build; file:// ones are this machine's.
urls() { tr ' ' '\n' | grep -E '^https?://' | paste -sd ' ' || true; }
index=$(pip_setting PIP_INDEX_URL index-url | urls)
extra=$(pip_setting PIP_EXTRA_INDEX_URL extra-index-url | urls)
{
    echo "[global]"
    if [ -n "$index" ]; then echo "index-url = $index"; fi
    if [ -n "$extra" ]; then echo "extra-index-url = $extra"; fi
} >"$work/pip.conf"
cert=$(pip_setting PIP_CERT cert)
[ -n "$cert" ] && [ -s "$cert" ] || cert=/etc/ssl/certs/ca-certificates.crt
[ -s "$cert" ] || { : >"$work/empty.pem"; cert="$work/empty.pem"; }

step "building $IMAGE (base $BASE; index: ${index:-PyPI}${extra:+, extra: $extra}; CA bundle: $cert)"
build_start=$SECONDS
if ! podman build --format docker --runtime runc --build-arg "BASE=$BASE" \
        --secret "id=pipconf,src=$work/pip.conf" --secret "id=pipcert,src=$cert" \
        -t "$IMAGE" -f Containerfile . >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    fail "podman build"
fi
cached=$(grep -c -- '--> Using cache' "$work/build.log" || true)
step "built in $((SECONDS - build_start)) s ($cached steps from cache): $(podman image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=iec)B"

user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
healthcheck=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
[ "${user%%:*}" = "$EXPECTED_UID" ] || fail "the image's USER is '$user', not $EXPECTED_UID"
[[ "$healthcheck" == *"/healthz"* ]] || fail "the image has no HEALTHCHECK on /healthz (inspect: $healthcheck)"
step "image: USER $user, HEALTHCHECK $(printf '%s' "$healthcheck" | cut -c1-90)…"

# ---- (d) run -----------------------------------------------------------------------------------------------------
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# --health-interval disable: no systemd here to time the checks; (e) runs the image's HEALTHCHECK itself.
podman run -d --runtime runc --name "$NAME" --network host --health-interval disable \
    --read-only --mount "type=volume,source=$VOLUME,target=/var/lib/sre-bot" \
    -e SRE_BOT_HTTP_PORT="$port" \
    -e SLACK_BOT_TOKEN=xoxb-ci-not-a-real-token -e SLACK_SIGNING_SECRET=ci-signing-secret \
    -e SLACK_API_URL=http://127.0.0.1:9/api/ \
    "$IMAGE" >"$work/run.log" 2>&1 || { cat "$work/run.log" >&2; fail "podman run"; }
started=1
step "started $NAME (--network host, SRE_BOT_HTTP_PORT=$port, read-only root, volume $VOLUME)"

# ---- (e) checks --------------------------------------------------------------------------------------------------
http_status() {  # the HTTP status of a GET, 000 when nothing answers (python3: curl is not always installed)
    python3 - "$1" <<'PY' 2>/dev/null || echo 000
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}
logs() { echo "---- podman logs $NAME (last 30 lines)" >&2; podman logs --tail 30 "$NAME" >&2 || true; }
code=000
for _ in $(seq 1 120); do
    code=$(http_status "http://127.0.0.1:$port/healthz")
    [ "$code" = 200 ] && break
    if [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" != true ]; then
        logs; fail "the container exited before /healthz answered ($(podman inspect --format '{{.State.ExitCode}}' "$NAME"))"
    fi
    sleep 0.5
done
[ "$code" = 200 ] || { logs; fail "/healthz on 127.0.0.1:$port did not answer 200 within 60 s (last: $code)"; }
step "GET http://127.0.0.1:$port/healthz -> 200"

uid=$(podman exec "$NAME" id -u) || fail "podman exec id -u"
[ "$uid" != 0 ] || fail "the bot runs as root"
[ "$uid" = "$EXPECTED_UID" ] || fail "the bot runs as uid $uid, not $EXPECTED_UID"
podman exec "$NAME" test -s /var/lib/sre-bot/sre-bot.db || fail "no SQLite store in the volume (/var/lib/sre-bot)"
step "runs as uid $uid; its store is /var/lib/sre-bot/sre-bot.db on the volume"

podman healthcheck run "$NAME" >"$work/hc.log" 2>&1 || { cat "$work/hc.log" >&2; logs; fail "the HEALTHCHECK command fails"; }
step "HEALTHCHECK passes: $(podman inspect --format '{{.State.Health.Status}}' "$NAME" 2>/dev/null || echo '?')"

# ---- (f) stop and remove -----------------------------------------------------------------------------------------
# (podman 4.3 without systemd complains on stderr that it cannot remove a healthcheck timer: kept in stop.log.)
podman stop -t 20 "$NAME" >"$work/stop.log" 2>&1 || { cat "$work/stop.log" >&2; fail "podman stop"; }
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$exit_code" = 0 ] || { logs; fail "the bot exited $exit_code on SIGTERM (expected a clean 0)"; }
podman rm "$NAME" >>"$work/stop.log" 2>&1 || { cat "$work/stop.log" >&2; fail "podman rm"; }
podman volume rm "$VOLUME" >>"$work/stop.log" 2>&1 || { cat "$work/stop.log" >&2; fail "podman volume rm"; }
started=0
step "stopped cleanly on SIGTERM (exit 0); container and volume removed"
echo "ci-check: OK in $((SECONDS - T0)) s ($IMAGE from $BASE)"
