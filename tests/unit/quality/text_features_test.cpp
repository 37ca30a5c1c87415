#include <catch2/catch.hpp>

#include "quality/text_features.hpp"

using namespace ferro::quality;

namespace {

feature_agreement agree(const char* a, const char* b) {
  return compare(extract_features(a), extract_features(b));
}

} // namespace

TEST_CASE("numbers are read with their units and normalised", "[quality]") {
  auto f = extract_features("Is 5 km longer than $1,000.50 or 20% of five miles in 2024?");
  CHECK(f.numbers == std::vector<std::string>{"1000.5$", "20%", "2024", "5km", "5mi"});
  CHECK(extract_features("It takes 3 seconds").numbers == extract_features("it takes 3s").numbers);
  CHECK(extract_features("version 3.10.1").numbers == std::vector<std::string>{"3.10.1"});
}

TEST_CASE("a paraphrase keeps numbers, negation and identifiers", "[quality]") {
  auto a = agree("How do I install PyTorch 2 on Ubuntu?", "What is the way to install PyTorch 2 on Ubuntu?");
  CHECK(a.comparable);
  CHECK(a.numbers);
  CHECK(a.negation);
  CHECK(a.identifiers);
  CHECK_FALSE(strict_refuses(a));
  CHECK(classify(a) != agreement_class::conflict);
}

TEST_CASE("a changed number is a conflict", "[quality]") {
  auto a =
      agree("What is the capital gains tax rate for 2023?", "What is the capital gains tax rate for 2024?");
  CHECK_FALSE(a.numbers);
  CHECK(strict_refuses(a));
  CHECK(classify(a) == agreement_class::conflict);
  CHECK_FALSE(agree("Convert 5 km to miles", "Convert 5 kg to pounds").numbers);
}

TEST_CASE("negation is a conflict, in every spelling", "[quality]") {
  CHECK(strict_refuses(agree("Is Python compiled?", "Is Python not compiled?")));
  CHECK(strict_refuses(agree("Does the API support streaming?", "The API doesn't support streaming?")));
  CHECK(strict_refuses(agree("Can I run it offline", "I cannot run it offline")));
  CHECK(strict_refuses(agree("Can I run it offline", "I can\xE2\x80\x99t run it offline")));
  CHECK_FALSE(strict_refuses(agree("Is it free?", "Is it free of charge?")));
}

TEST_CASE("identifiers are compared exactly", "[quality]") {
  CHECK(strict_refuses(agree("What does os.path.join return?", "What does os.path.split return?")));
  CHECK(strict_refuses(agree("How to read a CSV file", "How to read a JSON file")));
  CHECK(strict_refuses(agree("Is gpt-4 better?", "Is gpt-3 better?")));
  CHECK_FALSE(strict_refuses(agree("Explain `map()` briefly", "Briefly explain `map()`")));
  // "e.g." is no identifier; hyphenated words are not either.
  CHECK(extract_features("A state-of-the-art model, e.g. this one.").identifiers.empty());
}

TEST_CASE("a one-word edit is a class of its own", "[quality]") {
  // One content word swapped: the near miss that the hard features cannot
  // see (an entity, a plain noun) gets the `edit` class, not `close`.
  auto a = agree("What is the population of Paris?", "What is the population of Berlin?");
  CHECK_FALSE(a.entities);
  CHECK_FALSE(strict_refuses(a));
  CHECK(a.only_in_query == 1);
  CHECK(a.only_in_entry == 1);
  CHECK(classify(a) == agreement_class::edit);
  CHECK(classify(agree("How do I convert audio to text?", "How do I convert images to text?")) ==
        agreement_class::edit);
  // Stop words and contractions alone: the same content words, also an edit.
  CHECK(classify(agree("What is the population of Paris?", "What's the population of Paris?")) ==
        agreement_class::edit);
  // A conflict stays a conflict, however small the edit.
  CHECK(classify(agree("Is Python compiled?", "Is Python not compiled?")) == agreement_class::conflict);
}

TEST_CASE("named entities and overlap choose between close and loose", "[quality]") {
  auto a =
      agree("best way to sort a large list in memory quickly", "fastest way to sort a large list in memory");
  CHECK(a.only_in_query + a.only_in_entry > 2);
  CHECK(a.token_overlap >= 0.5);
  CHECK(classify(a) == agreement_class::close);
  auto b = agree("What is the population of Paris during winter?",
                 "What is the population of Berlin during summer?");
  CHECK_FALSE(b.entities);
  CHECK(classify(b) == agreement_class::loose);
  auto c = agree("How do I make pasta sauce from fresh tomatoes?",
                 "Which tomatoes work best for a quick sauce recipe?");
  CHECK(c.token_overlap < 0.5);
  CHECK(classify(c) == agreement_class::loose);
}

TEST_CASE("without text on either side nothing is compared", "[quality]") {
  auto a = agree("", "What is 2 + 2?");
  CHECK_FALSE(a.comparable);
  CHECK_FALSE(strict_refuses(a));
  CHECK(classify(a) == agreement_class::no_text);
  CHECK(classify(agree("   ", "...")) == agreement_class::no_text);
}

TEST_CASE("arbitrary bytes never crash the extractor", "[quality]") {
  std::string s;
  for (int i = 0; i < 2048; ++i)
    s.push_back(static_cast<char>((i * 7919) & 0xff));
  auto f = extract_features(s);
  CHECK(compare(f, f).numbers);
  CHECK(extract_features("$").numbers.empty());
  CHECK(extract_features("`").identifiers.empty());
}
