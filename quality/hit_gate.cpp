#include "quality/hit_gate.hpp"

namespace ferro::quality {

hit_gate::hit_gate(gate_options opts, std::string_view query_text) : opts_(opts), text_(query_text) {
}

const text_features& hit_gate::query_features() {
  if (!features_)
    features_ = extract_features(text_);
  return *features_;
}

double hit_gate::search_threshold(const calibrated_model* model) const {
  if (opts_.max_error_rate && model && model->feedback_total() > 0)
    return 0.0;
  return opts_.threshold;
}

gate_verdict hit_gate::judge(double similarity, bool exact, std::string_view entry_text,
                             const calibrated_model* model) {
  gate_verdict v;
  if (exact) {
    v.serve = true;
    v.decided_by = "exact";
    return v;
  }
  if (!opts_.strict && !opts_.max_error_rate) {
    v.serve = similarity >= opts_.threshold;
    return v;
  }
  auto agreement = compare(query_features(), extract_features(entry_text));
  if (opts_.strict && strict_refuses(agreement)) {
    v.decided_by = "check";
    return v;
  }
  if (opts_.max_error_rate && model) {
    auto d = model->decide(similarity, classify(agreement), *opts_.max_error_rate);
    if (d.model_decided) {
      v.serve = d.serve;
      v.decided_by = "error_bound";
      v.estimate = d.estimate;
      v.bound = d.bound;
      return v;
    }
  }
  v.serve = similarity >= opts_.threshold;
  return v;
}

} // namespace ferro::quality
