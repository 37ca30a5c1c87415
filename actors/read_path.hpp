#pragma once

#include "service/messages.hpp"
#include "common/clock.hpp"
#include "common/metrics.hpp"
#include "common/status.hpp"

namespace ferro {

class namespace_directory;

/// The query algorithm of API.md over the published read views: the
/// conversation namespace first, then the tenant's global one; in each, the
/// exact-text pre-filter, then the nearest neighbour. Runs on the caller's
/// thread, concurrently with other queries.
result<query_reply> answer_query(const namespace_directory& dir, query_request req, std::int64_t now_ms,
                                 node_metrics& metrics);

/// /stats and /admin/entry-stats figures, merged by display name.
stats_reply collect_stats(const namespace_directory& dir);
entry_stats_reply collect_entry_stats(const namespace_directory& dir);

/// The first `max_code_points` code points of UTF-8 `text`, with "..."
/// appended when it was longer.
std::string preview(std::string_view text, std::size_t max_code_points);

} // namespace ferro
