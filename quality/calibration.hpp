#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"
#include "quality/binomial.hpp"
#include "quality/text_features.hpp"

/// The feedback-calibrated model of P(wrong | similarity, feature class)
/// behind `max_error_rate` (docs/quality.md). No CAF, no I/O.
namespace ferro::quality {

/// Fixed binning: part of the persisted format (a snapshot stores counts per
/// bin), so not configurable. Similarities below the floor share bin 0.
constexpr double similarity_floor = 0.5;
constexpr double bin_width = 0.005;
constexpr std::size_t bins = 101; ///< [0.5, 1.0] in 0.005 steps, 1.0 in the last

std::size_t bin_of(double similarity);
/// The lowest similarity that falls into bin b.
double bin_low(std::size_t b);

/// Tuning of the decision (defaults in common/defaults.hpp, config keys
/// `quality.min_feedback` and `quality.confidence`).
struct model_params {
  /// Feedback a class needs before its bound decides; below that the
  /// request's `threshold` does. The bound also needs at least
  /// wrong_free_sample(d, confidence) records in the class (59 for d = 0.05
  /// at 95%): with fewer, no feedback could certify d, and the threshold
  /// decides as well.
  std::uint64_t min_feedback = 30;
  /// One-sided confidence of the Clopper-Pearson bound on the error rate of
  /// what one class serves.
  double confidence = 0.95;
};

/// The first cut the rule tests holds at least this many times
/// wrong_free_sample(d, confidence) feedback records (or the whole class when
/// it has fewer): enough that a region whose error is about a third of d
/// passes, so the first test is not lost to a small sample (see decide()).
constexpr std::uint64_t start_factor = 3;

struct cell {
  std::uint64_t correct = 0;
  std::uint64_t wrong = 0;
  bool operator==(const cell&) const = default;
};

/// What the model decided about one candidate hit.
struct decision {
  /// The bound decided (enough feedback in the class for this bound);
  /// otherwise the caller's threshold rule decides and the fields below are
  /// unset.
  bool model_decided = false;
  bool serve = false;
  /// Calibrated P(wrong) at this similarity in this class (isotonic fit).
  double estimate = 0;
  /// Upper confidence bound of the error rate of the hits this rule serves
  /// in this class: the Clopper-Pearson bound of all the class's feedback at
  /// or above the similarity where serving starts (see decide()). When it
  /// serves nothing, the bound of the first region tested (> max_error).
  double bound = 1;
  /// The lowest similarity this class serves at for the requested bound
  /// (2.0 when it serves nothing).
  double serving_from = 2;
};

/// Summary of one class for /stats.
struct class_summary {
  std::uint64_t correct = 0;
  std::uint64_t wrong = 0;
  bool active = false; ///< enough feedback for the bound to decide
  /// Lowest similarity served at max_error_rate 0.05 (2.0: none).
  double serving_from_at_5pct = 2;
};

/// An immutable fit of the counts: read concurrently by any thread.
class calibrated_model {
public:
  calibrated_model() = default;

  /// For a candidate at `similarity` in class `c`, with the error bound
  /// `max_error` (0 < max_error <= 0.5). The class serves the *region* of
  /// similarities at or above a cut t: every hit there, so the error rate of
  /// what it serves is the error rate of that region, and all the feedback
  /// in the region (not one bin's) estimates it. The cut is chosen by
  /// fixed-sequence testing, which keeps the confidence of one test although
  /// many cuts are looked at: the candidate cuts are the bins with feedback
  /// of their own, in decreasing similarity, starting at the highest one
  /// whose region holds start_factor * wrong_free_sample(d) records; each is
  /// accepted while the Clopper-Pearson upper bound of its region's error is
  /// <= max_error, and the walk stops at the first one that is not. The order
  /// depends on the similarities only, never on the labels, which is what
  /// makes the procedure valid: P(the served region's error > max_error) <=
  /// 1 - confidence, per class, when feedback and queries come from one
  /// distribution.
  decision decide(double similarity, agreement_class c, double max_error) const;

  class_summary summary(agreement_class c) const;
  std::uint64_t feedback_total() const { return total_; }

private:
  friend class feedback_counts;
  /// A candidate cut: a bin with feedback of its own and its region.
  struct cut {
    std::size_t bin = 0;
    std::uint64_t n = 0; ///< feedback at or above the bin
    double upper = 1;    ///< Clopper-Pearson upper bound of its error rate
  };
  struct per_class {
    std::uint64_t n = 0;
    std::array<double, bins> isotonic{}; ///< P(wrong | bin), nonincreasing
    std::vector<cut> cuts;               ///< highest bin first
    std::uint64_t correct = 0, wrong = 0;
  };
  model_params params_;
  std::array<per_class, agreement_classes> classes_{};
  std::uint64_t total_ = 0;
};

/// The raw counts, owned by one writer (the namespace actor): correct and
/// wrong feedback per (class, similarity bin).
class feedback_counts {
public:
  void add(double similarity, agreement_class c, bool correct);
  std::uint64_t total() const;
  const cell& at(agreement_class c, std::size_t bin) const {
    return cells_[static_cast<std::size_t>(c)][bin];
  }

  /// Fits the model: an isotonic (pool-adjacent-violators) fit of P(wrong)
  /// over the bins of each class, nonincreasing in similarity, and the
  /// Clopper-Pearson upper bound of each candidate region.
  std::shared_ptr<const calibrated_model> fit(const model_params& params) const;

  /// A compact, versioned text form for snapshots: "fq2 <bins> <width>" then
  /// "<class>,<bin>,<correct>,<wrong>" per non-empty cell. Reads "fq1" too
  /// (written before the `edit` class: classes 0-3 only).
  std::string serialize() const;
  /// Errors (internal) on anything malformed; never throws.
  static result<feedback_counts> deserialize(std::string_view s);

  /// Adds another table's counts (pooling namespaces of one model).
  void merge(const feedback_counts& other);

  bool operator==(const feedback_counts&) const = default;

private:
  std::array<std::array<cell, bins>, agreement_classes> cells_{};
};

/// The read view a namespace publishes: the I/O threads read the current fit
/// without an actor hop; the namespace actor replaces it after each applied
/// feedback record.
class model_view {
public:
  explicit model_view(std::shared_ptr<const calibrated_model> m = std::make_shared<calibrated_model>())
      : model_(std::move(m)) {}
  std::shared_ptr<const calibrated_model> current() const {
    std::lock_guard lock(mtx_);
    return model_;
  }
  void publish(std::shared_ptr<const calibrated_model> m) {
    std::lock_guard lock(mtx_);
    model_ = std::move(m);
  }

private:
  mutable std::mutex mtx_;
  std::shared_ptr<const calibrated_model> model_;
};

} // namespace ferro::quality
