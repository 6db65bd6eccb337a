#!/bin/sh
# Starts a child that would outlive a naive kill, records its pid in $1,
# then sleeps past any test timeout.
sleep 300 &
echo $! > "$1"
echo "sleeper started"
sleep 300
