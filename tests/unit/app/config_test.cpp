#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "app/config.hpp"

namespace fs = std::filesystem;
using ferro::load_config;

namespace {

// A TOML file in a fresh temporary folder, removed at scope exit.
struct temp_toml {
  fs::path dir;
  fs::path file;
  explicit temp_toml(const std::string& text) {
    dir = fs::temp_directory_path() / ("ferro-config-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir);
    file = dir / "ferrocache.toml";
    std::ofstream{file} << text;
  }
  ~temp_toml() { fs::remove_all(dir); }
};

} // namespace

TEST_CASE("with no file and no variables every documented default applies") {
  auto cfg = load_config(std::nullopt, {});
  REQUIRE(cfg.ok());
  CHECK(cfg->port == 3000);
  CHECK(cfg->hnsw.max_nb_connection == 16);
  CHECK(cfg->hnsw.ef_construction == 200);
  CHECK(cfg->hnsw.ef_search == 32);
  CHECK(cfg->hnsw.default_threshold == Approx(0.92));
  CHECK_FALSE(cfg->hnsw.max_entries_per_namespace.has_value());
  CHECK(cfg->hnsw.stored_type == ferro::vector_type::float32);
  CHECK(cfg->expire_scan_interval_secs == 60);
  CHECK_FALSE(cfg->conversation_ttl_seconds.has_value());
  CHECK(cfg->wal_batch_size == 256);
  CHECK(cfg->wal_batch_timeout_ms == 1);
  CHECK(cfg->compact_interval_inserts == 10000);
  CHECK(cfg->compact_tail_fraction == Approx(0.25));
  CHECK(cfg->cluster.replication_factor == 2);
  CHECK(cfg->cluster.read_repair_enabled);
  CHECK(cfg->cluster.phi_threshold == Approx(8.0));
  CHECK(cfg->quality.min_feedback == 30);
  CHECK(cfg->quality.confidence == Approx(0.95));
  CHECK(cfg->quality.pool_feedback == "namespace");
}

TEST_CASE("the TOML file sets nested keys and the environment overrides it") {
  temp_toml f{"port = 4100\nnode_id = \"a\"\n[hnsw]\nef_search = 64\nmax_entries_per_namespace = 10\n"
              "[cluster]\nseed_nodes = [\"x:1\", \"y:2\"]\n"};
  auto cfg = load_config(f.file, {{"FERROCACHE_HNSW__EF_SEARCH", "99"},
                                  {"FERROCACHE_CLUSTER__SEED_NODES", "p:1, q:2,r:3"},
                                  {"FERROCACHE_URL", "ignored: a client variable"}});
  REQUIRE(cfg.ok());
  CHECK(cfg->port == 4100);
  CHECK(cfg->node_id == "a");
  CHECK(cfg->hnsw.ef_search == 99);
  CHECK(cfg->hnsw.max_entries_per_namespace == std::optional<std::size_t>{10});
  CHECK(cfg->cluster.seed_nodes == std::vector<std::string>{"p:1", "q:2", "r:3"});
  auto q = load_config(std::nullopt, {{"FERROCACHE_QUALITY__CONFIDENCE", "0.99"},
                                      {"FERROCACHE_QUALITY__POOL_FEEDBACK", "model"}});
  REQUIRE(q.ok());
  CHECK(q->quality.confidence == Approx(0.99));
  CHECK(q->quality.pool_feedback == "model");
}

TEST_CASE("a bad value stops start-up with a message naming the key") {
  auto check_bad = [](std::map<std::string, std::string> env, const std::string& key) {
    auto cfg = load_config(std::nullopt, env);
    REQUIRE_FALSE(cfg.ok());
    INFO(cfg.err().message);
    CHECK(cfg.err().message.find(key) != std::string::npos);
  };
  check_bad({{"FERROCACHE_PORT", "70000"}}, "port");
  check_bad({{"FERROCACHE_PORT", "12ab"}}, "port");
  check_bad({{"FERROCACHE_HNSW__DEFAULT_THRESHOLD", "1.5"}}, "hnsw.default_threshold");
  check_bad({{"FERROCACHE_HNSW__EF_SEARCH", "0"}}, "hnsw.ef_search");
  check_bad({{"FERROCACHE_WAL_BATCH_SIZE", "-1"}}, "wal_batch_size");
  check_bad({{"FERROCACHE_COMPACT_TAIL_FRACTION", "-0.5"}}, "compact_tail_fraction");
  check_bad({{"FERROCACHE_COMPACT_TAIL_FRACTION", "1"}}, "compact_tail_fraction"); // never reached
  check_bad({{"FERROCACHE_CLUSTER__READ_REPAIR_ENABLED", "maybe"}}, "cluster.read_repair_enabled");
  check_bad({{"FERROCACHE_LOG_LEVEL", "loud"}}, "log_level");
  check_bad({{"FERROCACHE_NODE_ID", "  "}}, "node_id");
  check_bad({{"FERROCACHE_QUALITY__CONFIDENCE", "1"}}, "quality.confidence");
  check_bad({{"FERROCACHE_QUALITY__CONFIDENCE", "0.3"}}, "quality.confidence");
  check_bad({{"FERROCACHE_QUALITY__POOL_FEEDBACK", "tenant"}}, "quality.pool_feedback");
  check_bad({{"FERROCACHE_HNSW__VECTOR_TYPE", "float64"}}, "hnsw.vector_type");
  check_bad({{"FERROCACHE_HNSW__VECTOR_TYPE", "FLOAT16"}}, "hnsw.vector_type");
  check_bad({{"FERROCACHE_HNSW__VECTOR_TYPE", ""}}, "hnsw.vector_type");
}

TEST_CASE("hnsw.vector_type is read from the file and from the environment") {
  temp_toml file{"[hnsw]\nvector_type = \"int8\"\n"};
  auto from_file = load_config(file.file, {});
  REQUIRE(from_file.ok());
  CHECK(from_file->hnsw.stored_type == ferro::vector_type::int8);
  auto from_env = load_config(file.file, {{"FERROCACHE_HNSW__VECTOR_TYPE", "float16"}});
  REQUIRE(from_env.ok());
  CHECK(from_env->hnsw.stored_type == ferro::vector_type::float16);
  temp_toml number{"[hnsw]\nvector_type = 16\n"};
  auto bad = load_config(number.file, {});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.err().message.find("hnsw.vector_type") != std::string::npos);
}

TEST_CASE("unknown keys and malformed TOML in the file are reported") {
  temp_toml typo{"[hnsw]\nef_serch = 5\n"};
  auto cfg = load_config(typo.file, {});
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.err().message.find("hnsw.ef_serch") != std::string::npos);

  temp_toml broken{"port = = 3\n"};
  CHECK_FALSE(load_config(broken.file, {}).ok());

  temp_toml wrong_type{"port = \"x\"\n"};
  auto w = load_config(wrong_type.file, {});
  REQUIRE_FALSE(w.ok());
  CHECK(w.err().message.find("'port'") != std::string::npos);
}

TEST_CASE("an explicit config path that does not exist is an error") {
  CHECK_FALSE(load_config(fs::path{"/nonexistent/ferrocache.toml"}, {}).ok());
}
