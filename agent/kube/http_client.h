// Makes an HTTP(S) client for the API server from a KubeConfig: TLS with the
// cluster's CA (only it: the system CAs are not added), the client
// certificate, the bearer token, and bounded connect/write timeouts.
//
// Internal to agent/kube; the only file that knows about OpenSSL.
#pragma once

#include <httplib.h>

#include <memory>
#include <string>

#include "agent/kube/kube_watch.h"

namespace sluice::kube {

struct ApiClient {
  std::unique_ptr<httplib::ClientImpl> http;
  std::string basePath;  // the server URL's path ("" or e.g. "/k8s/clusters/c-1"), no trailing '/'
};

// Returns nullptr-holding ApiClient with `error` set on a bad server URL or
// TLS material that OpenSSL cannot read.
ApiClient makeApiClient(const KubeConfig& config, std::string& error);

}  // namespace sluice::kube
