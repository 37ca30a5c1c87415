// ferrocache-quality-classify: the feature class and the strict check's
// verdict for pairs of texts, with the node's own code (quality/), for the
// quality benchmark's feasibility analysis (bench/quality/feasibility.py).
//
// stdin: one pair per line, "<query text>\t<entry text>" (no tab or newline
// inside a text). stdout: one line per pair, "<class> <refused>", with the
// class name of quality::class_name and refused 1 when `check: "strict"`
// would refuse the hit.
#include <iostream>
#include <string>

#include "quality/text_features.hpp"

int main() {
  using namespace ferro::quality;
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    const auto tab = line.find('\t');
    if (tab == std::string::npos) {
      std::cerr << "ferrocache-quality-classify: a line without a tab\n";
      return 2;
    }
    const auto agreement = compare(extract_features(std::string_view(line).substr(0, tab)),
                                   extract_features(std::string_view(line).substr(tab + 1)));
    std::cout << class_name(classify(agreement)) << ' ' << (strict_refuses(agreement) ? 1 : 0) << '\n';
  }
  return 0;
}
