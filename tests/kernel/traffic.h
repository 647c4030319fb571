// Real-traffic probes between the pods of a NetnsCluster. Every probe has a
// timeout and never hangs a test. Sockets are created inside the pod's network
// namespace (on a short-lived thread, see runInNetns) and then used from the
// calling thread.
//
// Servers and sessions hold sockets in pod namespaces: destroy them before the
// cluster (declare them after it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/kernel/netns_cluster.h"

namespace sluice::kernel_testing {

using std::chrono::milliseconds;

// ---- TCP -------------------------------------------------------------------------

enum class TcpResult {
  Connected,    // three-way handshake completed
  Refused,      // RST (no listener, or a policy that rejects)
  TimedOut,     // nothing came back within the timeout (dropped)
  Unreachable,  // ICMP host/net unreachable, or no route
  Error,        // anything else (see the probe's stderr line)
};
const char* toString(TcpResult r);
std::ostream& operator<<(std::ostream& os, TcpResult r);

// A TCP echo server listening on 0.0.0.0:port in a pod; serves any number of
// concurrent connections on one background thread until destroyed.
class TcpEchoServer {
 public:
  TcpEchoServer(const NetnsCluster& cluster, const std::string& pod, uint16_t port);
  // In any network namespace (a path such as /run/netns/x).
  TcpEchoServer(const std::string& netnsPath, uint16_t port);
  ~TcpEchoServer();
  TcpEchoServer(const TcpEchoServer&) = delete;
  TcpEchoServer& operator=(const TcpEchoServer&) = delete;

  uint16_t port() const { return port_; }  // the bound port (useful with port 0)
  uint64_t accepted() const { return accepted_; }
  // The source address of every accepted connection, in order: what the
  // server saw after any translation on the way (a NodePort's SNAT, say).
  std::vector<std::string> peers() const;
  // The client sees "connected" before this server's thread accept()s:
  // waits until at least n connections were accepted in total.
  bool waitForAccepted(uint64_t n, milliseconds timeout = milliseconds(2000)) const;
  void stop();

 private:
  void loop();
  int listenFd_ = -1;
  int wakeFds_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<uint64_t> accepted_{0};
  mutable std::mutex peersMu_;
  std::vector<std::string> peers_;
  std::thread thread_;
};

std::unique_ptr<TcpEchoServer> tcpListen(const NetnsCluster& cluster, const std::string& pod,
                                         uint16_t port);

// Connects from a pod to toIp:port and closes again.
TcpResult tcpConnect(const NetnsCluster& cluster, const std::string& fromPod,
                     const std::string& toIp, uint16_t port, milliseconds timeout = milliseconds(2000));
// The same from any network namespace.
TcpResult tcpConnectFrom(const std::string& netnsPath, const std::string& toIp, uint16_t port,
                         milliseconds timeout = milliseconds(2000));

// A long-lived connection: connects, then every `interval` sends a 16-byte
// message and waits up to `exchangeTimeout` for its echo. Use it to check that
// a connection survives a program swap.
class TcpSession {
 public:
  struct Stats {
    TcpResult connect = TcpResult::Error;
    uint64_t exchanges = 0;  // echoes received in time
    uint64_t stalls = 0;     // echoes that missed their deadline (the message may still arrive later)
    bool broken = false;     // the connection died (RST, EOF, socket error)
    std::string error;       // why it broke
    // Connected, never stalled, never broke.
    bool stayedUp() const { return connect == TcpResult::Connected && stalls == 0 && !broken; }
  };

  TcpSession(const NetnsCluster& cluster, const std::string& fromPod, const std::string& toIp,
             uint16_t port, milliseconds interval = milliseconds(20),
             milliseconds exchangeTimeout = milliseconds(1000),
             milliseconds connectTimeout = milliseconds(2000));
  ~TcpSession();  // stop()
  TcpSession(const TcpSession&) = delete;
  TcpSession& operator=(const TcpSession&) = delete;

  bool connected() const;
  Stats stats() const;
  // Waits until at least n more exchanges than now succeeded (false on timeout or breakage).
  bool waitForExchanges(uint64_t n, milliseconds timeout);
  Stats stop();  // stops the exchanges and closes the connection; idempotent

 private:
  void loop(milliseconds interval, milliseconds exchangeTimeout);
  int fd_ = -1;
  int wakeFds_[2] = {-1, -1};
  mutable std::mutex mu_;
  Stats stats_;
  std::thread thread_;
};

// ---- UDP ---------------------------------------------------------------------------

enum class UdpResult {
  Reply,     // the echo came back
  Refused,   // ICMP port unreachable (nothing listening)
  TimedOut,  // nothing came back
  Error,
};
const char* toString(UdpResult r);
std::ostream& operator<<(std::ostream& os, UdpResult r);

// A UDP echo server on 0.0.0.0:port in a pod.
class UdpEchoServer {
 public:
  UdpEchoServer(const NetnsCluster& cluster, const std::string& pod, uint16_t port);
  UdpEchoServer(const std::string& netnsPath, uint16_t port);
  ~UdpEchoServer();
  UdpEchoServer(const UdpEchoServer&) = delete;
  UdpEchoServer& operator=(const UdpEchoServer&) = delete;

  uint16_t port() const { return port_; }
  uint64_t datagrams() const { return datagrams_; }
  std::vector<std::string> peers() const;  // the source address of every datagram, in order
  void stop();

 private:
  void loop();
  int fd_ = -1;
  int wakeFds_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<uint64_t> datagrams_{0};
  mutable std::mutex peersMu_;
  std::vector<std::string> peers_;
  std::thread thread_;
};

std::unique_ptr<UdpEchoServer> udpListen(const NetnsCluster& cluster, const std::string& pod,
                                         uint16_t port);

// Sends a datagram with a random nonce from a connected UDP socket in the pod
// (so replies must come from toIp:port) and waits for its echo; resends every
// 200 ms within the timeout, so one lost packet does not fail the probe.
UdpResult udpProbe(const NetnsCluster& cluster, const std::string& fromPod, const std::string& toIp,
                   uint16_t port, milliseconds timeout = milliseconds(2000));
UdpResult udpProbeFrom(const std::string& netnsPath, const std::string& toIp, uint16_t port,
                       milliseconds timeout = milliseconds(2000));
inline bool udpExchange(const NetnsCluster& cluster, const std::string& fromPod,
                        const std::string& toIp, uint16_t port,
                        milliseconds timeout = milliseconds(2000)) {
  return udpProbe(cluster, fromPod, toIp, port, timeout) == UdpResult::Reply;
}

// ---- SCTP (no SCTP sockets in this kernel: raw IPPROTO_SCTP sockets instead) ----------

// CRC32c (Castagnoli), as SCTP uses it (RFC 9260 appendix A).
uint32_t crc32c(const uint8_t* data, size_t len);

// An SCTP packet (common header + INIT chunk, no IP header) with a correct
// checksum: verification tag 0, the given initiate tag (non-zero).
std::vector<uint8_t> buildSctpInit(uint16_t srcPort, uint16_t dstPort, uint32_t initiateTag);

// True if the SCTP packet (no IP header) carries a correct CRC32c.
bool sctpChecksumOk(const uint8_t* packet, size_t len);

struct SctpArrival {
  std::string srcIp, dstIp;  // as seen in the destination namespace (after any NAT)
  uint16_t srcPort = 0, dstPort = 0;
};

// Sends an SCTP INIT from fromPod to dstIp:port with a raw socket (resent every
// 200 ms) and waits for it to arrive, with a valid checksum, at a raw
// IPPROTO_SCTP socket in observePod's namespace. Nothing answers the INIT.
std::optional<SctpArrival> sctpInitArrival(const NetnsCluster& cluster, const std::string& fromPod,
                                           const std::string& dstIp, uint16_t port,
                                           const std::string& observePod,
                                           milliseconds timeout = milliseconds(2000));
inline bool sctpInitDelivered(const NetnsCluster& cluster, const std::string& fromPod,
                              const std::string& toPod, uint16_t port,
                              milliseconds timeout = milliseconds(2000)) {
  return sctpInitArrival(cluster, fromPod, cluster.podIp(toPod), port, toPod, timeout).has_value();
}

}  // namespace sluice::kernel_testing
