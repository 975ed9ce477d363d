#!/bin/bash
# From nothing to a droplet that ran its user_data, as root on Debian 12:
# install, build the Debian 12 image (cached), start Shoal with its droplet
# network inside the network namespace "shoal-lab", create a droplet through
# the DigitalOcean API with a fresh SSH key and a user_data script, and read
# the script's output back over SSH.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NETNS="${SHOAL_NETNS:-shoal-lab}"
STATE="${SHOAL_STATE_DIR:-/var/lib/shoal-lab}"
LISTEN="127.0.0.1:8080"
export SHOAL_CONFIG="$STATE/shoal.yaml"

log() { echo "quickstart: $*" >&2; }
in_lab() { ip netns exec "$NETNS" "$@"; }

"$REPO/deploy/install.sh" --netns "$NETNS"

mkdir -p "$STATE"
if [ ! -f "$SHOAL_CONFIG" ]; then
    # Guests stay on the bridge: nothing is routed out of the namespace.
    cat >"$SHOAL_CONFIG" <<YAML
state_dir: $STATE
listen: "$LISTEN"
network:
  forward: none
YAML
fi

log "building the debian-12-x64 image (cached under /var/cache/shoal)"
shoal image build debian-12-x64

if ! in_lab curl -fs "http://$LISTEN/v2/regions" -o /dev/null -w '%{http_code}' \
        2>/dev/null | grep -q 401; then
    log "starting shoal serve in namespace $NETNS (log: $STATE/serve.log)"
    in_lab nohup shoal serve >"$STATE/serve.log" 2>&1 &
    for _ in $(seq 150); do
        in_lab curl -s -o /dev/null "http://$LISTEN/v2/regions" && break
        sleep 0.2
    done
fi

TOKEN="$(shoal token create --name quickstart)"
in_lab env SHOAL_API="http://$LISTEN" SHOAL_TOKEN="$TOKEN" SHOAL_DEMO_DIR="$STATE/demo" \
    /opt/shoal/venv/bin/python "$REPO/deploy/demo.py"
