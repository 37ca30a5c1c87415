#pragma once

#include <string>
#include <string_view>

#include "service/messages.hpp"
#include "common/metrics.hpp"

namespace ferro {

/// Content-Type of the Prometheus text exposition format 0.0.4.
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Renders every FerroCache metric in the Prometheus text format 0.0.4 (valid
/// under `promtool check metrics`). `stats` may be null (the node could not
/// answer, e.g. while starting): the per-namespace gauges are left out then.
std::string render_metrics(const node_metrics& m, const health_reply& health, const stats_reply* stats,
                           const cluster_status_reply& cluster);

/// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view v);

} // namespace ferro
