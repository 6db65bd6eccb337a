#!/bin/sh
# Prints $2 on stdout, $3 on stderr and exits with $1.
[ -n "$2" ] && printf '%s\n' "$2"
[ -n "$3" ] && printf '%s\n' "$3" >&2
exit "$1"
