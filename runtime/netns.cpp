#include "runtime/netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <system_error>
#include <thread>
#include <utility>

#include <fmt/format.h>

namespace sluice::runtime {

Netns::~Netns() {
  if (fd_ >= 0) close(fd_);
}

Netns::Netns(Netns&& other) noexcept : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

bool Netns::open(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = fmt::format("cannot open the network namespace {}: {}", path, std::strerror(errno));
    return false;
  }
  // NS_GET_NSTYPE (4.11+) tells a network namespace from any other file.
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    error = type < 0 ? fmt::format("{} is not a namespace: {}", path, std::strerror(errno))
                     : fmt::format("{} is not a network namespace", path);
    close(fd);
    return false;
  }
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  path_ = path;
  return true;
}

bool Netns::run(const std::function<void()>& fn, std::string& error) const {
  if (fd_ < 0) {
    error = "no network namespace is open";
    return false;
  }
  std::string failure;
  try {
    // The thread exits after fn: nothing of the namespace can leak into
    // another thread of the process, so there is nothing to restore.
    std::thread worker([&] {
      if (setns(fd_, CLONE_NEWNET) != 0) {
        failure = fmt::format("cannot enter the network namespace {}: {}", path_, std::strerror(errno));
        return;
      }
      try {
        fn();
      } catch (const std::exception& e) {
        failure = fmt::format("in the network namespace {}: {}", path_, e.what());
      } catch (...) {
        failure = fmt::format("in the network namespace {}: unknown exception", path_);
      }
    });
    worker.join();
  } catch (const std::system_error& e) {
    error = fmt::format("cannot start a thread for the network namespace {}: {}", path_, e.what());
    return false;
  }
  if (!failure.empty()) {
    error = std::move(failure);
    return false;
  }
  return true;
}

bool runInNetns(const std::string& path, const std::function<void()>& fn, std::string& error) {
  Netns ns;
  return ns.open(path, error) && ns.run(fn, error);
}

}  // namespace sluice::runtime
