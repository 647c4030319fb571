// Working in another network namespace from a multi-threaded process.
//
// setns(CLONE_NEWNET) moves only the calling thread, and whatever that thread
// does next (sockets, /proc/sys/net, if_nametoindex) happens in the namespace
// it is in. So the agent never moves its own threads: a function that must
// run elsewhere runs on a fresh thread that enters the namespace, and the
// thread ends with it. Netlink sockets opened there stay in that namespace
// whichever thread uses them afterwards.
//
// Not everything follows the thread: /sys/class/net shows the namespace of
// whoever mounted sysfs, and /proc/self is the process (use /proc/thread-self).
#pragma once

#include <functional>
#include <string>

namespace sluice::runtime {

// An open network namespace: a descriptor of /proc/PID/ns/net,
// /var/run/netns/NAME or a bind mount of one, closed on destruction.
class Netns {
 public:
  Netns() = default;
  ~Netns();
  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  // Opens the namespace at `path`; false with `error` when it cannot be
  // opened or is not a network namespace.
  bool open(const std::string& path, std::string& error);
  bool isOpen() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Runs `fn` on a new thread that has entered this namespace, and waits for
  // it. False with `error` when the thread could not be started or could not
  // enter the namespace (then `fn` did not run), or when `fn` threw (its
  // what()). `fn` reports its own failures through what it captures.
  bool run(const std::function<void()>& fn, std::string& error) const;

 private:
  int fd_ = -1;
  std::string path_;
};

// Opens the namespace at `path` and runs `fn` there (Netns::open + run).
bool runInNetns(const std::string& path, const std::function<void()>& fn, std::string& error);

}  // namespace sluice::runtime
