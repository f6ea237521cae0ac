#!/bin/sh
# check-symbols.sh LIB MAP NODE: fails when the symbols LIB exports and the
# ones its version script MAP lists disagree, in either direction, or when
# the newest public node of MAP is not NODE (the release's, HVUIO_0.2 ...).
set -eu
lib=$1 map=$2 node=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Comments out, then one word per line: "NODE {", "global:", symbols, "}".
sed 's,/\*.*\*/,,; /\/\*/,/\*\//d' "$map" > "$tmp/map"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^[A-Z][A-Z0-9]*_/ { print $3 }' |
	sed 's/@.*//' | sort -u > "$tmp/exported"
grep -E '^[[:space:]]+[a-z_0-9]+;' "$tmp/map" | tr -d ' \t;' | sort -u > "$tmp/listed"

if ! diff -u "$tmp/listed" "$tmp/exported"; then
	echo "check-symbols: version script ($map) and exports of $lib differ" >&2
	echo "  lines with - are listed but not exported, + exported but not listed" >&2
	exit 1
fi
# Every exported symbol carries the node the map gives it.
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ && $3 ~ /@/ { print $3 }' |
	sed 's/@@*/ /' | sort -u > "$tmp/versions"
awk '/^[A-Z][A-Z0-9_.]* *\{/ { n = $1 } /^[[:space:]]+[a-z_0-9]+;/ { s = $1; sub(";", "", s); print s, n }' \
	"$tmp/map" | sort -u > "$tmp/want"
if ! diff -u "$tmp/want" "$tmp/versions"; then
	echo "check-symbols: symbol versions of $lib differ from $map" >&2
	exit 1
fi
newest=$(grep -E '^[A-Z][A-Z0-9]*_[0-9][0-9.]* *\{' "$tmp/map" | tail -n 1 | cut -d' ' -f1)
if [ "$newest" != "$node" ]; then
	echo "check-symbols: newest node of $map is ${newest:-none}, the release's is $node" >&2
	exit 1
fi
echo "check-symbols: $(wc -l < "$tmp/exported") symbols agree, newest node $node"
