#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "quality/calibration.hpp"
#include "quality/text_features.hpp"

namespace ferro::quality {

/// What a query asks of its hit beyond the similarity threshold.
struct gate_options {
  double threshold = 0;
  bool strict = false;                  ///< `check: "strict"`
  std::optional<double> max_error_rate; ///< in (0, 0.5]
};

/// The verdict on one candidate hit.
struct gate_verdict {
  bool serve = false;
  const char* decided_by = "threshold"; ///< "exact" | "threshold" | "error_bound" | "check"
  std::optional<double> estimate;       ///< when the error bound decided
  std::optional<double> bound;
};

/// Decides, for one query, whether a candidate entry may be served: the
/// exact-match rule, the strict check, then the error bound when the
/// namespace has enough feedback, else the threshold. The query's features
/// are extracted once, on first need. Not thread-safe: one per query.
class hit_gate {
public:
  hit_gate(gate_options opts, std::string_view query_text);

  /// The similarity the index search must reach for judge() to see a
  /// candidate: the threshold, or 0 when the error bound may decide.
  double search_threshold(const calibrated_model* model) const;

  gate_verdict judge(double similarity, bool exact, std::string_view entry_text,
                     const calibrated_model* model);

private:
  const text_features& query_features();

  gate_options opts_;
  std::string_view text_;
  std::optional<text_features> features_;
};

} // namespace ferro::quality
