#include <catch2/catch.hpp>

#include "storage/crc32c.hpp"
#include "storage/record_codec.hpp"
#include "storage/snapshot_files.hpp"
#include "storage_test_support.hpp"

using namespace ferro;
using namespace ferro::test;
namespace codec = ferro::storage::codec;

TEST_CASE("crc32c matches the published check value") {
  CHECK(storage::crc32c(std::string_view{"123456789"}) == 0xE3069283u);
  CHECK(storage::crc32c(std::string_view{}) == 0u);
  std::string long_input(1000, 'x');
  auto whole = storage::crc32c(long_input);
  auto split = storage::crc32c_extend(storage::crc32c(long_input.data(), 333), long_input.data() + 333,
                                      long_input.size() - 333);
  CHECK(whole == split);
}

TEST_CASE("an insert record survives encoding and decoding unchanged") {
  auto rec = insert_of({"m", "s", "c"}, "u-1", 384, 0.25f);
  rec.entry.expires_at_ms = 1700000060000;
  rec.entry.access_count = 42;
  rec.entry.last_accessed_ms = -5;
  rec.entry.response = std::string("binary\0bytes", 12);
  auto key = codec::wal_key(7, 9);
  auto sealed = codec::seal(key, codec::encode_wal_payload(rec));
  auto payload = codec::unseal(key, sealed);
  REQUIRE(payload.ok());
  log_record back;
  bool is_void = true;
  REQUIRE(codec::decode_wal_payload(*payload, back, is_void).ok());
  CHECK_FALSE(is_void);
  CHECK(back.op == log_op::insert);
  CHECK(back.entry.uuid == rec.entry.uuid);
  CHECK(back.entry.embedding == rec.entry.embedding);
  CHECK(back.entry.response == rec.entry.response);
  CHECK(back.entry.query_text == rec.entry.query_text);
  CHECK(back.entry.created_at_ms == rec.entry.created_at_ms);
  CHECK(back.entry.expires_at_ms == rec.entry.expires_at_ms);
  CHECK(back.entry.access_count == 42);
  CHECK(back.entry.last_accessed_ms == -5);
}

TEST_CASE("a remove record survives encoding and decoding unchanged") {
  auto rec = remove_of({"m", "", ""}, "gone", removal_reason::invalidated);
  auto key = codec::wal_key(1, 1);
  auto sealed = codec::seal(key, codec::encode_wal_payload(rec));
  auto payload = codec::unseal(key, sealed); // a view into `sealed`
  REQUIRE(payload.ok());
  log_record back;
  bool is_void = true;
  REQUIRE(codec::decode_wal_payload(*payload, back, is_void).ok());
  CHECK_FALSE(is_void);
  CHECK(back.op == log_op::remove);
  CHECK(back.uuid == "gone");
  CHECK(back.reason == removal_reason::invalidated);
}

TEST_CASE("a record's epoch survives encoding and decoding") {
  auto ins = insert_of({"m", "", ""}, "u", 8);
  ins.epoch = 7;
  auto rem = remove_of({"m", "", ""}, "u", removal_reason::expired);
  rem.epoch = (std::uint64_t{1} << 40) + 3;
  for (const auto& rec : {ins, rem}) {
    log_record back;
    bool is_void = true;
    REQUIRE(codec::decode_wal_payload(codec::encode_wal_payload(rec), back, is_void).ok());
    CHECK(back.op == rec.op);
    CHECK(back.epoch == rec.epoch);
  }
}

TEST_CASE("a record of epoch 0 is written exactly as before epochs existed") {
  // Old data dirs hold these bytes; single-node records must not change.
  auto rem = remove_of({"m", "", ""}, "u", removal_reason::deleted);
  CHECK(codec::encode_wal_payload(rem) == std::string("\x93\x02\xa1u\x01"));
  log_record back;
  bool is_void = true;
  REQUIRE(codec::decode_wal_payload(std::string("\x93\x02\xa1u\x01"), back, is_void).ok());
  CHECK(back.epoch == 0);
  CHECK(back.op == log_op::remove);
}

TEST_CASE("a record with anything after its epoch is rejected") {
  log_record out;
  bool v = false;
  CHECK_FALSE(codec::decode_wal_payload("\x95\x02\xa1u\x01\x05\x06", out, v).ok());
  CHECK_FALSE(codec::decode_wal_payload("\x94\x02\xa1u\x01\xa1x", out, v).ok()); // epoch not a number
}

TEST_CASE("a void record encodes as the void placeholder") {
  log_record rec;
  rec.op = log_op::void_;
  CHECK(codec::encode_wal_payload(rec) == codec::encode_void_payload());
  log_record back;
  bool is_void = false;
  REQUIRE(codec::decode_wal_payload(codec::encode_wal_payload(rec), back, is_void).ok());
  CHECK(is_void);
  CHECK(back.op == log_op::void_);
}

TEST_CASE("a sealed value with any flipped bit does not verify") {
  auto key = codec::wal_key(3, 4);
  auto sealed = codec::seal(key, codec::encode_wal_payload(insert_of({"m", "", ""}, "u", 8)));
  for (std::size_t byte = 0; byte < sealed.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto damaged = sealed;
      damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
      INFO("byte " << byte << " bit " << bit);
      CHECK_FALSE(codec::unseal(key, damaged).ok());
    }
  }
}

TEST_CASE("a sealed value does not verify under another key or truncated or with an unknown version") {
  auto key = codec::wal_key(3, 4);
  auto sealed = codec::seal(key, codec::encode_wal_payload(remove_of({"m", "", ""}, "u")));
  CHECK_FALSE(codec::unseal(codec::wal_key(3, 5), sealed).ok());
  CHECK_FALSE(codec::unseal(key, sealed.substr(0, sealed.size() - 1)).ok());
  CHECK_FALSE(codec::unseal(key, sealed.substr(0, 3)).ok());
  CHECK_FALSE(codec::unseal(key, "").ok());
  auto other_version = sealed;
  other_version[0] = 2;
  CHECK_FALSE(codec::unseal(key, other_version).ok());
}

TEST_CASE("garbage payloads are rejected without throwing") {
  log_record out;
  bool v = false;
  CHECK_FALSE(codec::decode_wal_payload("", out, v).ok());
  CHECK_FALSE(codec::decode_wal_payload("\xc1", out, v).ok());                            // never-used byte
  CHECK_FALSE(codec::decode_wal_payload("\xdd\xff\xff\xff\xff", out, v).ok());            // array32 of 4G
  CHECK_FALSE(codec::decode_wal_payload("\x92\x09\x90", out, v).ok());                    // unknown op 9
  CHECK_FALSE(codec::decode_wal_payload("\x93\x02\xa1u\x07", out, v).ok());               // bad reason 7
  CHECK_FALSE(codec::decode_namespace(std::string_view("\x94\xa0\x00\x00\x00", 5)).ok()); // key ""
  CHECK_FALSE(codec::decode_manifest("\x90").ok());
}

TEST_CASE("a void placeholder decodes as void and fills nothing") {
  log_record out;
  bool is_void = false;
  REQUIRE(codec::decode_wal_payload(codec::encode_void_payload(), out, is_void).ok());
  CHECK(is_void);
  CHECK(out.entry.uuid.empty());
}

TEST_CASE("namespace records and manifests survive encoding and decoding") {
  codec::namespace_meta m{{"model::384", "tenant", "conv"}, 384, 10, 99};
  auto back = codec::decode_namespace(codec::encode_namespace(m));
  REQUIRE(back.ok());
  CHECK(back->key == m.key);
  CHECK(back->dimension == 384);
  CHECK(back->base_ns_seq == 10);
  CHECK(back->last_ns_seq == 99);

  codec::snapshot_manifest s{"s-1-2", 2, 50, 384, 7, 1234, 0xdeadbeef, true, 999, 0xfeedface};
  auto sb = codec::decode_manifest(codec::encode_manifest(s));
  REQUIRE(sb.ok());
  CHECK(sb->dir_name == "s-1-2");
  CHECK(sb->generation == 2);
  CHECK(sb->covered_ns_seq == 50);
  CHECK(sb->entries_crc == 0xdeadbeef);
  CHECK(sb->has_graph);
  CHECK(sb->graph_crc == 0xfeedface);
}

TEST_CASE("wal keys sort by namespace id and then by sequence number") {
  CHECK(codec::wal_key(1, 255) < codec::wal_key(1, 256));
  CHECK(codec::wal_key(1, UINT64_MAX) < codec::wal_key(2, 0));
  std::uint64_t id = 0, seq = 0;
  REQUIRE(codec::parse_wal_key(codec::wal_key(0x0102030405060708, 42), id, seq));
  CHECK(id == 0x0102030405060708);
  CHECK(seq == 42);
}

TEST_CASE("an entries file round-trips and detects truncation and flipped bytes") {
  temp_dir tmp;
  auto file = tmp.path() / "entries.msgpack";
  std::vector<labelled_entry> entries;
  for (int i = 0; i < 50; ++i)
    entries.push_back({static_cast<std::uint64_t>(i), make_entry(numbered("u", i), 16, i)});
  namespace_key ns{"m", "t", ""};
  auto info = storage::write_entries_file(file, ns, 16, 77, entries);
  REQUIRE(info.ok());
  auto back = storage::read_entries_file(file);
  REQUIRE(back.ok());
  CHECK(back->ns == ns);
  CHECK(back->dimension == 16);
  CHECK(back->covered_ns_seq == 77);
  REQUIRE(back->entries.size() == 50);
  CHECK(back->entries[49].label == 49);
  CHECK(to_labelled_entry(back->entries[49]).entry == entries[49].entry);
  CHECK(back->info.crc == info->crc);
  CHECK(back->info.bytes == fs::file_size(file));

  auto bytes = read_text(file);
  SECTION("truncated") {
    write_text(file, bytes.substr(0, bytes.size() - 10));
    auto r = storage::read_entries_file(file);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.err().message, Catch::Contains("truncated"));
  }
  SECTION("flipped payload byte") {
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x10);
    write_text(file, bytes);
    auto r = storage::read_entries_file(file);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.err().message, Catch::Contains("checksum"));
  }
  SECTION("flipped header byte") {
    bytes[17] = static_cast<char>(bytes[17] ^ 0x01);
    write_text(file, bytes);
    CHECK_FALSE(storage::read_entries_file(file).ok());
  }
  SECTION("empty") {
    write_text(file, "");
    CHECK_FALSE(storage::read_entries_file(file).ok());
  }
}

TEST_CASE("a feedback record survives encoding and decoding unchanged") {
  log_record rec;
  rec.op = log_op::feedback;
  rec.ns = {"m", "", ""};
  rec.uuid = "entry-7";
  rec.feedback = feedback_fields{0.8725, false, 3, "What is the tax rate in 2024?"};
  auto key = codec::wal_key(1, 2);
  auto sealed = codec::seal(key, codec::encode_wal_payload(rec));
  auto payload = codec::unseal(key, sealed);
  REQUIRE(payload.ok());
  log_record back;
  bool is_void = true;
  REQUIRE(codec::decode_wal_payload(*payload, back, is_void).ok());
  CHECK_FALSE(is_void);
  CHECK(back.op == log_op::feedback);
  CHECK(back.uuid == "entry-7");
  CHECK(back.feedback.similarity == 0.8725);
  CHECK_FALSE(back.feedback.correct);
  CHECK(back.feedback.feature_class == 3);
  CHECK(back.feedback.query_text == "What is the tax rate in 2024?");
  CHECK(back.epoch == 0);
  back.ns = rec.ns; // the key, not the payload, names the namespace
  CHECK(back == rec);
  // With an epoch, it is the optional seventh element, as for the other ops.
  rec.epoch = 9;
  log_record with_epoch;
  REQUIRE(codec::decode_wal_payload(codec::encode_wal_payload(rec), with_epoch, is_void).ok());
  with_epoch.ns = rec.ns;
  CHECK(with_epoch == rec);
  CHECK(codec::encode_wal_payload(rec).size() > codec::encode_wal_payload(back).size());
  rec.epoch = 0;
  // A truncated feedback body is refused, not half-applied.
  log_record short_back;
  CHECK_FALSE(
      codec::decode_wal_payload(codec::encode_wal_payload(rec).substr(0, 12), short_back, is_void).ok());
}

TEST_CASE("a feedback table record (F5) survives encoding and decoding unchanged") {
  log_record rec;
  rec.op = log_op::feedback_table;
  rec.ns = {"m", "", ""};
  rec.feedback_table = "fq2 40 0.025\n1,37,12,3\n4,39,1,0\n";
  for (std::uint64_t epoch : {0, 5}) {
    CAPTURE(epoch);
    rec.epoch = epoch;
    log_record back;
    bool is_void = true;
    REQUIRE(codec::decode_wal_payload(codec::encode_wal_payload(rec), back, is_void).ok());
    CHECK_FALSE(is_void);
    back.ns = rec.ns;
    CHECK(back == rec);
  }
  log_record short_back;
  bool is_void = false;
  CHECK_FALSE(
      codec::decode_wal_payload(codec::encode_wal_payload(rec).substr(0, 6), short_back, is_void).ok());
}

TEST_CASE("a manifest carries the quality state only when there is one, and old manifests still load") {
  codec::snapshot_manifest s{"s-1-2", 2, 50, 384, 7, 1234, 0xdeadbeef, true, 999, 0xfeedface};
  auto plain = codec::encode_manifest(s);
  auto sb = codec::decode_manifest(plain);
  REQUIRE(sb.ok());
  CHECK(sb->quality_state.empty());
  s.quality_state = "fq1 101 0.005\n1,80,12,3\n";
  auto with = codec::decode_manifest(codec::encode_manifest(s));
  REQUIRE(with.ok());
  CHECK(with->quality_state == s.quality_state);
  CHECK(with->graph_crc == 0xfeedface);
  CHECK(codec::encode_manifest(s).size() > plain.size());
}

TEST_CASE("a manifest carries its lineage (F4) only when it has one, and older manifests load as whole") {
  codec::snapshot_manifest s{"s-1-3", 3, 60, 384, 9, 4321, 0xdeadbeef, true, 888, 0xfeedface};
  // No lineage: the same 10 elements as before F4 (an older reader loads it).
  auto plain = codec::decode_manifest(codec::encode_manifest(s));
  REQUIRE(plain.ok());
  CHECK(plain->epoch == 0);
  CHECK(plain->whole);
  s.epoch = 17;
  auto known = codec::decode_manifest(codec::encode_manifest(s));
  REQUIRE(known.ok());
  CHECK(known->epoch == 17);
  CHECK(known->whole);
  CHECK(known->quality_state.empty());
  CHECK(known->lineage_from == 0);
  s.whole = false;
  s.lineage_from = 41;
  s.quality_state = "fq2 x";
  auto partial = codec::decode_manifest(codec::encode_manifest(s));
  REQUIRE(partial.ok());
  CHECK(partial->epoch == 17);
  CHECK_FALSE(partial->whole);
  CHECK(partial->lineage_from == 41);
  CHECK(partial->quality_state == "fq2 x");
  CHECK(partial->graph_crc == 0xfeedface);
}
