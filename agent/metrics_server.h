// The agent's HTTP endpoint, on a loopback address only: GET /metrics
// (Prometheus text format) and GET /status (JSON, what `sluice agent status`
// prints). The socket is bound by start(), in the calling thread's network
// namespace; requests are served on a background thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace sluice::agent {

class MetricsServer {
 public:
  MetricsServer(std::function<std::string()> metrics, std::function<std::string()> status);
  ~MetricsServer();  // stop()
  // False with `error` when the address is not a loopback one or the port is taken.
  bool start(const std::string& address, int port, std::string& error);
  void stop();
  int port() const { return port_; }

 private:
  std::function<std::string()> metrics_, status_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listenerDone_{false};
  int port_ = 0;
};

}  // namespace sluice::agent
