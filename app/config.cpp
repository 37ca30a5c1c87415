#include "app/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <variant>

#include <toml++/toml.h>

extern char** environ;

namespace ferro {

namespace {

// A value as it came in: typed from TOML, text from the environment.
using raw_value = std::variant<bool, std::int64_t, double, std::string, std::vector<std::string>>;

error bad(const std::string& key, const std::string& why) {
  return error{errc::bad_request, "config key '" + key + "': " + why};
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string{} : std::string{s.substr(b, e - b + 1)};
}

result<std::int64_t> as_int(const std::string& key, const raw_value& v) {
  if (auto i = std::get_if<std::int64_t>(&v))
    return *i;
  if (auto s = std::get_if<std::string>(&v)) {
    auto t = trim(*s);
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    if (ec == std::errc{} && p == t.data() + t.size() && !t.empty())
      return out;
  }
  return bad(key, "expected an integer");
}

result<double> as_double(const std::string& key, const raw_value& v) {
  if (auto d = std::get_if<double>(&v))
    return *d;
  if (auto i = std::get_if<std::int64_t>(&v))
    return static_cast<double>(*i);
  if (auto s = std::get_if<std::string>(&v)) {
    auto t = trim(*s);
    double out = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    if (ec == std::errc{} && p == t.data() + t.size() && !t.empty() && std::isfinite(out))
      return out;
  }
  return bad(key, "expected a number");
}

result<bool> as_bool(const std::string& key, const raw_value& v) {
  if (auto b = std::get_if<bool>(&v))
    return *b;
  if (auto s = std::get_if<std::string>(&v)) {
    auto t = trim(*s);
    for (auto& c : t)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (t == "true" || t == "1" || t == "yes" || t == "on")
      return true;
    if (t == "false" || t == "0" || t == "no" || t == "off")
      return false;
  }
  return bad(key, "expected true or false");
}

result<std::string> as_string(const std::string& key, const raw_value& v) {
  if (auto s = std::get_if<std::string>(&v))
    return *s;
  return bad(key, "expected a string");
}

result<std::vector<std::string>> as_list(const std::string& key, const raw_value& v) {
  if (auto l = std::get_if<std::vector<std::string>>(&v))
    return *l;
  if (auto s = std::get_if<std::string>(&v)) {
    std::vector<std::string> out;
    std::string_view rest = *s;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      auto item = trim(rest.substr(0, comma));
      if (!item.empty())
        out.push_back(item);
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
    return out;
  }
  return bad(key, "expected a list of strings");
}

using applier = std::function<status(node_config&, const std::string&, const raw_value&)>;

result<std::int64_t> int_in(const std::string& key, const raw_value& v, std::int64_t lo, std::int64_t hi) {
  auto i = as_int(key, v);
  if (!i)
    return i.err();
  if (*i < lo || *i > hi)
    return bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return *i;
}

// Builders for the settings table: each checks type and range, then stores.
template <class Get>
applier uint_in(Get get, std::int64_t lo, std::int64_t hi) {
  return [get, lo, hi](node_config& c, const std::string& key, const raw_value& v) -> status {
    auto i = int_in(key, v, lo, hi);
    if (!i)
      return i.err();
    get(c) = static_cast<std::remove_reference_t<decltype(get(c))>>(*i);
    return {};
  };
}

template <class Get>
applier optional_uint_in(Get get, std::int64_t lo, std::int64_t hi) {
  return [get, lo, hi](node_config& c, const std::string& key, const raw_value& v) -> status {
    auto i = int_in(key, v, lo, hi);
    if (!i)
      return i.err();
    get(c) = static_cast<typename std::remove_reference_t<decltype(get(c))>::value_type>(*i);
    return {};
  };
}

template <class Get>
applier number_in(Get get, double lo, double hi) {
  return [get, lo, hi](node_config& c, const std::string& key, const raw_value& v) -> status {
    auto d = as_double(key, v);
    if (!d)
      return d.err();
    if (*d < lo || *d > hi)
      return bad(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    get(c) = *d;
    return {};
  };
}

template <class Get>
applier boolean(Get get) {
  return [get](node_config& c, const std::string& key, const raw_value& v) -> status {
    auto b = as_bool(key, v);
    if (!b)
      return b.err();
    get(c) = *b;
    return {};
  };
}

template <class Get>
applier text(Get get, bool allow_empty) {
  return [get, allow_empty](node_config& c, const std::string& key, const raw_value& v) -> status {
    auto s = as_string(key, v);
    if (!s)
      return s.err();
    if (!allow_empty && trim(*s).empty())
      return bad(key, "must not be empty");
    get(c) = *s;
    return {};
  };
}

template <class Get>
applier list(Get get) {
  return [get](node_config& c, const std::string& key, const raw_value& v) -> status {
    auto l = as_list(key, v);
    if (!l)
      return l.err();
    get(c) = *l;
    return {};
  };
}

#define FIELD(expr)                                                                                          \
  [](node_config & c) -> auto& {                                                                             \
    return c.expr;                                                                                           \
  }

const std::map<std::string, applier>& settings() {
  constexpr std::int64_t big = std::int64_t{1} << 40;
  static const std::map<std::string, applier> table{
      {"port", uint_in(FIELD(port), 0, 65535)},
      {"bind_address", text(FIELD(bind_address), false)},
      {"node_id", text(FIELD(node_id), false)},
      {"data_dir", text(
                       [](node_config & c) -> auto& { return c.data_dir; }, false)},
      {"auth_token", text(FIELD(auth_token), true)},
      {"max_body_bytes", uint_in(FIELD(max_body_bytes), 1024, std::int64_t{1} << 30)},
      {"io_threads", uint_in(FIELD(io_threads), 1, 256)},
      {"max_connections", uint_in(FIELD(max_connections), 1, 1000000)},
      {"log_level", text(FIELD(log_level), false)},
      {"actor_threads", uint_in(FIELD(actor_threads), 0, 256)},
      {"actor_scheduler", text(FIELD(actor_scheduler), false)},
      {"hnsw.max_nb_connection", uint_in(FIELD(hnsw.max_nb_connection), 2, 2048)},
      {"hnsw.ef_construction", uint_in(FIELD(hnsw.ef_construction), 1, 100000)},
      {"hnsw.ef_search", uint_in(FIELD(hnsw.ef_search), 1, 100000)},
      {"hnsw.default_threshold", number_in(FIELD(hnsw.default_threshold), 0.0, 1.0)},
      {"hnsw.max_entries_per_namespace", optional_uint_in(FIELD(hnsw.max_entries_per_namespace), 1, big)},
      {"hnsw.vector_type",
       [](node_config& c, const std::string& key, const raw_value& v) -> status {
         auto s = as_string(key, v);
         if (!s)
           return s.err();
         auto t = parse_vector_type(trim(*s));
         if (!t)
           return bad(key, "must be \"float32\", \"float16\" or \"int8\"");
         c.hnsw.stored_type = *t;
         return {};
       }},
      {"quality.default_check",
       [](node_config& c, const std::string& key, const raw_value& v) -> status {
         auto s = as_string(key, v);
         if (!s)
           return s.err();
         if (*s != "off" && *s != "strict")
           return bad(key, "must be \"off\" or \"strict\"");
         c.quality.default_check = *s;
         return {};
       }},
      {"quality.min_feedback", uint_in(FIELD(quality.min_feedback), 1, big)},
      {"quality.confidence", number_in(FIELD(quality.confidence), 0.5, 0.9999)},
      {"quality.pool_feedback",
       [](node_config& c, const std::string& key, const raw_value& v) -> status {
         auto s = as_string(key, v);
         if (!s)
           return s.err();
         if (*s != "namespace" && *s != "model")
           return bad(key, "must be \"namespace\" or \"model\"");
         c.quality.pool_feedback = *s;
         return {};
       }},
      {"expire_scan_interval_secs", uint_in(FIELD(expire_scan_interval_secs), 1, 86400 * 365)},
      {"conversation_ttl_seconds", optional_uint_in(FIELD(conversation_ttl_seconds), 0, big)},
      {"wal_batch_size", uint_in(FIELD(wal_batch_size), 1, 1000000)},
      {"wal_batch_timeout_ms", uint_in(FIELD(wal_batch_timeout_ms), 0, 60000)},
      {"compact_interval_inserts", uint_in(FIELD(compact_interval_inserts), 0, big)},
      {"compact_tail_fraction", number_in(FIELD(compact_tail_fraction), 0.0, 0.9)},
      {"lmdb_map_size_bytes",
       uint_in(FIELD(lmdb_map_size_bytes), std::int64_t{1} << 20, std::int64_t{1} << 44)},
      {"max_pending_writes", uint_in(FIELD(max_pending_writes), 1, 10000000)},
      {"cluster.enabled", boolean(FIELD(cluster.enabled))},
      {"cluster.port", uint_in(FIELD(cluster.port), 1, 65535)},
      {"cluster.seed_nodes", list(FIELD(cluster.seed_nodes))},
      {"cluster.replication_factor", uint_in(FIELD(cluster.replication_factor), 1, 16)},
      {"cluster.read_repair_enabled", boolean(FIELD(cluster.read_repair_enabled))},
      {"cluster.dead_node_removal_enabled", boolean(FIELD(cluster.dead_node_removal_enabled))},
      {"cluster.phi_threshold", number_in(FIELD(cluster.phi_threshold), 0.1, 1000.0)},
      {"cluster.advertise_host", text(FIELD(cluster.advertise_host), true)},
      {"cluster.heartbeat_interval_ms", uint_in(FIELD(cluster.heartbeat_interval_ms), 10, 60000)},
      {"cluster.replication_timeout_ms", uint_in(FIELD(cluster.replication_timeout_ms), 20, 600000)},
      {"cluster.max_concurrent_catch_ups", uint_in(FIELD(cluster.max_concurrent_catch_ups), 1, 4096)},
      {"cluster.tls.enabled", boolean(FIELD(cluster.tls.enabled))},
      {"cluster.tls.ca_cert_path", text(FIELD(cluster.tls.ca_cert_path), true)},
      {"cluster.tls.node_cert_path", text(FIELD(cluster.tls.node_cert_path), true)},
      {"cluster.tls.node_key_path", text(FIELD(cluster.tls.node_key_path), true)},
  };
  return table;
}

#undef FIELD

// Flattens a TOML table into dotted keys; arrays become string lists.
status flatten(const toml::table& table, const std::string& prefix, std::map<std::string, raw_value>& out) {
  for (auto&& [k, node] : table) {
    std::string key = prefix.empty() ? std::string{k.str()} : prefix + "." + std::string{k.str()};
    if (auto t = node.as_table()) {
      if (auto st = flatten(*t, key, out); !st)
        return st;
    } else if (auto b = node.as_boolean()) {
      out[key] = b->get();
    } else if (auto i = node.as_integer()) {
      out[key] = i->get();
    } else if (auto d = node.as_floating_point()) {
      out[key] = d->get();
    } else if (auto s = node.as_string()) {
      out[key] = s->get();
    } else if (auto a = node.as_array()) {
      std::vector<std::string> items;
      for (auto&& item : *a) {
        auto s = item.as_string();
        if (!s)
          return bad(key, "list items must be strings");
        items.push_back(s->get());
      }
      out[key] = std::move(items);
    } else {
      return bad(key, "unsupported value type");
    }
  }
  return {};
}

// FERROCACHE_HNSW__EF_SEARCH -> hnsw.ef_search
std::string env_to_key(std::string_view name) {
  std::string key;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '_' && i + 1 < name.size() && name[i + 1] == '_') {
      key += '.';
      ++i;
    } else {
      key += static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    }
  }
  return key;
}

status validate(const node_config& c) {
  static const std::vector<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (std::find(levels.begin(), levels.end(), c.log_level) == levels.end())
    return bad("log_level", "must be one of trace, debug, info, warn, error, critical, off");
  if (c.actor_scheduler != "stealing" && c.actor_scheduler != "sharing")
    return bad("actor_scheduler", "must be stealing or sharing");
  if (c.cluster.enabled && c.node_id.empty())
    return bad("node_id", "a clustered node needs a node_id unique in its cluster");
  if (c.cluster.enabled && c.cluster.heartbeat_interval_ms * 2 > c.cluster.replication_timeout_ms)
    return bad("cluster.replication_timeout_ms", "must be at least twice cluster.heartbeat_interval_ms");
  if (c.cluster.tls.enabled && (c.cluster.tls.ca_cert_path.empty() || c.cluster.tls.node_cert_path.empty() ||
                                c.cluster.tls.node_key_path.empty()))
    return bad("cluster.tls.enabled", "needs ca_cert_path, node_cert_path and node_key_path");
  return {};
}

} // namespace

result<node_config> load_config(const std::optional<std::filesystem::path>& explicit_path,
                                const std::map<std::string, std::string>& environment) {
  std::map<std::string, raw_value> values;
  std::filesystem::path path = explicit_path.value_or("ferrocache.toml");
  std::error_code ec;
  if (explicit_path || std::filesystem::exists(path, ec)) {
    try {
      auto table = toml::parse_file(path.string());
      if (auto st = flatten(table, "", values); !st)
        return st.err();
    } catch (const toml::parse_error& e) {
      return error{errc::bad_request, "config file '" + path.string() + "': " + std::string{e.description()}};
    }
  }
  const auto& table = settings();
  for (auto& [key, _] : values)
    if (!table.count(key))
      return bad(key, "unknown key in " + path.string());
  for (auto& [name, text] : environment) {
    constexpr std::string_view prefix = "FERROCACHE_";
    if (name.rfind(prefix, 0) != 0)
      continue;
    auto key = env_to_key(std::string_view{name}.substr(prefix.size()));
    // Other FERROCACHE_* variables belong to clients and tools (FERROCACHE_URL, ...).
    if (table.count(key))
      values[key] = text;
  }
  node_config cfg;
  for (auto& [key, value] : values)
    if (auto st = table.at(key)(cfg, key, value); !st)
      return st.err();
  if (auto st = validate(cfg); !st)
    return st.err();
  return cfg;
}

std::map<std::string, std::string> ferrocache_environment() {
  std::map<std::string, std::string> out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv{*e};
    if (kv.rfind("FERROCACHE_", 0) != 0)
      continue;
    auto eq = kv.find('=');
    if (eq != std::string_view::npos)
      out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

} // namespace ferro
