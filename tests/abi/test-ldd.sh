#!/bin/sh
# test-ldd.sh LIB SANITIZE: libhvuio needs libc and nothing else (ldd may
# add the vDSO and the dynamic loader; a sanitizer build its runtimes).
set -eu
lib=$1 sanitize=$2
allowed='linux-vdso\.so\.1|linux-gate\.so\.1|ld-linux[^ ]*|libc\.so\.6'
[ "$sanitize" = none ] || allowed="$allowed|lib(asan|ubsan|tsan|lsan|stdc\+\+|gcc_s|m)\.so[.0-9]*"
out=$(ldd "$lib")
bad=$(printf '%s\n' "$out" | awk '{ print $1 }' | sed 's,.*/,,' | grep -vxE "$allowed" || true)
if [ -n "$bad" ]; then
	printf 'test-ldd: %s needs more than libc:\n%s\n' "$lib" "$out" >&2
	exit 1
fi
needed=$(objdump -p "$lib" | awk '$1 == "NEEDED" { print $2 }' | grep -vxE "$allowed" || true)
[ -z "$needed" ] || { echo "test-ldd: $lib NEEDED: $needed" >&2; exit 1; }
printf 'test-ldd: %s\n' "$out"
