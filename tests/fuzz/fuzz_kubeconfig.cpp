// fuzz_kubeconfig: the agent's kubeconfig reader (agent/kube/kubeconfig.cpp,
// yaml-cpp), through KubeConfig::parse, as if the text were the file
// <dir>/config. <dir> is a directory made at start-up holding the files a
// kubeconfig names (ca.crt, client.crt, client.key, token), so that relative
// references resolve; the input may name any other file too.
//
// Checked besides the sanitizers: no exception escapes, a refusal has an
// error that names the file, and what is accepted is usable (an http(s)
// server; client certificate and key together; no CA with insecure).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/kube/kube_watch.h"
#include "tests/fuzz/check.h"

namespace {

std::string configPath;

void writeFile(const std::filesystem::path& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sluice-fuzz-kubeconfig-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  writeFile(dir / "ca.crt", "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n");
  writeFile(dir / "client.crt", "-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n");
  writeFile(dir / "client.key", "-----BEGIN EC PRIVATE KEY-----\nMHcfake\n-----END EC PRIVATE KEY-----\n");
  writeFile(dir / "token", "eyJhbGciOiJSUzI1NiJ9.fake\n");
  writeFile(dir / "empty", "");
  configPath = (dir / "config").string();
  // The directory is removed when the fuzzer exits normally; after a crash it
  // stays in /tmp (five small files).
  static std::filesystem::path toRemove = dir;
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(toRemove, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::string error;
  std::optional<sluice::kube::KubeConfig> config = sluice::kube::KubeConfig::parse(text, configPath, error);
  if (!config) {
    FUZZ_CHECK(error.rfind(configPath, 0) == 0, "a refusal that does not name the file: %s", error.c_str());
    return 0;
  }
  FUZZ_CHECK(config->server.rfind("https://", 0) == 0 || config->server.rfind("http://", 0) == 0,
             "accepted server %s", config->server.c_str());
  FUZZ_CHECK(config->clientCertPem.empty() == config->clientKeyPem.empty(),
             "accepted a client certificate without a key, or the reverse");
  FUZZ_CHECK(!(config->insecureSkipTlsVerify && !config->caPem.empty()), "accepted a CA with insecure-skip-tls-verify");
  return 0;
}
