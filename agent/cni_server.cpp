#include "agent/cni_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace sluice::agent {

bool CniServer::start(const std::string& path, std::string& error) {
  listenFd_ = cni::listenAgentSocket(path, error);
  if (listenFd_ < 0) return false;
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) {
    error = fmt::format("eventfd: {}", std::strerror(errno));
    ::close(listenFd_);
    listenFd_ = -1;
    return false;
  }
  path_ = path;
  acceptor_ = std::thread([this] { acceptLoop(); });
  return true;
}

void CniServer::acceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listenFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++serving_;
    }
    std::thread([this, fd] {
      std::string error;
      cni::serveConnection(fd, handler_, error);
      ::close(fd);
      std::lock_guard<std::mutex> lock(mu_);
      if (--serving_ == 0) idle_.notify_all();
    }).detach();
  }
}

void CniServer::stop() {
  if (wakeFd_ < 0) return;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakeFd_, &one, sizeof one);
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [&] { return serving_ == 0; });
  }
  ::close(listenFd_);
  ::close(wakeFd_);
  listenFd_ = wakeFd_ = -1;
  if (!path_.empty()) ::unlink(path_.c_str());
}

}  // namespace sluice::agent
