#!/bin/sh
# hvdump against hvsim: it prints the host's first packet (the version
# negotiation), which it never answers, and exits with status 2 and a
# message when the host gives up and rescinds the device.
set -eu
hvsim=$1 hvdump=$2
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "test-hvdump: $*" >&2; exit 1; }

# A wrong command line is refused before anything is opened.
"$hvdump" --count x kvp 2>/dev/null && fail "--count x accepted"
"$hvdump" 2>/dev/null && fail "no device accepted"
mkdir "$tmp/empty"
"$hvdump" --root "$tmp/empty" kvp 2>"$tmp/err" && fail "missing device opened"
grep -q 'No such file' "$tmp/err" || fail "missing device: $(cat "$tmp/err")"

mkdir "$tmp/root"
# hvsim waits for the guest, negotiates, and gives up after a second.
printf 'send kvp 00\nrescind\n' > "$tmp/script"
"$hvsim" --root "$tmp/root" --script "$tmp/script" --timeout 1 --device kvp \
	>"$tmp/hvsim.out" 2>&1 &
pid=$!
i=0
while [ ! -S "$tmp/root/dev/uio0" ]; do
	i=$((i + 1))
	[ $i -lt 500 ] || fail "hvsim made no device"
	sleep 0.01
done

status=0
"$hvdump" --root "$tmp/root" --timeout 20 '[data exchange]' >"$tmp/out" 2>"$tmp/err" ||
	status=$?
[ "$status" -eq 2 ] || fail "exit status $status, expected 2: $(cat "$tmp/err")"
grep -q 'rescinded' "$tmp/err" || fail "no rescind message: $(cat "$tmp/err")"
grep -q '(sim), channel' "$tmp/out" || fail "no device line: $(cat "$tmp/out")"
grep -q '^packet 1: type 6 flags 0x0001 ' "$tmp/out" || fail "no packet: $(cat "$tmp/out")"
# The pipe header's flags and size, then the IC header: xxd's layout.
grep -q '^  00000000: 0100 0000 ' "$tmp/out" || fail "no hex dump: $(cat "$tmp/out")"
[ "$(grep -c '^packet' "$tmp/out")" -eq 1 ] || fail "more than one packet"
echo "test-hvdump: ok"
