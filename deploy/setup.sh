#!/bin/sh
# docker-compose.yml's one-shot set-up, as `weir demo` begins its tour: the checkout service,
# its four immutable instances (two of v1 and one of v2, healthy; v3 fails 30% of requests),
# and v1 live on both of its instances. Runs in the weir image with WEIR_SERVER set.
# A second `docker compose up` finds the instances registered and leaves the ledger alone.
# tests/compose/ reads every `weir` line below with the real CLI: keep one command per line.
set -eu

echo "setup: waiting for the weir API at $WEIR_SERVER"
tries=0
until python3 -c 'import os, urllib.request; urllib.request.urlopen(os.environ["WEIR_SERVER"] + "/healthz", timeout=2)' 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "setup: $WEIR_SERVER/healthz did not answer in 60 s" >&2
        exit 1
    fi
    sleep 1
done

if weir instance list --json | grep -q '"checkout-v1-a"'; then
    echo "setup: checkout's instances are registered already; nothing to do"
    exit 0
fi

weir apply -f /deploy/checkout.yaml
weir instance add checkout --id checkout-v1-a --version v1 --address checkout-v1-a:8000
weir instance add checkout --id checkout-v1-b --version v1 --address checkout-v1-b:8000
weir instance add checkout --id checkout-v2-a --version v2 --address checkout-v2-a:8000
weir instance add checkout --id checkout-v3-a --version v3 --address checkout-v3-a:8000
weir instance activate checkout-v1-a --live --weight 50
weir instance activate checkout-v1-b --live --weight 50

echo "setup: done; v1 is live. Next: weir rollout start checkout --version v2"
