#include "quality/calibration.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ferro::quality {

std::size_t bin_of(double similarity) {
  if (!(similarity > similarity_floor))
    return 0;
  // A small epsilon so that 0.95 lands in the bin starting at 0.95 despite
  // its binary representation.
  auto b = static_cast<std::size_t>((similarity - similarity_floor) / bin_width + 1e-9);
  return std::min(b, bins - 1);
}

double bin_low(std::size_t b) {
  return similarity_floor + static_cast<double>(b) * bin_width;
}

void feedback_counts::add(double similarity, agreement_class c, bool correct) {
  auto& k = cells_[static_cast<std::size_t>(c)][bin_of(similarity)];
  if (correct)
    ++k.correct;
  else
    ++k.wrong;
}

void feedback_counts::merge(const feedback_counts& other) {
  for (std::size_t c = 0; c < agreement_classes; ++c)
    for (std::size_t b = 0; b < bins; ++b) {
      cells_[c][b].correct += other.cells_[c][b].correct;
      cells_[c][b].wrong += other.cells_[c][b].wrong;
    }
}

std::uint64_t feedback_counts::total() const {
  std::uint64_t n = 0;
  for (auto& cls : cells_)
    for (auto& k : cls)
      n += k.correct + k.wrong;
  return n;
}

std::shared_ptr<const calibrated_model> feedback_counts::fit(const model_params& params) const {
  auto m = std::make_shared<calibrated_model>();
  m->params_ = params;
  for (std::size_t c = 0; c < agreement_classes; ++c) {
    auto& out = m->classes_[c];
    const auto& in = cells_[c];
    // Candidate cuts, from the top bin down: only bins with feedback of
    // their own (the region of an empty bin is the region of the next bin
    // with feedback, which says nothing about the similarities in between).
    std::uint64_t tail_wrong = 0, tail_n = 0;
    for (std::size_t b = bins; b-- > 0;) {
      const auto here = in[b].correct + in[b].wrong;
      if (here == 0)
        continue;
      tail_wrong += in[b].wrong;
      tail_n += here;
      out.cuts.push_back({b, tail_n, binomial_upper(tail_wrong, tail_n, params.confidence)});
      out.correct += in[b].correct;
      out.wrong += in[b].wrong;
    }
    out.n = tail_n;
    m->total_ += tail_n;
    // Pool adjacent violators: P(wrong) nonincreasing in similarity.
    struct block {
      double wrong = 0, n = 0;
      std::size_t first = 0, last = 0;
      double value() const { return wrong / n; }
    };
    std::vector<block> blocks;
    for (std::size_t b = 0; b < bins; ++b) {
      double n = static_cast<double>(in[b].correct + in[b].wrong);
      if (n == 0)
        continue;
      blocks.push_back({static_cast<double>(in[b].wrong), n, b, b});
      while (blocks.size() >= 2 && blocks[blocks.size() - 2].value() < blocks.back().value()) {
        auto top = blocks.back();
        blocks.pop_back();
        auto& prev = blocks.back();
        prev.wrong += top.wrong;
        prev.n += top.n;
        prev.last = top.last;
      }
    }
    if (blocks.empty()) {
      out.isotonic.fill(0.5);
      continue;
    }
    // Bins without feedback take the value of the block below them (the
    // first block's value below all feedback).
    std::size_t bi = 0;
    for (std::size_t b = 0; b < bins; ++b) {
      while (bi + 1 < blocks.size() && blocks[bi + 1].first <= b)
        ++bi;
      out.isotonic[b] = blocks[bi].value();
    }
  }
  return m;
}

decision calibrated_model::decide(double similarity, agreement_class c, double max_error) const {
  decision d;
  const auto& pc = classes_[static_cast<std::size_t>(c)];
  const auto wrong_free = wrong_free_sample(max_error, params_.confidence);
  if (pc.n < std::max(params_.min_feedback, wrong_free))
    return d; // no feedback could certify max_error yet: the threshold decides
  d.model_decided = true;
  const auto b = bin_of(similarity);
  d.estimate = pc.isotonic[b];
  // Fixed-sequence testing from the top. The first region tested is the
  // smallest one holding start_n records: smaller regions could only pass
  // with (almost) no wrong answer, and a failed first test serves nothing.
  const auto start_n = std::min(pc.n, start_factor * wrong_free);
  std::size_t i = 0;
  while (pc.cuts[i].n < start_n)
    ++i; // terminates: the last cut holds the whole class
  d.bound = pc.cuts[i].upper;
  const cut* served = nullptr;
  for (; i < pc.cuts.size() && pc.cuts[i].upper <= max_error; ++i)
    served = &pc.cuts[i];
  if (!served)
    return d; // the first region already fails: serve nothing
  d.serving_from = bin_low(served->bin);
  d.bound = served->upper;
  d.serve = b >= served->bin;
  return d;
}

class_summary calibrated_model::summary(agreement_class c) const {
  const auto& pc = classes_[static_cast<std::size_t>(c)];
  class_summary s;
  s.correct = pc.correct;
  s.wrong = pc.wrong;
  s.active = pc.n >= params_.min_feedback;
  if (s.active) {
    auto d = decide(1.0, c, 0.05);
    s.serving_from_at_5pct = d.serving_from;
  }
  return s;
}

std::string feedback_counts::serialize() const {
  // fq2: the class may be `edit` (4); fq1 (before it) had classes 0-3 only.
  std::string out = "fq2 ";
  out += std::to_string(bins);
  out += " 0.005\n";
  for (std::size_t c = 0; c < agreement_classes; ++c)
    for (std::size_t b = 0; b < bins; ++b) {
      const auto& k = cells_[c][b];
      if (k.correct == 0 && k.wrong == 0)
        continue;
      out += std::to_string(c) + ',' + std::to_string(b) + ',' + std::to_string(k.correct) + ',' +
             std::to_string(k.wrong) + '\n';
    }
  return out;
}

result<feedback_counts> feedback_counts::deserialize(std::string_view s) {
  auto bad = [](std::string what) {
    return error{errc::internal, "quality model state: " + std::move(what)};
  };
  feedback_counts out;
  auto nl = s.find('\n');
  if (nl == std::string_view::npos)
    return bad("unknown header");
  const auto header = s.substr(0, nl);
  std::string tail(1, ' ');
  tail += std::to_string(bins);
  tail += " 0.005";
  // The classes each version may hold: fq1 wrote no_text..conflict only.
  std::size_t classes = 0;
  if (header.substr(0, 3) == "fq1" && header.substr(3) == tail)
    classes = 4;
  else if (header.substr(0, 3) == "fq2" && header.substr(3) == tail)
    classes = agreement_classes;
  else
    return bad("unknown header");
  s.remove_prefix(nl + 1);
  while (!s.empty()) {
    nl = s.find('\n');
    if (nl == std::string_view::npos)
      return bad("truncated line");
    auto line = s.substr(0, nl);
    s.remove_prefix(nl + 1);
    std::uint64_t v[4] = {};
    const char* p = line.data();
    const char* end = line.data() + line.size();
    for (int i = 0; i < 4; ++i) {
      auto [next, ec] = std::from_chars(p, end, v[i]);
      if (ec != std::errc{})
        return bad("malformed number");
      p = next;
      if (i < 3) {
        if (p == end || *p != ',')
          return bad("malformed cell");
        ++p;
      }
    }
    if (p != end || v[0] >= classes || v[1] >= bins)
      return bad("cell out of range");
    out.cells_[v[0]][v[1]] = cell{v[2], v[3]};
  }
  return out;
}

} // namespace ferro::quality
