#include "cluster/cluster_view.hpp"

namespace ferro::cluster {

std::vector<std::string> cluster_view::live_nodes() const {
  std::vector<std::string> out;
  for (const auto& m : members)
    if (is_live(m.status))
      out.push_back(m.node_id);
  return out;
}

placement_table to_placement_table(const cluster_view& view, std::size_t vnodes_per_node) {
  return placement_table{view.view_epoch, view.live_nodes(), vnodes_per_node};
}

} // namespace ferro::cluster
