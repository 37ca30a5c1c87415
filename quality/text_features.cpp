#include "quality/text_features.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <string>
#include <utility>

namespace ferro::quality {

namespace {

bool is_ascii_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
// Bytes of multi-byte UTF-8 sequences count as letters: words in other
// scripts stay words.
bool is_letter(char c) {
  return is_ascii_alpha(c) || static_cast<unsigned char>(c) >= 0x80;
}
bool is_word_char(char c) {
  return is_letter(c) || is_digit(c);
}
std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (is_upper(c))
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

template <std::size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& list) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

constexpr std::array<std::string_view, 24> negation_words{
    "not",     "no",     "never",   "none",     "nothing", "nobody",  "neither", "nor",
    "without", "cannot", "nowhere", "noone",    "isnt",    "arent",   "dont",    "doesnt",
    "didnt",   "cant",   "wont",    "shouldnt", "wouldnt", "couldnt", "hasnt",   "havent"};

constexpr std::array<std::string_view, 64> stop_words{
    "a",     "an",     "the",   "is",    "are",   "was",   "were", "be",   "been", "being", "of",
    "to",    "in",     "on",    "for",   "with",  "and",   "or",   "as",   "at",   "by",    "it",
    "its",   "this",   "that",  "these", "those", "from",  "into", "do",   "does", "did",   "can",
    "could", "should", "would", "will",  "what",  "which", "who",  "how",  "why",  "when",  "where",
    "i",     "you",    "we",    "they",  "he",    "she",   "my",   "your", "our",  "their", "me",
    "us",    "them",   "there", "here",  "so",    "if",    "than", "then"};

/// Number words, "zero" .. "twenty" and the tens.
std::string_view number_word(std::string_view w) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 28> words{{
      {"zero", "0"},     {"one", "1"},      {"two", "2"},        {"three", "3"},     {"four", "4"},
      {"five", "5"},     {"six", "6"},      {"seven", "7"},      {"eight", "8"},     {"nine", "9"},
      {"ten", "10"},     {"eleven", "11"},  {"twelve", "12"},    {"thirteen", "13"}, {"fourteen", "14"},
      {"fifteen", "15"}, {"sixteen", "16"}, {"seventeen", "17"}, {"eighteen", "18"}, {"nineteen", "19"},
      {"twenty", "20"},  {"thirty", "30"},  {"forty", "40"},     {"fifty", "50"},    {"sixty", "60"},
      {"seventy", "70"}, {"eighty", "80"},  {"ninety", "90"},
  }};
  for (auto& [k, v] : words)
    if (k == w)
      return v;
  return {};
}

/// The canonical unit for a lower-case word, or empty.
std::string_view unit_of(std::string_view w) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 72> units{{
      {"%", "%"},
      {"percent", "%"},
      {"pct", "%"},
      {"km", "km"},
      {"kilometer", "km"},
      {"kilometers", "km"},
      {"kilometre", "km"},
      {"kilometres", "km"},
      {"m", "m"},
      {"meter", "m"},
      {"meters", "m"},
      {"metre", "m"},
      {"metres", "m"},
      {"cm", "cm"},
      {"mm", "mm"},
      {"mi", "mi"},
      {"mile", "mi"},
      {"miles", "mi"},
      {"kg", "kg"},
      {"kilogram", "kg"},
      {"kilograms", "kg"},
      {"g", "g"},
      {"gram", "g"},
      {"grams", "g"},
      {"lb", "lb"},
      {"lbs", "lb"},
      {"pound", "lb"},
      {"pounds", "lb"},
      {"kb", "kb"},
      {"mb", "mb"},
      {"gb", "gb"},
      {"tb", "tb"},
      {"megabyte", "mb"},
      {"megabytes", "mb"},
      {"gigabyte", "gb"},
      {"gigabytes", "gb"},
      {"ms", "ms"},
      {"millisecond", "ms"},
      {"milliseconds", "ms"},
      {"s", "s"},
      {"sec", "s"},
      {"secs", "s"},
      {"second", "s"},
      {"seconds", "s"},
      {"min", "min"},
      {"mins", "min"},
      {"minute", "min"},
      {"minutes", "min"},
      {"h", "h"},
      {"hr", "h"},
      {"hrs", "h"},
      {"hour", "h"},
      {"hours", "h"},
      {"day", "d"},
      {"days", "d"},
      {"week", "wk"},
      {"weeks", "wk"},
      {"month", "mo"},
      {"months", "mo"},
      {"year", "y"},
      {"years", "y"},
      {"yr", "y"},
      {"yrs", "y"},
      {"usd", "$"},
      {"dollar", "$"},
      {"dollars", "$"},
      {"eur", "eur"},
      {"euro", "eur"},
      {"euros", "eur"},
      {"x", "x"},
      {"k", "k"},
      {"st", ""},
  }};
  for (auto& [k, v] : units)
    if (k == w)
      return v.empty() ? std::string_view{"#"} : v; // ordinal suffix: no unit
  if (w == "nd" || w == "rd" || w == "th")
    return "#";
  return {};
}

/// "1,000.50" -> "1000.5"; "3.10.1" stays (a version).
std::string normalise_number(std::string_view digits) {
  std::string s;
  for (char c : digits)
    if (c != ',')
      s.push_back(c);
  if (std::count(s.begin(), s.end(), '.') == 1) {
    while (!s.empty() && s.back() == '0')
      s.pop_back();
    if (!s.empty() && s.back() == '.')
      s.pop_back();
  }
  auto first = s.find_first_not_of('0');
  if (first == std::string::npos)
    return "0";
  if (first > 0 && s[first] != '.')
    s.erase(0, first);
  return s;
}

struct raw_token {
  std::string_view text; ///< punctuation at either end removed
  bool backticked = false;
  bool sentence_start = false;
};

bool is_edge_punct(char c) {
  return !is_word_char(c) && c != '$' && c != '%' && c != '#';
}

std::vector<raw_token> split(std::string_view text) {
  std::vector<raw_token> out;
  bool sentence_start = true;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    auto tok = text.substr(start, i - start);
    if (tok.empty())
      break;
    bool ticked = tok.front() == '`';
    char last = tok.back();
    while (!tok.empty() && is_edge_punct(tok.front()))
      tok.remove_prefix(1);
    while (!tok.empty() && is_edge_punct(tok.back()) && tok.back() != '%')
      tok.remove_suffix(1);
    if (!tok.empty())
      out.push_back({tok, ticked, sentence_start});
    sentence_start = last == '.' || last == '?' || last == '!' || last == ':';
  }
  return out;
}

bool has_letter(std::string_view s) {
  return std::any_of(s.begin(), s.end(), is_letter);
}
bool has_digit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), is_digit);
}

bool is_camel(std::string_view s) {
  for (std::size_t i = 1; i < s.size(); ++i)
    if (is_lower(s[i - 1]) && is_upper(s[i]))
      return true;
  return false;
}

bool is_all_caps(std::string_view s) {
  std::size_t letters = 0;
  for (char c : s) {
    if (is_lower(c) || static_cast<unsigned char>(c) >= 0x80)
      return false;
    letters += is_upper(c) ? 1 : 0;
  }
  return letters >= 2;
}

// Word characters on both sides of a '_', '.', ':', '/' or '#' inside the
// token, with a segment longer than one character ("e.g" is no identifier).
bool has_code_punct(std::string_view s) {
  bool found = false;
  std::size_t longest = 0, run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (is_word_char(c)) {
      longest = std::max(longest, ++run);
      continue;
    }
    run = 0;
    if ((c == '_' || c == '.' || c == ':' || c == '/' || c == '#' || c == '(') && i > 0 && i + 1 < s.size())
      found = true;
  }
  return found && longest > 1;
}

/// Parses a leading number: digits with ',' and '.'; returns its length.
std::size_t number_prefix(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && (is_digit(s[i]) ||
                          ((s[i] == ',' || s[i] == '.') && i > 0 && i + 1 < s.size() && is_digit(s[i + 1]))))
    ++i;
  return i;
}

void sort_unique(std::vector<std::string>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

std::string strip_apostrophes(std::string s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\'')
      continue;
    // U+2019 (right single quotation mark) is E2 80 99.
    if (static_cast<unsigned char>(s[i]) == 0xE2 && i + 2 < s.size() &&
        static_cast<unsigned char>(s[i + 1]) == 0x80 && static_cast<unsigned char>(s[i + 2]) == 0x99) {
      i += 2;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

} // namespace

text_features extract_features(std::string_view text) {
  text_features f;
  auto toks = split(text);
  for (std::size_t i = 0; i < toks.size(); ++i) {
    auto t = toks[i].text;
    auto low = lower(t);
    auto plain = strip_apostrophes(low);
    if (has_letter(t) || has_digit(t))
      f.empty = false;
    // Negation.
    if (one_of(plain, negation_words) || (plain.size() > 3 && plain.ends_with("nt") &&
                                          (low.ends_with("n't") || low.ends_with("n\xE2\x80\x99t"))))
      f.negated = true;
    // Numbers: "$5", "5", "5km", "5 km", "five", "20%".
    std::string_view body = t;
    bool currency = false;
    if (!body.empty() && body.front() == '$') {
      currency = true;
      body.remove_prefix(1);
    }
    auto n = number_prefix(body);
    std::string number;
    std::string unit;
    bool is_number = false;
    if (n > 0) {
      auto rest = lower(body.substr(n));
      auto u = unit_of(rest);
      if (rest.empty() || !u.empty()) {
        is_number = true;
        number = normalise_number(body.substr(0, n));
        unit = rest.empty() ? "" : std::string{u};
      }
    } else if (auto w = number_word(low); !w.empty()) {
      is_number = true;
      number = std::string{w};
    }
    if (is_number) {
      if (unit.empty() && i + 1 < toks.size()) {
        auto next = lower(toks[i + 1].text);
        if (auto u = unit_of(next); !u.empty() && next != "s" && next != "m" && next != "g" && next != "x" &&
                                    next != "k" && next != "h") {
          unit = std::string{u};
          ++i;
        }
      }
      if (currency)
        unit.assign(1, '$'); // not `= "$"`: GCC 12 -Wrestrict false positive
      if (unit == "#")
        unit.clear();
      f.numbers.push_back(number + unit);
      continue;
    }
    // Identifiers.
    if (toks[i].backticked || (has_letter(t) && has_digit(t)) || has_code_punct(t) || is_camel(t) ||
        is_all_caps(t)) {
      f.identifiers.push_back(low);
      f.tokens.push_back(low);
      continue;
    }
    // Named entities: capitalised, not at a sentence start, not "I".
    if (is_upper(t.front()) && !toks[i].sentence_start && t != "I")
      f.entities.push_back(low);
    if (!one_of(plain, stop_words) && !one_of(plain, negation_words) && has_letter(t))
      f.tokens.push_back(plain);
  }
  sort_unique(f.numbers);
  sort_unique(f.identifiers);
  sort_unique(f.entities);
  sort_unique(f.tokens);
  return f;
}

feature_agreement compare(const text_features& q, const text_features& e) {
  feature_agreement a;
  a.comparable = !q.empty && !e.empty;
  if (!a.comparable)
    return a;
  a.numbers = q.numbers == e.numbers;
  a.negation = q.negated == e.negated;
  a.identifiers = q.identifiers == e.identifiers;
  a.entities = q.entities == e.entities;
  std::size_t common = 0;
  std::size_t i = 0, j = 0;
  while (i < q.tokens.size() && j < e.tokens.size()) {
    if (q.tokens[i] == e.tokens[j]) {
      ++common;
      ++i;
      ++j;
    } else if (q.tokens[i] < e.tokens[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  auto all = q.tokens.size() + e.tokens.size() - common;
  a.token_overlap = all == 0 ? 1.0 : static_cast<double>(common) / static_cast<double>(all);
  a.only_in_query = q.tokens.size() - common;
  a.only_in_entry = e.tokens.size() - common;
  return a;
}

bool strict_refuses(const feature_agreement& a) {
  return a.comparable && (!a.numbers || !a.negation || !a.identifiers);
}

agreement_class classify(const feature_agreement& a) {
  if (!a.comparable)
    return agreement_class::no_text;
  if (strict_refuses(a))
    return agreement_class::conflict;
  if (a.only_in_query <= 1 && a.only_in_entry <= 1)
    return agreement_class::edit;
  if (a.entities && a.token_overlap >= 0.5)
    return agreement_class::close;
  return agreement_class::loose;
}

const char* class_name(agreement_class c) {
  switch (c) {
    case agreement_class::no_text:
      return "no_text";
    case agreement_class::close:
      return "close";
    case agreement_class::loose:
      return "loose";
    case agreement_class::conflict:
      return "conflict";
    case agreement_class::edit:
      return "edit";
  }
  return "no_text";
}

} // namespace ferro::quality
