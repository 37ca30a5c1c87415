#!/usr/bin/env bash
# Static checks of the monitoring set-up with Debian's promtool: both
# Prometheus configurations (and the rule files they load), the alert rules,
# and the alert rules' unit tests.
set -euo pipefail
cd "$(dirname "$0")"
promtool check config prometheus.yml
promtool check config prometheus.single.yml
promtool check rules alerts.yml
promtool test rules tests/alerts_test.yml
