// The agent's end of sluice-cni's unix socket (runtime/cni/protocol.h): one
// thread accepts, and each connection is served on a thread of its own, so
// that concurrent ADDs (a runtime starting many pods) wait for enforcement
// together rather than in a queue. The handler does the work (NodeAgent).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/cni/protocol.h"

namespace sluice::agent {

class CniServer {
 public:
  explicit CniServer(cni::Handler handler) : handler_(std::move(handler)) {}
  ~CniServer() { stop(); }
  CniServer(const CniServer&) = delete;
  CniServer& operator=(const CniServer&) = delete;

  // Listens on `path` (replacing a stale socket; refusing one another agent
  // answers on) and starts accepting.
  bool start(const std::string& path, std::string& error);
  // Stops accepting and waits for the connections being served; removes the socket.
  void stop();
  const std::string& path() const { return path_; }

 private:
  void acceptLoop();

  cni::Handler handler_;
  std::string path_;
  int listenFd_ = -1;
  int wakeFd_ = -1;  // eventfd: stop() wakes the accept loop
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable idle_;
  int serving_ = 0;
};

}  // namespace sluice::agent
