#!/bin/sh
# hvctl devices, bind and unbind against copies of the recorded trees:
# the listings must equal the expected files, the errors must name their
# cause and exit with the documented status.
# usage: test-hvctl.sh HVCTL TREES EXPECTED
set -eu
hvctl=$1 trees=$2 expected=$3
tmp=$(mktemp -d /tmp/hvuio-hvctl-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

KVP=242ff919-07db-4180-9c2e-b86cb68c8c55
NIC=d34b2567-b9b6-42b9-8778-0a4ec0b955bf

copy() { # tree -> a fresh copy with its ring files, path on stdout
	d=$tmp/$1.$$.$(date +%N)
	mkdir -p "$d"
	cp -a "$trees/$1/." "$d"
	case $1 in
	kvp-uio) truncate -s 4202496 "$d/sys/bus/vmbus/devices/$KVP/channels/14/ring" ;;
	nic-uio) for r in 15 32 33; do
			truncate -s 4194304 "$d/sys/bus/vmbus/devices/$NIC/channels/$r/ring"
		done ;;
	nic-uio-6.9) truncate -s 4194304 \
		"$d/sys/bus/vmbus/devices/4bc4e1f0-9c53-4d4b-a0e4-6e9b3c2f5a71/channels/16/ring" ;;
	esac
	echo "$d"
}

bad() { echo "FAIL: $*" >&2; fail=1; }

# check NAME STATUS CMD...: run, keep stdout/stderr, compare the status.
check() {
	name=$1 want=$2
	shift 2
	set +e
	"$@" > "$tmp/out" 2> "$tmp/err"
	got=$?
	set -e
	[ "$got" -eq "$want" ] || bad "$name: exit $got, want $want ($(cat "$tmp/err"))"
}

same() { # name file expected-file
	if ! diff -u "$3" "$2" >&2; then bad "$1: output differs from $3"; fi
}

for t in kvp-hv_utils kvp-uio nic-uio nic-uio-6.9; do
	root=$(copy $t)
	for v in "" -v -vv; do
		check "devices $t $v" 0 "$hvctl" devices --root "$root" $v
		sed "s|$root|ROOT|g" "$tmp/out" > "$tmp/out.sed"
		same "devices $t $v" "$tmp/out.sed" "$expected/$t$v.txt"
		[ ! -s "$tmp/err" ] || bad "devices $t $v wrote to stderr"
	done
	check "devices $t --json" 0 "$hvctl" --root "$root" devices --json
	# Compared as data: json-c versions differ in white space.
	python3 -c 'import json, sys
sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
		"$tmp/out" "$expected/$t.json" || bad "devices $t --json differs from $t.json"
done

# No VMBus at all: said, not an empty listing.
mkdir "$tmp/empty"
check "devices no vmbus" 1 "$hvctl" --root "$tmp/empty" devices
[ ! -s "$tmp/out" ] || bad "devices without a VMBus printed a listing"
grep -q "not a Hyper-V guest, or the hv_vmbus module is not loaded" "$tmp/err" ||
	bad "devices without a VMBus: $(cat "$tmp/err")"
check "json no vmbus" 1 "$hvctl" --root "$tmp/empty" devices --json
# A VMBus without devices lists nothing, successfully.
mkdir -p "$tmp/empty/sys/bus/vmbus/devices"
check "devices empty" 0 "$hvctl" --root "$tmp/empty" devices
[ ! -s "$tmp/out" ] || bad "devices on an empty bus printed something"
check "json empty" 0 "$hvctl" --root "$tmp/empty" devices --json
[ "$(tr -d ' \n' < "$tmp/out")" = '{"devices":[]}' ] || bad "json empty: $(cat "$tmp/out")"

# A malformed tree is an error, not a listing.
root=$(copy kvp-uio)
echo garbage > "$root/sys/bus/vmbus/devices/$KVP/uio/uio0/maps/map0/size"
check "malformed" 3 "$hvctl" --root "$root" devices
grep -q "malformed" "$tmp/err" || bad "malformed: $(cat "$tmp/err")"

# Usage.
check "no command" 2 "$hvctl"
grep -q "^usage: hvctl \[--root DIR\] devices" "$tmp/err" || bad "usage text: $(cat "$tmp/err")"
check "unknown command" 2 "$hvctl" frobnicate
check "unknown option" 2 "$hvctl" devices --frob
check "bind without device" 2 "$hvctl" bind
check "unbind --driver" 2 "$hvctl" unbind --driver x "$KVP"
check "bad driver name" 2 "$hvctl" --root "$trees/kvp-uio" bind --driver ../x "$KVP"
grep -q "invalid driver name" "$tmp/err" || bad "bad driver name: $(cat "$tmp/err")"
check "help" 0 "$hvctl" --help
grep -q "hvctl \[--root DIR\] unbind DEVICE" "$tmp/out" || bad "help: $(cat "$tmp/out")"

# Binding errors name the cause and the fix.
root=$(copy kvp-hv_utils)
check "module missing" 3 "$hvctl" --root "$root" bind "$KVP"
grep -qx "hvctl: uio_hv_generic is not loaded: modprobe uio_hv_generic" "$tmp/err" ||
	bad "module missing: $(cat "$tmp/err")"
mkdir "$root/sys/bus/vmbus/drivers/uio_hv_generic"
for f in bind unbind new_id; do : > "$root/sys/bus/vmbus/drivers/uio_hv_generic/$f"; done
check "old kernel" 3 "$hvctl" --root "$root" bind "Data Exchange"
grep -q "Linux 6.10 or later is needed to bind integration services to uio_hv_generic" \
	"$tmp/err" || bad "old kernel: $(cat "$tmp/err")"
check "no such device" 1 "$hvctl" --root "$root" bind 00000000-0000-0000-0000-000000000000
grep -q "no device" "$tmp/err" || bad "no such device: $(cat "$tmp/err")"
check "no such class" 1 "$hvctl" --root "$root" bind "Synthetic mouse"

# By class name, on a new enough kernel: unbind, driver_override, bind.
echo 6.10.0 > "$root/proc/sys/kernel/osrelease"
check "bind by class name" 0 "$hvctl" --root "$root" bind "[data exchange]"
[ "$(cat "$root/sys/bus/vmbus/drivers/hv_utils/unbind")" = "$KVP" ] || bad "unbind not written"
[ "$(cat "$root/sys/bus/vmbus/devices/$KVP/driver_override")" = uio_hv_generic ] ||
	bad "driver_override not written"
[ "$(cat "$root/sys/bus/vmbus/drivers/uio_hv_generic/bind")" = "$KVP" ] || bad "bind not written"
# The instance GUID may be given in braces and upper case.
check "bind by braced instance" 0 "$hvctl" --root "$root" bind --driver hv_utils \
	"{$(echo $KVP | tr a-f A-F)}"

# Several devices of one class: the instance GUID is needed.
root=$(copy kvp-hv_utils)
echo '{a9a0f4e7-5a45-4d96-b827-8a841e8c03e6}' > \
	"$root/sys/bus/vmbus/devices/2dd1ce17-079e-403c-b352-a1921ee207ee/class_id"
check "ambiguous" 2 "$hvctl" --root "$root" unbind a9a0f4e7-5a45-4d96-b827-8a841e8c03e6
grep -q "2 devices match" "$tmp/err" || bad "ambiguous: $(cat "$tmp/err")"

# Busy: a process holds the uio node open.
root=$(copy kvp-uio)
mkdir -p "$root/proc/4242/fd"
ln -s "$root/dev/uio0" "$root/proc/4242/fd/3"
check "busy" 3 "$hvctl" --root "$root" unbind "$KVP"
grep -q "dev/uio0 is open in another process" "$tmp/err" || bad "busy: $(cat "$tmp/err")"
rm "$root/proc/4242/fd/3"
check "unbind" 0 "$hvctl" --root "$root" unbind "$KVP"
[ "$(cat "$root/sys/bus/vmbus/drivers/uio_hv_generic/unbind")" = "$KVP" ] ||
	bad "unbind not written"
check "already bound" 0 "$hvctl" --root "$root" bind "$KVP"

exit $fail
