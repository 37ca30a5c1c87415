#include "index/vector_codec.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "index/compact_kernels.hpp"
#include "index/half_float.hpp"

namespace ferro {

namespace {

float scale_of(const void* p) {
  float s;
  std::memcpy(&s, p, sizeof(s));
  return s;
}

} // namespace

vector_codec::vector_codec(vector_type type, std::size_t dimension)
    : type_(type), dimension_(dimension), bytes_(stored_vector_bytes(type, dimension)) {
  const auto& k = best_compact_kernels();
  switch (type_) {
    case vector_type::float16:
      stored_ = k.f16_stored;
      query_ = k.f16_query;
      break;
    case vector_type::int8:
      stored_ = k.i8_stored;
      query_ = k.i8_query;
      break;
    case vector_type::float32:
      stored_ = query_ = best_ip_distance();
      break;
  }
}

void vector_codec::encode(const float* v, void* out) const {
  switch (type_) {
    case vector_type::float32:
      std::memcpy(out, v, bytes_);
      return;
    case vector_type::float16: {
      auto* h = static_cast<std::uint16_t*>(out);
      for (std::size_t i = 0; i < dimension_; ++i)
        h[i] = half::from_float(v[i]);
      return;
    }
    case vector_type::int8: {
      float max_abs = 0;
      for (std::size_t i = 0; i < dimension_; ++i)
        max_abs = std::max(max_abs, std::fabs(v[i]));
      // An all-zero vector never reaches a graph (normalize refuses it); keep
      // it all zero rather than divide by zero.
      const float scale = max_abs / 127.0f;
      const float inverse = max_abs > 0 ? 127.0f / max_abs : 0.0f;
      std::memcpy(out, &scale, sizeof(scale));
      auto* codes = static_cast<std::int8_t*>(out) + sizeof(float);
      for (std::size_t i = 0; i < dimension_; ++i) {
        auto c = std::lrint(v[i] * inverse); // nearest, ties to even
        codes[i] = static_cast<std::int8_t>(std::clamp<long>(c, -127, 127));
      }
      return;
    }
  }
}

void vector_codec::decode(const void* stored, float* out) const {
  switch (type_) {
    case vector_type::float32:
      std::memcpy(out, stored, bytes_);
      return;
    case vector_type::float16: {
      auto* h = static_cast<const std::uint16_t*>(stored);
      for (std::size_t i = 0; i < dimension_; ++i)
        out[i] = half::to_float(h[i]);
      return;
    }
    case vector_type::int8: {
      const float scale = scale_of(stored);
      auto* codes = static_cast<const std::int8_t*>(stored) + sizeof(float);
      for (std::size_t i = 0; i < dimension_; ++i)
        out[i] = static_cast<float>(codes[i]) * scale;
      return;
    }
  }
}

std::vector<float> vector_codec::decode(const void* stored) const {
  std::vector<float> out(dimension_);
  decode(stored, out.data());
  return out;
}

void vector_codec::round_trip(std::vector<float>& v) const {
  if (type_ == vector_type::float32 || v.size() != dimension_)
    return;
  std::vector<unsigned char> stored(bytes_);
  encode(v.data(), stored.data());
  decode(stored.data(), v.data());
}

bool vector_codec::encodes_to(const float* v, const void* stored) const {
  if (type_ == vector_type::float32)
    return std::memcmp(v, stored, bytes_) == 0;
  std::vector<unsigned char> mine(bytes_);
  encode(v, mine.data());
  if (type_ == vector_type::float16)
    return std::memcmp(mine.data(), stored, bytes_) == 0;
  const float a = scale_of(mine.data());
  const float b = scale_of(stored);
  return std::memcmp(mine.data() + sizeof(float), static_cast<const unsigned char*>(stored) + sizeof(float),
                     dimension_) == 0 &&
         std::fabs(a - b) <= std::max(std::fabs(a), std::fabs(b)) * 0x1p-20f;
}

} // namespace ferro
