// The metrics registry and its text exposition (Prometheus 0.0.4). The exposition is also parsed by a real
// Prometheus parser in test/e2e/test_observability.py.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "metrics/process_metrics.hpp"
#include "metrics/registry.hpp"

using namespace jarvis::metrics;

TEST_CASE("counters, gauges and labels are exposed with HELP and TYPE, sorted by name", "[metrics]") {
  Registry r;
  auto& requests = r.counter("rest_client_requests_total", "Requests by code and method", {"code", "method"});
  auto& depth = r.gauge("workqueue_depth", "Current depth", {"name"});
  auto& plain = r.counter("jarvis_events_written_total", "Events").with({});
  requests.with({"200", "GET"}).inc();
  requests.with({"200", "GET"}).inc(2);
  requests.with({"<error>", "PUT"}).inc();
  depth.with({"command"}).set(3);
  depth.with({"command"}).dec();
  plain.inc();
  CHECK(r.expose() ==
        "# HELP jarvis_events_written_total Events\n"
        "# TYPE jarvis_events_written_total counter\n"
        "jarvis_events_written_total 1\n"
        "# HELP rest_client_requests_total Requests by code and method\n"
        "# TYPE rest_client_requests_total counter\n"
        "rest_client_requests_total{code=\"200\",method=\"GET\"} 3\n"
        "rest_client_requests_total{code=\"<error>\",method=\"PUT\"} 1\n"
        "# HELP workqueue_depth Current depth\n"
        "# TYPE workqueue_depth gauge\n"
        "workqueue_depth{name=\"command\"} 2\n");
  CHECK(std::string(Registry::content_type) == "text/plain; version=0.0.4; charset=utf-8");
}

TEST_CASE("an unlabelled metric is exposed as 0 before anything counts", "[metrics]") {
  Registry r;
  r.counter("a_total", "A");
  r.gauge("b", "B");
  CHECK(r.expose() == "# HELP a_total A\n# TYPE a_total counter\na_total 0\n# HELP b B\n# TYPE b gauge\nb 0\n");
}

TEST_CASE("histogram buckets are cumulative and +Inf equals the count", "[metrics]") {
  Registry r;
  auto& h = r.histogram("rpc_seconds", "Latency", {0.1, 0.5, 1}, {"method"}).with({"Wait"});
  for (double v : {0.05, 0.1, 0.3, 0.7, 2.0, 30.0}) h.observe(v);
  const auto s = h.snapshot();
  CHECK(s.cumulative == std::vector<std::uint64_t>{2, 3, 4, 6});
  CHECK(s.count == 6);
  CHECK(s.sum == Approx(33.15));
  CHECK(r.expose() ==
        "# HELP rpc_seconds Latency\n"
        "# TYPE rpc_seconds histogram\n"
        "rpc_seconds_bucket{method=\"Wait\",le=\"0.1\"} 2\n"
        "rpc_seconds_bucket{method=\"Wait\",le=\"0.5\"} 3\n"
        "rpc_seconds_bucket{method=\"Wait\",le=\"1\"} 4\n"
        "rpc_seconds_bucket{method=\"Wait\",le=\"+Inf\"} 6\n"
        "rpc_seconds_sum{method=\"Wait\"} 33.15\n"
        "rpc_seconds_count{method=\"Wait\"} 6\n");
}

TEST_CASE("label values and help text are escaped", "[metrics]") {
  Registry r;
  r.counter("x_total", "line one\nback\\slash \"quotes\" stay", {"reason"}).with({"a \"b\" \\ c\nd"}).inc();
  CHECK(r.expose() ==
        "# HELP x_total line one\\nback\\\\slash \"quotes\" stay\n"
        "# TYPE x_total counter\n"
        "x_total{reason=\"a \\\"b\\\" \\\\ c\\nd\"} 1\n");
}

TEST_CASE("values are written in the shortest form that reads back the same", "[metrics]") {
  auto text = [](double v) {
    std::string out;
    append_value(out, v);
    return out;
  };
  CHECK(text(0) == "0");
  CHECK(text(42) == "42");
  CHECK(text(0.25) == "0.25");
  CHECK(text(1e-8) == "1e-08");
  CHECK(text(123456789012.0) == "123456789012");
  CHECK(text(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(text(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(text(std::nan("")) == "NaN");
}

TEST_CASE("the registry refuses bugs: bad names, duplicates, wrong label counts, bad buckets", "[metrics]") {
  Registry r;
  CHECK_THROWS_AS(r.counter("1bad", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("has-dash", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.counter("ok_total", "x", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("h", "x", {1}, {"le"}), std::invalid_argument);
  CHECK_THROWS_AS(r.histogram("h2", "x", {1, 1}), std::invalid_argument);
  auto& f = r.counter("dup_total", "x", {"a"});
  CHECK_THROWS_AS(r.gauge("dup_total", "x"), std::invalid_argument);
  CHECK_THROWS_AS(f.with({}), std::invalid_argument);
  CHECK_THROWS_AS(f.with({"1", "2"}), std::invalid_argument);
  CHECK(valid_metric_name("controller_runtime_reconcile_total"));
  CHECK(valid_metric_name("ns:name"));
  CHECK_FALSE(valid_label_name("a:b"));
}

TEST_CASE("counting from many threads loses nothing", "[metrics]") {
  Registry r;
  auto& family = r.counter("c_total", "x", {"t"});
  auto& h = r.histogram("h", "x", {0.5}).with({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        family.with({t % 2 ? "odd" : "even"}).inc();
        h.observe(i % 2 ? 0.25 : 1.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(family.with({"odd"}).value() == 20000);
  CHECK(family.with({"even"}).value() == 20000);
  const auto s = h.snapshot();
  CHECK(s.cumulative == std::vector<std::uint64_t>{20000, 40000});
  CHECK(s.count == 40000);
}

TEST_CASE("the standard bucket layouts are strictly increasing", "[metrics]") {
  for (const auto& bounds : {reconcile_time_buckets(), workqueue_buckets(), rpc_latency_buckets()}) {
    REQUIRE_FALSE(bounds.empty());
    for (std::size_t i = 1; i < bounds.size(); ++i) CHECK(bounds[i] > bounds[i - 1]);
  }
  CHECK(workqueue_buckets().front() == 1e-8);
  CHECK(workqueue_buckets().back() == 1000);
  CHECK(reconcile_time_buckets().back() == 60);
}

TEST_CASE("the process_* metrics are read from /proc at every scrape", "[metrics]") {
  jarvis::metrics::Registry r;
  jarvis::metrics::register_process_metrics(r);
  const auto value_of = [](const std::string& text, const std::string& name) {
    const auto at = text.find("\n" + name + " ");
    REQUIRE(at != std::string::npos);
    return std::stod(text.substr(at + name.size() + 2));
  };
  const std::string first = r.expose();
  const double start = value_of(first, "process_start_time_seconds");
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(start > now - 3600);  // this test process started a moment ago
  CHECK(start <= now + 1);
  CHECK(value_of(first, "process_resident_memory_bytes") > 1024 * 1024);
  CHECK(value_of(first, "process_virtual_memory_bytes") >= value_of(first, "process_resident_memory_bytes"));
  CHECK(value_of(first, "process_max_fds") >= 3);
  // A file opened between two scrapes shows in the second.
  const double fds = value_of(first, "process_open_fds");
  std::FILE* opened = std::tmpfile();
  CHECK(value_of(r.expose(), "process_open_fds") == fds + 1);
  std::fclose(opened);
  // CPU time only goes up: burn some and look again.
  volatile double sink = 0;
  const double cpu = value_of(r.expose(), "process_cpu_seconds_total");
  for (long i = 0; i < 200'000'000; ++i) sink = sink + 1e-9 * static_cast<double>(i);
  CHECK(value_of(r.expose(), "process_cpu_seconds_total") > cpu);
}
