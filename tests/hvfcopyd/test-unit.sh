#!/bin/sh
# hvfcopyd.service: systemd accepts it (with the built hvfcopyd in
# ExecStart), it conflicts with the distributions' units for Linux's
# daemons, and its sandbox scores 2.0 or lower.
# usage: test-unit.sh SERVICE HVFCOPYD
set -eu
service=$1 hvfcopyd=$2
tmp=$(mktemp -d /tmp/hvfcopyd-unit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=[^ ]*/hvfcopyd |ExecStart=$hvfcopyd |" "$service" > "$tmp/hvfcopyd.service"
grep -q "^ExecStart=$hvfcopyd " "$tmp/hvfcopyd.service" || { echo "FAIL: no ExecStart to substitute" >&2; exit 1; }
cd "$tmp"
if ! systemd-analyze verify --man=no ./hvfcopyd.service > verify.out 2>&1 || [ -s verify.out ]; then
	echo "FAIL: systemd-analyze verify:" >&2
	cat verify.out >&2
	exit 1
fi
for unit in hv-fcopy-daemon.service hyperv-daemons.hv-fcopy-daemon.service hypervfcopyd.service hv_fcopy_daemon.service \
	hv_fcopy_uio_daemon.service; do
	grep -q "^Conflicts=.*$unit" hvfcopyd.service || { echo "FAIL: no Conflicts with $unit" >&2; exit 1; }
done
systemd-analyze security --offline=true ./hvfcopyd.service > security.out 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for hvfcopyd.service: \([0-9.]*\).*/\1/p' security.out)
[ -n "$score" ] || { echo "FAIL: no security score" >&2; cat security.out >&2; exit 1; }
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || { echo "FAIL: exposure $score > 2.0" >&2; exit 1; }
echo "ok: verified, exposure $score"
