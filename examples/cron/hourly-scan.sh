#!/bin/sh
# Ingest whatever log files arrived, then scan. Meant for cron or a systemd service.
# Environment: DISTILLGUARD_DB (the store), DISTILLGUARD_INBOX (folder of new log files),
# DISTILLGUARD_BIN (the distillguard executable, default: on PATH).
set -eu

bin="${DISTILLGUARD_BIN:-distillguard}"
inbox="${DISTILLGUARD_INBOX:-/var/spool/distillguard/inbox}"
done_dir="$inbox/done"
mkdir -p "$done_dir"

# Ingest is idempotent (request ids are unique), so a file ingested twice stores nothing new.
for file in "$inbox"/*.jsonl.gz "$inbox"/*.jsonl "$inbox"/*.parquet; do
    [ -e "$file" ] || continue
    "$bin" ingest "$file"
    mv "$file" "$done_dir/"
done

# Exit code 1: new alerts (let the scheduler notify); 3: failure, including a scan that is
# still running from the previous hour.
exec "$bin" scan --fail-on-alert
