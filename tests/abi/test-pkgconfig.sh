#!/bin/sh
# test-pkgconfig.sh CC BUILDDIR SRCDIR HVSIM SANITIZE: programs built the
# way an outside project builds them, from hvuio.pc alone (the build's
# uninstalled copy), on sim devices hvsim plays the host of:
#  - tests/sim/ic-guest.c moves packets: the sim suite's kvp-requests case
#    (negotiation, then four requests answered);
#  - tests/vmbus/test-maps.c (with check.pc, its test framework) reads the
#    device's maps and the GPADL handles of a NIC's buffers;
#  - tools/hvpoll/hvpoll.c, the poll-mode NIC example, reads a NIC's maps
#    and GPADL handles, hands the handles to the host and receives frames
#    on three channels from three threads (the sim suite's nic feed case).
set -eu
cc=$1 build=$2 src=$3 hvsim=$4 sanitize=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PKG_CONFIG_PATH="$build/meson-uninstalled"
cflags=$(pkg-config --cflags hvuio)
libs=$(pkg-config --libs hvuio)
case " $libs " in
*hvkvp*|*urcu*|*nl-*) echo "test-pkgconfig: hvuio.pc pulls in $libs" >&2; exit 1 ;;
esac
extra=
[ "$sanitize" = none ] || extra="-fsanitize=$sanitize"
rpath=
for l in $(pkg-config --libs-only-L hvuio); do rpath="$rpath -Wl,-rpath,${l#-L}"; done
# shellcheck disable=SC2086
$cc -std=gnu11 -Wall -Wextra -Werror $extra $cflags "$src/tests/sim/ic-guest.c" \
	-o "$tmp/ic-guest" $libs $rpath
echo "test-pkgconfig: built with: $cflags $libs"
python3 "$src/tests/sim/sim-test.py" kvp-requests "$hvsim" "$tmp/ic-guest"
# shellcheck disable=SC2086
$cc -std=gnu11 -Wall -Wextra -Werror $extra -DHVSIM="\"$hvsim\"" $(pkg-config --cflags hvuio check) \
	"$src/tests/vmbus/test-maps.c" -o "$tmp/test-maps" $(pkg-config --libs hvuio check) $rpath
"$tmp/test-maps"
# shellcheck disable=SC2086
$cc -std=gnu11 -Wall -Wextra -Werror $extra -pthread $cflags "$src/tools/hvpoll/hvpoll.c" \
	-o "$tmp/hvpoll" $libs $rpath
python3 "$src/tests/sim/nic-test.py" feed "$hvsim" "$tmp/hvpoll"
