#!/bin/sh
# The systemd units: systemd-analyze verify accepts them (with the built
# hvkvpd in ExecStart), and the sandbox scores 2.0 or lower.
# usage: test-units.sh SERVICE SOCKET HVKVPD
set -eu
service=$1 socket=$2 hvkvpd=$3
tmp=$(mktemp -d /tmp/hvuio-units-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=\(@\{0,1\}\)[^ ]*/hvkvpd |ExecStart=\1$hvkvpd |" "$service" > "$tmp/hvkvpd.service"
cp "$socket" "$tmp/hvkvpd.socket"
grep -q "^ExecStart=@\{0,1\}$hvkvpd " "$tmp/hvkvpd.service" || { echo "FAIL: no ExecStart to substitute" >&2; exit 1; }
cd "$tmp"
if ! systemd-analyze verify --man=no ./hvkvpd.service ./hvkvpd.socket > verify.out 2>&1 ||
	[ -s verify.out ]; then
	echo "FAIL: systemd-analyze verify:" >&2
	cat verify.out >&2
	exit 1
fi
systemd-analyze security --offline=true ./hvkvpd.service > security.out 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for hvkvpd.service: \([0-9.]*\).*/\1/p' security.out)
if [ -z "$score" ]; then
	echo "FAIL: no score from systemd-analyze security:" >&2
	cat security.out >&2
	exit 1
fi
echo "exposure $score"
awk -v s="$score" 'BEGIN { exit !(s + 0 <= 2.0) }' || {
	echo "FAIL: exposure $score is above 2.0" >&2
	grep '✗' security.out >&2 || true
	exit 1
}
# What the issue names, present as written.
for want in 'Type=notify' 'ConditionVirtualization=microsoft' 'Before=.*cloud-init-local.service' \
	'Conflicts=.*hv-kvp-daemon.service' 'Conflicts=.*hypervkvpd.service' \
	'Conflicts=.*hv_kvp_daemon.service' 'StateDirectory=hyperv' 'RuntimeDirectory=hvkvpd' \
	'ProtectSystem=strict' 'NoNewPrivileges=yes' '^CapabilityBoundingSet=$' \
	'RestrictAddressFamilies=AF_UNIX AF_NETLINK' '^SystemCallFilter=' '^DeviceAllow='; do
	grep -q "$want" hvkvpd.service || { echo "FAIL: hvkvpd.service lacks $want" >&2; exit 1; }
done
