#!/bin/bash
# Run Shoal's whole test suite, as root on Debian 12: install what is
# missing, start libvirtd inside a network namespace made for the run, and
# run pytest inside that namespace, so droplet bridges and guests never
# touch the host's own networking. Extra arguments go to pytest.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NETNS="${SHOAL_TEST_NETNS:-shoal-test}"
VENV="${SHOAL_VENV:-/opt/shoal/venv}"

"$REPO/deploy/install.sh" --netns "$NETNS"

# Built (or found in /var/cache/shoal) here, where apt's mirror is
# reachable; the namespace the tests run in has no way out.
"$VENV/bin/python" -m shoal.images.builder debian-12-x64 >/dev/null
# The variant whose cloud-init reads only the metadata service (no seed).
"$VENV/bin/python" -m shoal.images.builder debian-12-x64-do >/dev/null

cd "$REPO"
export SHOAL_E2E=1
# One run at a time per host: runs share libvirtd and the namespace.
exec flock /run/shoal-test.lock \
    ip netns exec "$NETNS" "$VENV/bin/pytest" -p no:cacheprovider "$@"
