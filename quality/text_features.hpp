#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// Text features that a paraphrase keeps and a different question changes.
/// Plain functions over UTF-8 text; no CAF, no I/O (docs/quality.md).
namespace ferro::quality {

/// What one text says, reduced to what the comparison needs. Every list is
/// sorted and lower-cased, so two features compare with ==.
struct text_features {
  /// Numbers with their unit, normalised: "5 km" -> "5km", "five" -> "5",
  /// "1,000" -> "1000", "3.50" -> "3.5", "$5" -> "5$", "20%" -> "20%".
  std::vector<std::string> numbers;
  /// Negation cues (not, no, never, n't, without, cannot, ...); only whether
  /// there are any counts.
  bool negated = false;
  /// Code-like tokens: letters mixed with digits ("gpt-4", "python3"),
  /// internal punctuation between word characters ("os.path", "std::map",
  /// "foo_bar"), camelCase, or all-caps words of 2+ letters ("CSV").
  std::vector<std::string> identifiers;
  /// Capitalised words that do not start a sentence ("PyTorch", "Paris").
  std::vector<std::string> entities;
  /// Content words, lower-cased, stop words left out (for the overlap).
  std::vector<std::string> tokens;
  bool empty = true; ///< the text had no word at all
};

text_features extract_features(std::string_view text);

/// How a query's text relates to a cached entry's text.
struct feature_agreement {
  bool comparable = false;    ///< both texts have words
  bool numbers = true;        ///< same numbers (with units)
  bool negation = true;       ///< both negated or neither
  bool identifiers = true;    ///< same identifiers
  bool entities = true;       ///< same named entities
  double token_overlap = 1.0; ///< Jaccard of the content words
  /// Content words found in only one of the two texts.
  std::size_t only_in_query = 0;
  std::size_t only_in_entry = 0;
};

feature_agreement compare(const text_features& query, const text_features& entry);

/// True when the strict check refuses: the texts are comparable and their
/// numbers, negation or identifiers disagree.
bool strict_refuses(const feature_agreement& a);

/// The feature-agreement class the calibrated model keeps counts for. The
/// numbers are persisted (log records, snapshots): append, never renumber.
enum class agreement_class : std::uint8_t {
  no_text = 0,  ///< one of the texts is missing: similarity alone
  close = 1,    ///< hard features agree, entities agree, overlap >= 0.5
  loose = 2,    ///< hard features agree, but entities differ or overlap < 0.5
  conflict = 3, ///< numbers, negation or identifiers disagree
  /// Hard features agree and the content words are the same but for at most
  /// one word on each side: a one-word edit ("convert audio to text" /
  /// "convert image to text"), or the same words with a negation cue moved.
  /// Such a pair is either a trivial rewording or the classic near miss,
  /// and the embedding puts both very close; a class of its own lets the
  /// feedback say which it is, instead of mixing it into `close`.
  edit = 4,
};
constexpr std::size_t agreement_classes = 5;

agreement_class classify(const feature_agreement& a);
const char* class_name(agreement_class c);

} // namespace ferro::quality
