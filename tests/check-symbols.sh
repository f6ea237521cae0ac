#!/bin/sh
# Fails when the symbols libhvuio.so exports and the ones its version
# script lists disagree, in either direction.
set -eu
lib=$1 map=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^HVUIO_/ { print $3 }' |
	sed 's/@.*//' | sort -u > "$tmp/exported"
sed -n '/global:/,/local:/p' "$map" | grep -E '^[[:space:]]+[a-z_0-9]+;' |
	tr -d ' \t;' | sort -u > "$tmp/listed"

if ! diff -u "$tmp/listed" "$tmp/exported"; then
	echo "check-symbols: version script ($map) and exports of $lib differ" >&2
	echo "  lines with - are listed but not exported, + exported but not listed" >&2
	exit 1
fi
echo "check-symbols: $(wc -l < "$tmp/exported") symbols agree"
