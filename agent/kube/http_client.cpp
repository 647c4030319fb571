#include "agent/kube/http_client.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace sluice::kube {

namespace {

std::string opensslError(const std::string& what) {
  unsigned long code = ERR_get_error();
  char buf[256] = "no detail";
  if (code) ERR_error_string_n(code, buf, sizeof buf);
  ERR_clear_error();
  return what + ": " + buf;
}

struct Url {
  bool https = false;
  std::string host;
  int port = 0;
  std::string path;
};

bool parseServer(const std::string& server, Url& url, std::string& error) {
  std::string rest;
  if (server.rfind("https://", 0) == 0) {
    url.https = true;
    rest = server.substr(8);
  } else if (server.rfind("http://", 0) == 0) {
    rest = server.substr(7);
  } else {
    error = "server \"" + server + "\": expected https:// or http://";
    return false;
  }
  size_t slash = rest.find('/');
  std::string hostPort = rest.substr(0, slash);
  url.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  std::string portText;
  if (!hostPort.empty() && hostPort[0] == '[') {  // [IPv6]:port
    size_t close = hostPort.find(']');
    if (close == std::string::npos) {
      error = "server \"" + server + "\": unterminated [IPv6 address]";
      return false;
    }
    url.host = hostPort.substr(1, close - 1);
    if (close + 1 < hostPort.size() && hostPort[close + 1] == ':') portText = hostPort.substr(close + 2);
  } else {
    size_t colon = hostPort.rfind(':');
    url.host = hostPort.substr(0, colon);
    if (colon != std::string::npos) portText = hostPort.substr(colon + 1);
  }
  if (url.host.empty()) {
    error = "server \"" + server + "\": no host";
    return false;
  }
  url.port = url.https ? 443 : 80;
  if (!portText.empty()) {
    char* end = nullptr;
    long p = std::strtol(portText.c_str(), &end, 10);
    if (*end || p <= 0 || p > 65535) {
      error = "server \"" + server + "\": bad port \"" + portText + "\"";
      return false;
    }
    url.port = int(p);
  }
  return true;
}

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
Bio memBio(const std::string& pem) { return Bio(BIO_new_mem_buf(pem.data(), int(pem.size())), &BIO_free); }

}  // namespace

ApiClient makeApiClient(const KubeConfig& config, std::string& error) {
  ApiClient client;
  Url url;
  if (!parseServer(config.server, url, error)) return client;
  client.basePath = url.path;

  if (!url.https) {
    client.http = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  } else {
    X509* cert = nullptr;
    EVP_PKEY* key = nullptr;
    if (!config.clientCertPem.empty()) {
      cert = PEM_read_bio_X509(memBio(config.clientCertPem).get(), nullptr, nullptr, nullptr);
      if (!cert) {
        error = opensslError("client certificate");
        return client;
      }
      key = PEM_read_bio_PrivateKey(memBio(config.clientKeyPem).get(), nullptr, nullptr, nullptr);
      if (!key) {
        X509_free(cert);
        error = opensslError("client key");
        return client;
      }
    }
    // The SSL_CTX takes its own references to cert and key.
    auto ssl = std::make_unique<httplib::SSLClient>(url.host, url.port, cert, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!ssl->is_valid()) {
      error = opensslError("TLS setup (does the client key match the certificate?)");
      return client;
    }
    if (config.insecureSkipTlsVerify) {
      ssl->enable_server_certificate_verification(false);
    } else if (!config.caPem.empty()) {
      X509_STORE* store = X509_STORE_new();
      auto bio = memBio(config.caPem);
      int count = 0;
      while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
        X509_STORE_add_cert(store, ca);
        X509_free(ca);
        ++count;
      }
      ERR_clear_error();  // the loop ends on "no start line"
      if (count == 0) {
        X509_STORE_free(store);
        error = "certificate authority: no certificate could be read from the PEM text";
        return client;
      }
      // With no CA path set, httplib adds the system CAs to whatever store it
      // has; naming a CA directory (that need not exist) keeps it from doing
      // so, so only the cluster's CA is trusted, as with kubectl.
      ssl->set_ca_cert_path("", "/nonexistent/sluice-trusts-only-the-kubeconfig-ca");
      ssl->set_ca_cert_store(store);  // takes ownership
    }
    client.http = std::move(ssl);
  }
  client.http->set_connection_timeout(5, 0);
  client.http->set_write_timeout(10, 0);
  client.http->set_keep_alive(true);
  client.http->set_default_headers({{"Accept", "application/json"}, {"User-Agent", "sluice-agent"}});
  if (!config.bearerToken.empty()) client.http->set_bearer_token_auth(config.bearerToken);
  return client;
}

}  // namespace sluice::kube
