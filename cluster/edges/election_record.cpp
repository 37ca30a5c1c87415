#include "cluster/edges/election_record.hpp"

#include <sstream>

namespace ferro::cluster {

namespace {

constexpr const char* header = "ferro-elections 1";
constexpr std::size_t max_field = std::size_t{1} << 20;
constexpr std::size_t max_holders = 64;

void put_field(std::string& out, const std::string& s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

bool get_field(std::istream& in, std::string& out) {
  std::size_t n = 0;
  char colon = 0;
  if (!(in >> n) || !in.get(colon) || colon != ':' || n > max_field)
    return false;
  out.resize(n);
  return static_cast<bool>(in.read(out.data(), static_cast<std::streamsize>(n)));
}

// One record, up to and including its newline. Fields are length-prefixed,
// so a key may hold any byte, a newline included: the text is read as a
// stream, never split into lines first.
bool decode_record(std::istream& in, namespace_key& key, election_record& rec) {
  std::size_t count = 0;
  if (!get_field(in, key.model_id) || !get_field(in, key.cache_scope) ||
      !get_field(in, key.conversation_id) ||
      !(in >> rec.epoch >> rec.holders_epoch >> rec.holders_version >> count) || count > max_holders)
    return false;
  rec.holders.resize(count);
  for (auto& h : rec.holders)
    if (in.get() != ' ' || !get_field(in, h))
      return false;
  return in.get() == '\n';
}

} // namespace

std::string election_file_header() {
  std::string out = header;
  out += '\n';
  return out;
}

std::string encode_election_line(const namespace_key& key, const election_record& rec) {
  std::string out;
  put_field(out, key.model_id);
  put_field(out, key.cache_scope);
  put_field(out, key.conversation_id);
  out += ' ' + std::to_string(rec.epoch) + ' ' + std::to_string(rec.holders_epoch) + ' ' +
         std::to_string(rec.holders_version) + ' ' + std::to_string(rec.holders.size());
  for (const auto& h : rec.holders) {
    out += ' ';
    put_field(out, h);
  }
  out += '\n';
  return out;
}

std::string encode_election_records(const election_records& records) {
  auto out = election_file_header();
  for (const auto& [key, rec] : records)
    out += encode_election_line(key, rec);
  return out;
}

result<election_records> decode_election_records(const std::string& text, bool& damaged) {
  damaged = false;
  std::string first = header;
  first += '\n';
  if (text.compare(0, first.size(), first) != 0)
    return error{errc::bad_request, "not an election state file"};
  election_records out;
  std::istringstream in(text.substr(first.size()));
  while (in.peek() != std::char_traits<char>::eof()) {
    namespace_key key;
    election_record rec;
    if (!decode_record(in, key, rec)) {
      damaged = true; // torn or corrupt: what came before it stands
      break;
    }
    out[key] = std::move(rec);
  }
  return out;
}

} // namespace ferro::cluster
