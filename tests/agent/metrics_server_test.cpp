// agent/metrics_server without a kernel: it serves only loopback addresses,
// and it stops whenever it is asked to, even right after it started.
#include <chrono>
#include <cstdlib>
#include <future>
#include <iostream>

#include <gtest/gtest.h>
#include <httplib.h>

#include "agent/metrics_server.h"

namespace sluice::agent {
namespace {

using namespace std::chrono_literals;

TEST(MetricsServer, ServesMetricsAndStatusOnLoopback) {
  MetricsServer server([] { return std::string("sluice_agent_generation 3\n"); },
                       [] { return std::string("{\"generation\":3}\n"); });
  std::string error;
  ASSERT_TRUE(server.start("127.0.0.1", 0, error)) << error;
  httplib::Client client("127.0.0.1", server.port());
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->body, "sluice_agent_generation 3\n");
  EXPECT_NE(metrics->get_header_value("Content-Type").find("version=0.0.4"), std::string::npos);
  auto status = client.Get("/status");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->body, "{\"generation\":3}\n");
}

TEST(MetricsServer, RefusesAnAddressOtherThanLoopback) {
  MetricsServer server([] { return std::string(); }, [] { return std::string(); });
  std::string error;
  EXPECT_FALSE(server.start("0.0.0.0", 0, error));
  EXPECT_NE(error.find("not a loopback address"), std::string::npos) << error;
}

// httplib ignores stop() until its listener is running: a server stopped at
// once (an agent that cannot start, a test that fails early) must still stop.
TEST(MetricsServer, StopsRightAfterItStarted) {
  auto done = std::async(std::launch::async, [] {
    for (int i = 0; i < 200; ++i) {
      MetricsServer server([] { return std::string(); }, [] { return std::string(); });
      std::string error;
      if (!server.start("127.0.0.1", 0, error)) return error;
      server.stop();
    }
    return std::string();
  });
  if (done.wait_for(60s) != std::future_status::ready) {
    std::cerr << "MetricsServer::stop() hangs when called right after start()\n";
    std::_Exit(1);  // the hung thread cannot be joined
  }
  EXPECT_EQ(done.get(), "");
}

}  // namespace
}  // namespace sluice::agent
