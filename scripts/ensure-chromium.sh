#!/usr/bin/env bash
# Makes Debian's Chromium available for the web UI's browser tests (packages/cli/test/web-ui.test.ts), installed with
# apt-get if it is missing (the test tools' own browser downloads are not reachable here). Prints its path.
set -euo pipefail
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q chromium >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get install -y -q chromium >/dev/null
  fi
fi
"$CHROMIUM" --version >/dev/null 2>&1 || { echo "ensure-chromium: $CHROMIUM does not start" >&2; exit 1; }
echo "$CHROMIUM"
