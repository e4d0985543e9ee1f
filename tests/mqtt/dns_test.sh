#!/usr/bin/env bash
# dns_test.sh TEST_BINARY SOURCE_DIR
# Runs mqtt_link_dns_tests inside a network namespace made for it: only loopback, and a
# resolv.conf (ip netns exec mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf)
# that names 127.0.0.1, where the test program serves DNS itself: late, or never. Also a
# CA and a server certificate for the name broker.tierd.test. The namespace and the files
# are removed on exit. Needs root and `ip netns`; otherwise it says why and skips (77).
set -euo pipefail
bin=$1 source_dir=$2
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root to make a network namespace"; exit 77; fi
if ! command -v ip >/dev/null; then echo "SKIP: no ip (iproute2)"; exit 77; fi
ns=tierd-dns-$$
work=$(mktemp -d)
made_netns_dir=0
[ -d /etc/netns ] || made_netns_dir=1
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns" "$work"
    if [ "$made_netns_dir" = 1 ]; then rmdir /etc/netns 2>/dev/null || true; fi
}
trap cleanup EXIT
if ! ip netns add "$ns" 2>"$work/netns.err"; then
    echo "SKIP: ip netns add failed: $(cat "$work/netns.err")"
    exit 77
fi
mkdir -p "/etc/netns/$ns"
# One try of 3 s per query: an agent on the old code froze for that long per attempt.
printf 'nameserver 127.0.0.1\noptions timeout:3 attempts:1\n' >"/etc/netns/$ns/resolv.conf"
ip netns exec "$ns" ip link set lo up
. "$source_dir/tests/security/lib-security.sh"
make_pki "$work/pki" "DNS:broker.tierd.test"
TIERD_TEST_DNS_NAMESPACE=1 TIERD_TEST_PKI="$work/pki" ip netns exec "$ns" "$bin"
