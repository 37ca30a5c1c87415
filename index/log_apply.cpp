#include "index/log_apply.hpp"

#include <algorithm>
#include <string>

#include "quality/calibration.hpp"
#include "quality/text_features.hpp"

namespace ferro {

status apply_feedback_table(const log_record& rec, quality::feedback_counts* feedback) {
  if (feedback == nullptr)
    return error{errc::internal, "feedback table record without a quality model to apply it to"};
  auto table = quality::feedback_counts::deserialize(rec.feedback_table);
  if (!table)
    return error{errc::internal, "feedback table record: " + table.err().message};
  feedback->merge(table.value());
  return {};
}

apply_outcome apply_log(namespace_index& index, std::vector<log_record>& records,
                        const apply_options& options, quality::feedback_counts* feedback) {
  apply_outcome out;
  out.results.resize(records.size());
  out.removed.resize(records.size(), false);
  std::size_t to_graph = options.graph_inserts;
  std::vector<cache_entry> run;
  std::vector<std::size_t> run_at; // the record each entry of the run came from
  auto flush_run = [&] {
    if (run.empty())
      return;
    auto into_graph = std::min(to_graph, run.size());
    std::vector<status> results;
    if (into_graph == run.size()) {
      results = index.upsert_many(std::move(run), options.threads);
    } else {
      // The run straddles the graph budget: its head goes into the graph,
      // the rest waits in the backlog, still in log order.
      std::vector<cache_entry> head(
          std::make_move_iterator(run.begin()),
          std::make_move_iterator(run.begin() + static_cast<std::ptrdiff_t>(into_graph)));
      std::vector<cache_entry> tail(
          std::make_move_iterator(run.begin() + static_cast<std::ptrdiff_t>(into_graph)),
          std::make_move_iterator(run.end()));
      results = index.upsert_many(std::move(head), options.threads);
      auto rest = index.upsert_unindexed(std::move(tail));
      results.insert(results.end(), std::make_move_iterator(rest.begin()),
                     std::make_move_iterator(rest.end()));
    }
    to_graph -= into_graph;
    for (std::size_t i = 0; i < results.size(); ++i) {
      if (results[i])
        ++out.inserts;
      out.results[run_at[i]] = std::move(results[i]);
    }
    run.clear();
    run_at.clear();
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    auto& rec = records[i];
    out.last_seq = std::max(out.last_seq, rec.ns_seq);
    switch (rec.op) {
      case log_op::insert:
        run.push_back(std::move(rec.entry));
        run_at.push_back(i);
        break;
      case log_op::remove:
        flush_run();
        if (index.remove(rec.uuid)) {
          out.removed[i] = true;
          ++out.removals[static_cast<std::size_t>(rec.reason) - 1];
        }
        break;
      case log_op::feedback:
        // The class was computed when the record was logged (the entry may
        // have changed or gone since), so replay rebuilds the same model.
        if (feedback == nullptr) {
          out.results[i] = error{errc::internal, "feedback record without a quality model to apply it to"};
        } else if (rec.feedback.feature_class >= quality::agreement_classes) {
          out.results[i] = error{errc::internal, "feedback record with unknown feature class " +
                                                     std::to_string(unsigned{rec.feedback.feature_class})};
        } else {
          feedback->add(rec.feedback.similarity,
                        static_cast<quality::agreement_class>(rec.feedback.feature_class),
                        rec.feedback.correct);
          ++out.feedback;
          out.feedback_wrong += rec.feedback.correct ? 0 : 1;
        }
        break;
      case log_op::feedback_table:
        out.results[i] = apply_feedback_table(rec, feedback);
        out.feedback_tables += out.results[i] ? 1 : 0;
        break;
      case log_op::void_:
        break;
    }
  }
  flush_run();
  return out;
}

} // namespace ferro
