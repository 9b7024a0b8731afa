#!/usr/bin/env bash
# Installs Debian's headless Chromium for the admin page's browser test, if
# it is not installed yet. Progress goes to stderr.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
	exit 0
fi
export DEBIAN_FRONTEND=noninteractive
for i in 1 2 3; do
	if apt-get update >&2 && apt-get install -y --no-install-recommends chromium >&2; then
		exit 0
	fi
	echo "chromium install failed (attempt $i), retrying" >&2
	sleep 5
done
exit 1
