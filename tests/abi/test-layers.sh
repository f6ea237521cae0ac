#!/bin/sh
# test-layers.sh LIB.a...: fails when two objects of the libraries call
# each other (one references a symbol the other defines, and back): each
# file of lib/ is a layer that uses only the ones below it (issue 14).
set -eu
[ $# -ge 1 ] || { echo "usage: $0 LIB.a..." >&2; exit 2; }
nm "$@" | awk '
	/^$/ { next }
	/:$/ { obj = $0; sub(/:$/, "", obj); objs++; next }
	NF == 3 && $2 ~ /^[TDBRVW]$/ { def[$3] = obj; next }
	NF == 2 && $1 == "U" { use[obj, $2] = 1 }
	END {
		for (k in use) {
			split(k, p, SUBSEP)
			if ((p[2] in def) && def[p[2]] != p[1])
				calls[p[1], def[p[2]]] = calls[p[1], def[p[2]]] " " p[2]
		}
		bad = 0
		for (k in calls) {
			split(k, p, SUBSEP)
			if (p[1] < p[2] && ((p[2], p[1]) in calls)) {
				printf "%s -> %s:%s\n", p[1], p[2], calls[p[1], p[2]]
				printf "%s -> %s:%s\n", p[2], p[1], calls[p[2], p[1]]
				bad++
			}
		}
		printf "test-layers: %d objects, %d pairs that call each other\n", objs, bad
		exit bad != 0
	}'
