// The election file's own promise (cluster/edges/election_file.hpp): the
// reader keeps the last line of each namespace and stops at a damaged one,
// so nothing may ever be written after a torn line, or every grant written
// after it is lost at the next restart. A power loss may leave the file
// ending in a part of a line (sim_disk.cpp, tear_election_append): that
// tail, after the last newline, is allowed; a damaged line before it is
// not. The node itself would not notice: a damaged file sends it to recall
// its state from its peers, which covers one node at a time, so the other
// checkers see no lost write (docs/simulation.md, "append-after-torn-line").

#include <fstream>
#include <sstream>

#include "cluster/edges/election_record.hpp"
#include "sim/sim_cluster.hpp"

namespace ferro::sim {

std::string election_file_damage(std::string text) {
  // The lines up to the last newline: what the node synced.
  auto end = text.rfind('\n');
  text.resize(end == std::string::npos ? 0 : end + 1);
  bool damaged = false;
  auto records = cluster::decode_election_records(text, damaged);
  if (!records)
    return records.err().message;
  if (damaged)
    return "a damaged line before its end (written after a torn one): the lines after it, and the grants "
           "they kept, are lost at its next restart";
  return {};
}

void simulation::check_election_file(const sim_node& n, const char* when) {
  std::ifstream in(root_ / n.id / "cluster-elections", std::ios::binary);
  if (!in)
    return; // none yet (a new node, or a disk just replaced)
  std::stringstream all;
  all << in.rdbuf();
  auto damage = election_file_damage(all.str());
  if (damage.empty())
    return;
  std::string why = n.id;
  why += "'s election file ";
  why += when;
  why += ": ";
  why += damage;
  fail(why);
}

} // namespace ferro::sim
