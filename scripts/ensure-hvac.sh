#!/usr/bin/env bash
# Makes hvac, the Python Vault client, importable by Debian's Python (/usr/bin/python3) for the Vault API client test
# (packages/server/src/http/vault/vault-hvac.test.ts): Debian's python3-hvac, installed if it is missing.
set -euo pipefail
if /usr/bin/python3 -c 'import hvac' 2>/dev/null; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q python3-hvac >/dev/null 2>&1; then
  apt-get update -q >/dev/null
  apt-get install -y -q python3-hvac >/dev/null
fi
/usr/bin/python3 -c 'import hvac'
