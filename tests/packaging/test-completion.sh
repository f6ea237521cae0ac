#!/bin/bash
# The bash completion, sourced as bash-completion sources it: subcommands,
# options, pools, and key names read through hvctl.
# usage: test-completion.sh HVCTL COMPLETION
set -u
hvctl=$1 comp=$2
tmp=$(mktemp -d /tmp/hvuio-completion-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/bin" "$tmp/st"
ln -s "$hvctl" "$tmp/bin/hvctl"
PATH=$tmp/bin:$PATH
python3 -c '
import sys
rec = lambda k, v: k.encode().ljust(512, b"\0") + v.encode().ljust(2048, b"\0")
open(sys.argv[1] + "/.kvp_pool_1", "wb").write(rec("alpha", "1") + rec("beta", "2") + rec("alps", "3"))
' "$tmp/st"

. /usr/share/bash-completion/bash_completion || { echo "FAIL: no bash-completion" >&2; exit 1; }
. "$comp"
complete -p hvctl > /dev/null || { echo "FAIL: hvctl has no completion" >&2; exit 1; }

fail=0
# expect "WANT" WORDS...: the last word is completed; WANT is the sorted list.
expect() {
	local want=$1
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_hvctl hvctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	local got
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	got=${got% }
	if [[ $got != "$want" ]]; then
		echo "FAIL: completing '$*': got '$got', want '$want'" >&2
		fail=1
	fi
}

S=(--socket "$tmp/nosock" --state-dir "$tmp/st")
expect "list" hvctl li
expect "delete devices" hvctl de
expect "Guest/ Guest/Parameters/" hvctl G
expect "Guest/ Guest/Parameters/ get" hvctl g
expect "Guest/ Guest/Parameters/" hvctl get G
expect "External/" hvctl set ext
expect "Guest/alpha Guest/alps" hvctl "${S[@]}" get Guest/al
expect "Guest/beta" hvctl "${S[@]}" Guest/b
expect "Guest/alpha Guest/alps Guest/beta" hvctl "${S[@]}" watch Guest/
expect "Auto External Guest Guest/Parameters Internal" hvctl list ''
expect "Guest Guest/Parameters" hvctl get -p G
expect "--json" hvctl status --j
expect "--socket --state-dir" hvctl --s
expect "" hvctl "${S[@]}" get Nopool/x
exit $fail
