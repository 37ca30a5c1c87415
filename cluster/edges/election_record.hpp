#pragma once

// What a node promised in elections, per namespace, as it is kept on disk
// (docs/formats.md, "Cluster election state"): the encoding alone, so that
// it is tested without an actor (cluster_persist.cpp does the file I/O).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/namespace_key.hpp"
#include "common/status.hpp"

namespace ferro::cluster {

struct election_record {
  std::uint64_t epoch = 0;           ///< newest epoch granted or seen: older ones are refused
  std::uint64_t holders_epoch = 0;   ///< the newest copy set a leader published here ...
  std::uint64_t holders_version = 0; ///< ... its version within that epoch ...
  std::vector<std::string> holders;  ///< ... and its members
  friend bool operator==(const election_record&, const election_record&) = default;
};

using election_records = std::map<namespace_key, election_record>;

std::string encode_election_records(const election_records& records);

/// The header line every file starts with, and one record's line: the file
/// is the header and then the lines of its records in key order.
std::string election_file_header();
std::string encode_election_line(const namespace_key& key, const election_record& rec);

/// A record as last written, with its line: a save encodes and appends
/// only the records that changed since (election_file.hpp), and a whole
/// rewrite reuses the lines of the rest.
struct encoded_election_record {
  election_record rec;
  std::string line;
};

/// The records of `text`; a damaged line ends the reading there, with the
/// lines before it kept and `damaged` set. Not the file at all: an error.
result<election_records> decode_election_records(const std::string& text, bool& damaged);

} // namespace ferro::cluster
