#!/usr/bin/env bash
# Raises the open-files limit as far as this user may: 10,000 connections need 10,000 descriptors in
# the server process and as many in the client process. Sizes that still do not fit are skipped.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec node "$(dirname "$0")/run.js" "$@"
