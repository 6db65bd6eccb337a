#!/bin/sh
# Writes the collector's bearer tokens once into the tokens volume: mode
# 0600 and owned by uid 65534, the user pulse and Alertmanager run as, so
# both can read them and nobody else can. Existing tokens are kept.
set -eu
umask 077
for name in action alert; do
  f="/tokens/$name.token"
  if [ ! -s "$f" ]; then
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$f"
    echo >> "$f"
  fi
  chown 65534:65534 "$f"
  chmod 600 "$f"
done
echo "tokens ready; the action token is: $(cat /tokens/action.token)"
