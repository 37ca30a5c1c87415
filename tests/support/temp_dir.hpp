#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace ferro::test {

/// A fresh folder under /tmp (mkdtemp), removed with everything in it when
/// the object goes.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix;
    tmpl += "-XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() { std::filesystem::remove_all(path); }
};

} // namespace ferro::test
