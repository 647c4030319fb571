#include "agent/metrics_server.h"

#include <arpa/inet.h>
#include <httplib.h>

#include <chrono>

#include <fmt/format.h>

namespace sluice::agent {

MetricsServer::MetricsServer(std::function<std::string()> metrics, std::function<std::string()> status)
    : metrics_(std::move(metrics)), status_(std::move(status)) {}

MetricsServer::~MetricsServer() { stop(); }

bool MetricsServer::start(const std::string& address, int port, std::string& error) {
  in_addr a4{};
  in6_addr a6{};
  bool loopback = (inet_pton(AF_INET, address.c_str(), &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
                  (inet_pton(AF_INET6, address.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6));
  if (!loopback) {
    error = fmt::format("metrics address {} is not a loopback address: the endpoint is for this node only", address);
    return false;
  }
  server_ = std::make_unique<httplib::Server>();
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(status_(), "application/json");
  });
  bool bound = port == 0 ? (port_ = server_->bind_to_any_port(address)) > 0 : server_->bind_to_port(address, port);
  if (!bound) {
    error = fmt::format("cannot listen on {}:{} (in use?)", address, port);
    server_.reset();
    return false;
  }
  if (port != 0) port_ = port;
  listenerDone_ = false;
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listenerDone_ = true;
  });
  // httplib's stop() does nothing until the listener marked itself running: an
  // agent stopped right after it started would otherwise wait forever.
  while (!server_->is_running() && !listenerDone_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return true;
}

void MetricsServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace sluice::agent
