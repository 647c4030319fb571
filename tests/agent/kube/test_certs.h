// Certificates made at test time for the fake API server's TLS: a CA, a
// server certificate for 127.0.0.1 and a client certificate, both signed by
// the CA. PEM text, as a kubeconfig carries it.
#pragma once

#include <string>

namespace sluice::kube::testing {

struct TestPki {
  std::string caCertPem, caKeyPem;
  std::string serverCertPem, serverKeyPem;  // subjectAltName IP:127.0.0.1
  std::string clientCertPem, clientKeyPem;  // CN=sluice-agent
};

// A new CA and certificates (EC P-256, valid for a day). Throws on an
// OpenSSL failure.
TestPki makeTestPki();

}  // namespace sluice::kube::testing
