#include "cluster/transport/tls_setup.hpp"

#include <fstream>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace ferro::transport::tls {

namespace {

namespace ssl = boost::asio::ssl;

/// Ciphers for TLS 1.2 (1.3 suites are all authenticated AEAD): forward
/// secrecy with AEAD only; never anonymous, null, export, PSK or SRP.
constexpr const char* tls12_ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!PSK:!SRP:!kRSA";

status check_readable(const char* key, const std::string& path) {
  if (path.empty())
    return error{errc::bad_request, std::string("tls.") + key + " is not set"};
  std::ifstream f(path, std::ios::binary);
  if (!f || f.peek() == std::ifstream::traits_type::eof())
    return error{errc::bad_request,
                 std::string("tls.") + key + " '" + path + "' is missing, unreadable or empty"};
  return {};
}

std::string openssl_reason(const boost::system::error_code& ec) {
  auto e = ERR_get_error();
  ERR_clear_error();
  if (e == 0)
    return ec.message();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

} // namespace

result<std::shared_ptr<ssl::context>> make_context(const tls_options& opts) {
  for (auto [key, path] : {std::pair{"ca_cert_path", &opts.ca_cert_path},
                           std::pair{"cert_path", &opts.cert_path}, std::pair{"key_path", &opts.key_path}})
    if (auto st = check_readable(key, *path); !st)
      return st.err();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  auto* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  if (SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1)
    return error{errc::internal, "tls: no usable TLS 1.2 cipher suite"};
  boost::system::error_code ec;
  ERR_clear_error();
  if (ctx->load_verify_file(opts.ca_cert_path, ec); ec)
    return error{errc::bad_request, "tls.ca_cert_path '" + opts.ca_cert_path + "': " + openssl_reason(ec)};
  if (ctx->use_certificate_chain_file(opts.cert_path, ec); ec)
    return error{errc::bad_request, "tls.cert_path '" + opts.cert_path + "': " + openssl_reason(ec)};
  if (ctx->use_private_key_file(opts.key_path, ssl::context::pem, ec); ec)
    return error{errc::bad_request, "tls.key_path '" + opts.key_path + "': " + openssl_reason(ec)};
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return error{errc::bad_request, "tls.key_path '" + opts.key_path + "' does not match tls.cert_path '" +
                                        opts.cert_path + "'"};
  }
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  // Sessions are not resumed: every connection proves its certificate.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  return ctx;
}

bool certificate_names(SSL* session, const std::string& node_id) {
  X509* cert = SSL_get1_peer_certificate(session);
  if (cert == nullptr)
    return false;
  // Matches a SAN DNS entry or, without SANs, the CN; no wildcards.
  bool ok =
      X509_check_host(cert, node_id.data(), node_id.size(), X509_CHECK_FLAG_NO_WILDCARDS, nullptr) == 1 ||
      X509_check_ip_asc(cert, node_id.c_str(), 0) == 1;
  X509_free(cert);
  ERR_clear_error();
  return ok;
}

} // namespace ferro::transport::tls
