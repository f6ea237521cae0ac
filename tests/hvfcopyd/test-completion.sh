#!/bin/bash
# hvfcopyd's bash completion, sourced as bash-completion sources it.
# usage: test-completion.sh COMPLETION
set -u
. /usr/share/bash-completion/bash_completion || { echo "FAIL: no bash-completion" >&2; exit 1; }
. "$1"
complete -p hvfcopyd > /dev/null || { echo "FAIL: hvfcopyd has no completion" >&2; exit 1; }
fail=0
expect() {
	local want=$1
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_hvfcopyd
	local got=
	[ ${#COMPREPLY[@]} -gt 0 ] && got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	if [ "$got" != "$want" ]; then
		echo "FAIL: '$*': got '$got', want '$want'" >&2
		fail=1
	fi
}
expect "auto kernel sim uio " hvfcopyd --backend ""
expect "kernel " hvfcopyd --backend k
expect "--allow " hvfcopyd --al
expect "--linger-us " hvfcopyd --li
expect "" hvfcopyd --mode ""
[ $fail = 0 ] && echo "ok"
exit $fail
