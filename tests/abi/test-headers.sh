#!/bin/sh
# test-headers.sh CC CXX INCDIR LIBDIR...: the public headers beside
# <linux/hyperv.h> in both orders (C, -Wall -Wextra -Werror), each header
# alone, every header from C++ (compiled and linked, so that a missing
# extern "C" shows as an undefined mangled name), and every name a header
# defines carrying the project's prefix: HV_ / HVUIO_ for macros, hv_ for
# tags, typedefs and inline functions. DPDK's vmbus headers define
# VMBUS_*, ICMSG*, vmbus_* and rte_* names; none of ours can meet them.
set -eu
cc=$1 cxx=$2 inc=$3
shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-headers: $*" >&2; exit 1; }

headers=$(cd "$inc" && ls hvuio/*.h)
flags="-std=gnu11 -Wall -Wextra -Werror -I$inc"
for h in $headers; do
	printf '#include <%s>\n' "$h" > "$tmp/alone.c"
	$cc $flags -c "$tmp/alone.c" -o "$tmp/alone.o" || fail "$h does not compile alone"
done
{ echo '#include <linux/hyperv.h>'; for h in $headers; do echo "#include <$h>"; done; } > "$tmp/after.c"
{ for h in $headers; do echo "#include <$h>"; done; echo '#include <linux/hyperv.h>'; } > "$tmp/before.c"
for f in after before; do
	cat >> "$tmp/$f.c" <<'EOT'
/* Both sides' names in use: Linux's message and our request. */
int main(void)
{
	struct hv_kvp_msg k = { .kvp_hdr.operation = KVP_OP_GET };
	struct hv_kvp_request r = { .operation = HV_KVP_OP_GET };

	return k.kvp_hdr.operation + r.operation + HV_S_OK + HV_IC_S_OK +
	       (HV_KVP_EXCHANGE_MAX_KEY_SIZE != HV_KVP_KEY_MAX_SIZE);
}
EOT
	$cc $flags -c "$tmp/$f.c" -o "$tmp/$f.o" || fail "with <linux/hyperv.h> included $f ours"
done
echo "C: $(echo $headers | wc -w) headers alone and beside <linux/hyperv.h> in both orders"

{ for h in $headers; do echo "#include <$h>"; done; cat <<'EOT'
int main()
{
	/* One call into each library: the names must not be mangled. */
	struct hv_vmbus_list *list = 0;
	int err = hv_vmbus_list_new("/nonexistent", &list);

	hv_vmbus_list_free(list);
	(void)err;
	return hv_kvp_utf8_check("ok", 2) == 0 ? 0 : 1;
}
EOT
} > "$tmp/all.cc"
libs=
[ "${SANITIZE:-none}" = none ] || libs="-fsanitize=$SANITIZE"
for d in "$@"; do libs="$libs -L$d -Wl,-rpath,$d"; done
$cxx -std=c++11 -Wall -Wextra -Werror -I"$inc" "$tmp/all.cc" -o "$tmp/all" $libs -lhvkvp -lhvuio ||
	fail "the public headers do not build as C++"
"$tmp/all" || fail "the C++ program failed"
echo "C++: every public header, linked with both libraries"

bad=$(cd "$inc" && grep -hoE '^#[[:space:]]*define[[:space:]]+[A-Za-z_][A-Za-z0-9_]*' $headers |
	awk '{ print $NF }' | grep -vE '^(HV|HVUIO)_' || true)
[ -z "$bad" ] || fail "macros without the prefix: $bad"
bad=$(cd "$inc" && grep -hoE '\b(struct|enum|union)[[:space:]]+[A-Za-z_][A-Za-z0-9_]*[[:space:]]*\{' $headers |
	awk '{ print $2 }' | grep -v '^hv_' || true)
[ -z "$bad" ] || fail "tags without the prefix: $bad"
bad=$(cd "$inc" && grep -hoE '(typedef[^;(]*[[:space:]*(]|static inline[^(]*[[:space:]*])[A-Za-z_][A-Za-z0-9_]*[[:space:]]*\(' $headers |
	sed 's/[[:space:]]*($//; s/.*[[:space:]*(]//' | grep -v '^hv_' || true)
[ -z "$bad" ] || fail "typedefs or inline functions without the prefix: $bad"
echo "names: every macro, tag, typedef and inline function prefixed"
