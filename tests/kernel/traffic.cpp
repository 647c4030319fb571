#include "tests/kernel/traffic.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>

namespace sluice::kernel_testing {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throwErrno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

uint32_t randomU32() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return static_cast<uint32_t>(rng());
}

sockaddr_in makeAddr(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1)
    throw std::invalid_argument("not an IPv4 address: " + ip);
  return a;
}

std::string ipToString(uint32_t networkOrder) {
  char buf[INET_ADDRSTRLEN];
  in_addr a{networkOrder};
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

int msUntil(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// A self-pipe to wake a background poll loop.
void makeWakePipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) throwErrno("pipe2");
}
void wake(int fds[2]) {
  if (fds[1] >= 0) {
    char c = 1;
    if (write(fds[1], &c, 1) < 0) { /* the pipe is non-blocking; a full pipe already wakes */ }
  }
}
void closeFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) close(fd);
  }
};

// Binds a fresh socket of `type` in the pod to 0.0.0.0:port; returns the bound port.
uint16_t bindInPod(int fd, uint16_t port) {
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = makeAddr("0.0.0.0", port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throwErrno("bind port " + std::to_string(port));
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

TcpResult tcpResultOf(int err, const char* where) {
  switch (err) {
    case 0: return TcpResult::Connected;
    case ECONNREFUSED: return TcpResult::Refused;
    case ETIMEDOUT: return TcpResult::TimedOut;
    case EHOSTUNREACH:
    case ENETUNREACH: return TcpResult::Unreachable;
    default:
      std::fprintf(stderr, "tcp %s: %s\n", where, std::strerror(err));
      return TcpResult::Error;
  }
}

// Non-blocking connect with a timeout; fd must be non-blocking.
TcpResult connectWithTimeout(int fd, const std::string& toIp, uint16_t port, milliseconds timeout) {
  sockaddr_in a = makeAddr(toIp, port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return TcpResult::Connected;
  if (errno != EINPROGRESS) return tcpResultOf(errno, "connect");
  pollfd p{fd, POLLOUT, 0};
  auto deadline = Clock::now() + timeout;
  for (;;) {
    int rc = poll(&p, 1, msUntil(deadline));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) return TcpResult::TimedOut;
    if (rc < 0) return tcpResultOf(errno, "poll");
    break;
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return tcpResultOf(err, "connect");
}

// Sends all of buf on a non-blocking socket, waiting up to timeout. Returns 0,
// ETIMEDOUT if the send buffer stayed full, or the socket's errno.
int sendAll(int fd, const char* buf, size_t len, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n > 0) {
      buf += n;
      len -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return errno;
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, msUntil(deadline)) == 0) return ETIMEDOUT;
  }
  return 0;
}

}  // namespace

const char* toString(TcpResult r) {
  switch (r) {
    case TcpResult::Connected: return "Connected";
    case TcpResult::Refused: return "Refused";
    case TcpResult::TimedOut: return "TimedOut";
    case TcpResult::Unreachable: return "Unreachable";
    case TcpResult::Error: return "Error";
  }
  return "?";
}
std::ostream& operator<<(std::ostream& os, TcpResult r) { return os << toString(r); }

const char* toString(UdpResult r) {
  switch (r) {
    case UdpResult::Reply: return "Reply";
    case UdpResult::Refused: return "Refused";
    case UdpResult::TimedOut: return "TimedOut";
    case UdpResult::Error: return "Error";
  }
  return "?";
}
std::ostream& operator<<(std::ostream& os, UdpResult r) { return os << toString(r); }

// ---- TCP echo server ---------------------------------------------------------------

TcpEchoServer::TcpEchoServer(const NetnsCluster& cluster, const std::string& pod, uint16_t port)
    : TcpEchoServer(cluster.podNetnsPath(pod), port) {}

TcpEchoServer::TcpEchoServer(const std::string& netnsPath, uint16_t port) {
  listenFd_ = socketInNetns(netnsPath, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  try {
    port_ = bindInPod(listenFd_, port);
    if (listen(listenFd_, 128) != 0) throwErrno("listen");
    makeWakePipe(wakeFds_);
  } catch (...) {
    closeFd(listenFd_);
    throw;
  }
  thread_ = std::thread([this] { loop(); });
}

TcpEchoServer::~TcpEchoServer() { stop(); }

bool TcpEchoServer::waitForAccepted(uint64_t n, milliseconds timeout) const {
  auto deadline = Clock::now() + timeout;
  while (accepted_ < n) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return true;
}

std::vector<std::string> TcpEchoServer::peers() const {
  std::lock_guard<std::mutex> lock(peersMu_);
  return peers_;
}

void TcpEchoServer::stop() {
  if (thread_.joinable()) {
    wake(wakeFds_);
    thread_.join();
  }
  closeFd(listenFd_);
  closeFd(wakeFds_[0]);
  closeFd(wakeFds_[1]);
}

void TcpEchoServer::loop() {
  std::vector<int> conns;
  char buf[4096];
  for (;;) {
    std::vector<pollfd> fds{{wakeFds_[0], POLLIN, 0}, {listenFd_, POLLIN, 0}};
    for (int c : conns) fds.push_back({c, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) break;
    std::vector<int> keep;  // the connections that stay, then the new ones
    if (fds[1].revents & POLLIN) {
      for (;;) {
        sockaddr_in peer{};
        socklen_t peerLen = sizeof peer;
        int c = accept4(listenFd_, reinterpret_cast<sockaddr*>(&peer), &peerLen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        keep.push_back(c);
        {
          std::lock_guard<std::mutex> lock(peersMu_);
          peers_.push_back(ipToString(peer.sin_addr.s_addr));
        }
        ++accepted_;
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      int c = fds[i].fd;
      bool alive = true;
      if (fds[i].revents) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n > 0) {
          alive = sendAll(c, buf, static_cast<size_t>(n), milliseconds(1000)) == 0;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
          alive = false;
        }
      }
      if (alive) {
        keep.push_back(c);
      } else {
        close(c);
      }
    }
    conns.swap(keep);
  }
  for (int c : conns) close(c);
}

std::unique_ptr<TcpEchoServer> tcpListen(const NetnsCluster& cluster, const std::string& pod,
                                         uint16_t port) {
  return std::make_unique<TcpEchoServer>(cluster, pod, port);
}

TcpResult tcpConnect(const NetnsCluster& cluster, const std::string& fromPod, const std::string& toIp,
                     uint16_t port, milliseconds timeout) {
  return tcpConnectFrom(cluster.clientNetnsPath(fromPod), toIp, port, timeout);
}

TcpResult tcpConnectFrom(const std::string& netnsPath, const std::string& toIp, uint16_t port, milliseconds timeout) {
  FdGuard fd{socketInNetns(netnsPath, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)};
  return connectWithTimeout(fd.fd, toIp, port, timeout);
}

// ---- long-lived TCP session ------------------------------------------------------------

namespace {
constexpr size_t kSessionMsg = 16;  // "seq%012llu\n"
}

TcpSession::TcpSession(const NetnsCluster& cluster, const std::string& fromPod, const std::string& toIp,
                       uint16_t port, milliseconds interval, milliseconds exchangeTimeout,
                       milliseconds connectTimeout) {
  fd_ = socketInNetns(cluster.clientNetnsPath(fromPod), AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  stats_.connect = connectWithTimeout(fd_, toIp, port, connectTimeout);
  if (stats_.connect != TcpResult::Connected) {
    closeFd(fd_);
    return;
  }
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  makeWakePipe(wakeFds_);
  thread_ = std::thread([this, interval, exchangeTimeout] { loop(interval, exchangeTimeout); });
}

TcpSession::~TcpSession() { stop(); }

bool TcpSession::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_.connect == TcpResult::Connected;
}

TcpSession::Stats TcpSession::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool TcpSession::waitForExchanges(uint64_t n, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  uint64_t target = stats().exchanges + n;
  for (;;) {
    Stats s = stats();
    if (s.exchanges >= target) return true;
    if (s.broken || s.connect != TcpResult::Connected || Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

TcpSession::Stats TcpSession::stop() {
  if (thread_.joinable()) {
    wake(wakeFds_);
    thread_.join();
  }
  closeFd(fd_);
  closeFd(wakeFds_[0]);
  closeFd(wakeFds_[1]);
  return stats();
}

void TcpSession::loop(milliseconds interval, milliseconds exchangeTimeout) {
  auto breakWith = [&](const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.broken = true;
    stats_.error = why;
  };
  std::string pending;  // received bytes not yet parsed into whole messages
  unsigned long long seq = 0;
  for (;;) {
    pollfd w{wakeFds_[0], POLLIN, 0};
    if (poll(&w, 1, static_cast<int>(interval.count())) > 0) return;  // stop()
    ++seq;
    char msg[kSessionMsg + 1];
    std::snprintf(msg, sizeof msg, "seq%012llu\n", seq);
    if (int err = sendAll(fd_, msg, kSessionMsg, exchangeTimeout); err == ETIMEDOUT) {
      std::lock_guard<std::mutex> lock(mu_);  // send buffer full: the path is stalled, not dead
      ++stats_.stalls;
      continue;
    } else if (err != 0) {
      return breakWith(std::string("send: ") + std::strerror(err));
    }
    auto deadline = Clock::now() + exchangeTimeout;
    bool echoed = false;
    while (!echoed) {
      pollfd p[2] = {{wakeFds_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
      int rc = poll(p, 2, msUntil(deadline));
      if (rc < 0 && errno == EINTR) continue;
      if (p[0].revents) return;
      if (rc == 0) break;  // deadline
      char buf[1024];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n == 0) return breakWith("peer closed the connection");
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return breakWith(std::string("recv: ") + std::strerror(errno));
      }
      pending.append(buf, static_cast<size_t>(n));
      while (pending.size() >= kSessionMsg) {
        unsigned long long got = std::strtoull(pending.c_str() + 3, nullptr, 10);
        pending.erase(0, kSessionMsg);
        if (got == seq) echoed = true;  // older ones are late echoes of stalled messages
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (echoed) {
      ++stats_.exchanges;
    } else {
      ++stats_.stalls;
    }
  }
}

// ---- UDP ---------------------------------------------------------------------------------

UdpEchoServer::UdpEchoServer(const NetnsCluster& cluster, const std::string& pod, uint16_t port)
    : UdpEchoServer(cluster.podNetnsPath(pod), port) {}

UdpEchoServer::UdpEchoServer(const std::string& netnsPath, uint16_t port) {
  fd_ = socketInNetns(netnsPath, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  try {
    port_ = bindInPod(fd_, port);
    makeWakePipe(wakeFds_);
  } catch (...) {
    closeFd(fd_);
    throw;
  }
  thread_ = std::thread([this] { loop(); });
}

UdpEchoServer::~UdpEchoServer() { stop(); }

std::vector<std::string> UdpEchoServer::peers() const {
  std::lock_guard<std::mutex> lock(peersMu_);
  return peers_;
}

void UdpEchoServer::stop() {
  if (thread_.joinable()) {
    wake(wakeFds_);
    thread_.join();
  }
  closeFd(fd_);
  closeFd(wakeFds_[0]);
  closeFd(wakeFds_[1]);
}

void UdpEchoServer::loop() {
  char buf[65536];
  for (;;) {
    pollfd p[2] = {{wakeFds_[0], POLLIN, 0}, {fd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[0].revents) return;
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 0) break;
      {
        std::lock_guard<std::mutex> lock(peersMu_);
        peers_.push_back(ipToString(from.sin_addr.s_addr));
      }
      ++datagrams_;
      sendto(fd_, buf, static_cast<size_t>(n), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
}

std::unique_ptr<UdpEchoServer> udpListen(const NetnsCluster& cluster, const std::string& pod,
                                         uint16_t port) {
  return std::make_unique<UdpEchoServer>(cluster, pod, port);
}

UdpResult udpProbe(const NetnsCluster& cluster, const std::string& fromPod, const std::string& toIp,
                   uint16_t port, milliseconds timeout) {
  return udpProbeFrom(cluster.clientNetnsPath(fromPod), toIp, port, timeout);
}

UdpResult udpProbeFrom(const std::string& netnsPath, const std::string& toIp, uint16_t port, milliseconds timeout) {
  FdGuard fd{socketInNetns(netnsPath, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)};
  sockaddr_in a = makeAddr(toIp, port);
  if (connect(fd.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::fprintf(stderr, "udp connect %s:%u: %s\n", toIp.c_str(), port, std::strerror(errno));
    return UdpResult::Error;
  }
  char msg[40];
  int len = std::snprintf(msg, sizeof msg, "sluice-udp-%08x%08x", randomU32(), randomU32());
  auto deadline = Clock::now() + timeout;
  auto fromErrno = [&](int err) {
    if (err == ECONNREFUSED) return UdpResult::Refused;
    std::fprintf(stderr, "udp %s:%u: %s\n", toIp.c_str(), port, std::strerror(err));
    return UdpResult::Error;
  };
  do {
    if (send(fd.fd, msg, static_cast<size_t>(len), MSG_NOSIGNAL) < 0 && errno != EAGAIN)
      return fromErrno(errno);
    auto resend = std::min(deadline, Clock::now() + milliseconds(200));
    for (;;) {
      pollfd p{fd.fd, POLLIN, 0};
      int rc = poll(&p, 1, msUntil(resend));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) break;
      char buf[256];
      ssize_t n = recv(fd.fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return fromErrno(errno);
      }
      if (n == len && std::memcmp(buf, msg, static_cast<size_t>(len)) == 0) return UdpResult::Reply;
    }
  } while (Clock::now() < deadline);
  return UdpResult::TimedOut;
}

// ---- SCTP ------------------------------------------------------------------------------------

namespace {
uint32_t crc32cUpdate(uint32_t crc, const uint8_t* data, size_t len) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;  // reflected Castagnoli
      t[i] = c;
    }
    return t;
  }();
  for (size_t i = 0; i < len; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc;
}
}  // namespace

uint32_t crc32c(const uint8_t* data, size_t len) { return ~crc32cUpdate(0xFFFFFFFFu, data, len); }

namespace {
constexpr size_t kSctpCommonHeader = 12;
constexpr size_t kSctpInitChunk = 20;

void put16(uint8_t* p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xFF; }
void put32(uint8_t* p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v & 0xFFFF); }
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{get16(p)} << 16 | get16(p + 2); }

// The checksum goes in little-endian byte order (as Linux's sctp_compute_cksum
// stores it: cpu_to_le32 of the final CRC), i.e. the CRC's low byte first.
void putCrcLe(uint8_t* p, uint32_t crc) {
  for (int i = 0; i < 4; ++i) p[i] = (crc >> (8 * i)) & 0xFF;
}
}  // namespace

std::vector<uint8_t> buildSctpInit(uint16_t srcPort, uint16_t dstPort, uint32_t initiateTag) {
  if (initiateTag == 0) throw std::invalid_argument("SCTP INIT initiate tag must be non-zero");
  std::vector<uint8_t> pkt(kSctpCommonHeader + kSctpInitChunk, 0);
  uint8_t* h = pkt.data();
  put16(h, srcPort);
  put16(h + 2, dstPort);
  put32(h + 4, 0);  // verification tag: 0 in a packet carrying INIT
  // h + 8: checksum, filled below
  uint8_t* c = h + kSctpCommonHeader;
  c[0] = 1;  // chunk type INIT
  c[1] = 0;  // flags
  put16(c + 2, kSctpInitChunk);
  put32(c + 4, initiateTag);
  put32(c + 8, 106496);  // advertised receiver window credit
  put16(c + 12, 10);     // outbound streams
  put16(c + 14, 65535);  // max inbound streams
  put32(c + 16, initiateTag);  // initial TSN
  putCrcLe(h + 8, crc32c(pkt.data(), pkt.size()));
  return pkt;
}

bool sctpChecksumOk(const uint8_t* packet, size_t len) {
  if (len < kSctpCommonHeader) return false;
  const uint8_t zeros[4] = {0, 0, 0, 0};  // the checksum field counts as zero
  uint32_t crc = crc32cUpdate(0xFFFFFFFFu, packet, 8);
  crc = crc32cUpdate(crc, zeros, 4);
  crc = ~crc32cUpdate(crc, packet + 12, len - 12);
  uint8_t expect[4];
  putCrcLe(expect, crc);
  return std::memcmp(expect, packet + 8, 4) == 0;
}

std::optional<SctpArrival> sctpInitArrival(const NetnsCluster& cluster, const std::string& fromPod,
                                           const std::string& dstIp, uint16_t port,
                                           const std::string& observePod, milliseconds timeout) {
  // The receiver first, so that the first INIT cannot slip past it. With a raw
  // IPPROTO_SCTP socket open the kernel also stops answering "protocol unreachable".
  FdGuard rx{socketInNetns(cluster.podNetnsPath(observePod), AF_INET, SOCK_RAW | SOCK_NONBLOCK,
                           IPPROTO_SCTP)};
  FdGuard tx{socketInNetns(cluster.clientNetnsPath(fromPod), AF_INET, SOCK_RAW | SOCK_NONBLOCK,
                           IPPROTO_SCTP)};
  uint32_t tag = randomU32() | 1;
  auto srcPort = static_cast<uint16_t>(32768 + randomU32() % 28000);
  std::vector<uint8_t> pkt = buildSctpInit(srcPort, port, tag);
  sockaddr_in to = makeAddr(dstIp, 0);  // raw sockets take no port
  auto deadline = Clock::now() + timeout;
  do {
    if (sendto(tx.fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0 &&
        errno != EAGAIN)
      std::fprintf(stderr, "sctp INIT %s -> %s: %s\n", fromPod.c_str(), dstIp.c_str(), std::strerror(errno));
    auto resend = std::min(deadline, Clock::now() + milliseconds(200));
    for (;;) {
      pollfd p{rx.fd, POLLIN, 0};
      int rc = poll(&p, 1, msUntil(resend));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) break;
      uint8_t buf[2048];
      ssize_t n = recv(rx.fd, buf, sizeof buf, 0);  // raw IPv4 sockets receive the IP header too
      if (n < static_cast<ssize_t>(sizeof(iphdr))) continue;
      const auto* ip = reinterpret_cast<const iphdr*>(buf);
      size_t ihl = ip->ihl * 4u;
      if (ip->protocol != IPPROTO_SCTP || n < static_cast<ssize_t>(ihl + pkt.size())) continue;
      const uint8_t* s = buf + ihl;
      size_t slen = static_cast<size_t>(n) - ihl;
      const uint8_t* chunk = s + kSctpCommonHeader;
      if (get16(s) != srcPort || chunk[0] != 1 || get32(chunk + 4) != tag) continue;  // not ours
      if (!sctpChecksumOk(s, slen)) {
        std::fprintf(stderr, "sctp INIT arrived with a bad checksum\n");
        continue;
      }
      SctpArrival a;
      a.srcIp = ipToString(ip->saddr);
      a.dstIp = ipToString(ip->daddr);
      a.srcPort = get16(s);
      a.dstPort = get16(s + 2);
      return a;
    }
  } while (Clock::now() < deadline);
  return std::nullopt;
}

}  // namespace sluice::kernel_testing
