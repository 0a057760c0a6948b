// Prometheus metrics without global state: a Registry is created in main (or the role's run()) and handed
// to whatever counts, through constructors. Counters, gauges and histograms, each in a Family that fixes
// its name, help, type and label names; a family's child per label-value set is created on first use and
// lives as long as the registry, so hot paths look a child up once and keep the reference.
//
// Thread-safe: values are atomics (the agent counts on gRPC's threads, the HTTP endpoint reads on its own),
// and each family's children are behind a mutex taken only to find or create a child and to expose.
// expose() writes the Prometheus text format 0.0.4 (exposition.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace jarvis::metrics {

class Counter {
 public:
  // `amount` must not be negative: a counter only goes up (until the process restarts).
  void inc(double amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double amount = 1) { value_.fetch_add(amount, std::memory_order_relaxed); }
  void dec(double amount = 1) { value_.fetch_sub(amount, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `upper_bounds`: strictly increasing, finite; +Inf is implicit.
  explicit Histogram(const std::vector<double>& upper_bounds);
  void observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;   // without +Inf
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf (== count)
    double sum = 0;
    std::uint64_t count = 0;
  };
  // Cumulative counts; the +Inf bucket and the count are the same number by construction.
  Snapshot snapshot() const;

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bucket (not cumulative), +Inf last
  std::atomic<double> sum_{0};
};

// Bucket layouts used by controller-runtime and client-go, so dashboards built for them read ours.
std::vector<double> exponential_buckets(double start, double factor, int count);
std::vector<double> reconcile_time_buckets();  // controller-runtime's, 5 ms .. 60 s
std::vector<double> workqueue_buckets();       // client-go's workqueue: 1e-8 s .. 1e3 s (factor 10)
std::vector<double> rpc_latency_buckets();     // 1 ms .. ~33 s (factor 2)

enum class Type { counter, gauge, histogram };

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names);
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  // Appends the family's HELP, TYPE and samples in the text format.
  virtual void write(std::string& out) const = 0;

 protected:
  void check_label_count(std::size_t given) const;
  void write_header(std::string& out) const;
  // name{label="value",...,extra_name="extra_value"} with escaped values, without the sample value.
  void write_series(std::string& out, std::string_view suffix, const std::vector<std::string>& values,
                    std::string_view extra_name = {}, std::string_view extra_value = {}) const;

  std::string name_;
  std::string help_;
  Type type_;
  std::vector<std::string> label_names_;
};

template <typename Metric>
class Family final : public FamilyBase {
 public:
  template <typename... Args>
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names, Args&&... args)
      : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)), make_([=] {
          return std::make_unique<Metric>(args...);
        }) {
    if (label_names_.empty()) with({});  // an unlabelled metric is exposed (as 0) from the start
  }

  // The child for these label values (in the order of the label names); created on first use. Throws
  // std::invalid_argument when the count differs from the label names' (a bug).
  Metric& with(std::initializer_list<std::string_view> values) {
    check_label_count(values.size());
    std::vector<std::string> key(values.begin(), values.end());
    std::lock_guard lock(mu_);
    auto& child = children_[std::move(key)];
    if (!child) child = make_();
    return *child;
  }

  void write(std::string& out) const override;

 private:
  std::function<std::unique_ptr<Metric>()> make_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family. Throws std::invalid_argument on an invalid or already registered name, or an
  // invalid label name (bugs, found by the first test that builds the role's metrics).
  Family<Counter>& counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  Family<Histogram>& histogram(std::string name, std::string help, std::vector<double> upper_bounds,
                               std::vector<std::string> label_names = {});

  // `collect` runs at the start of every expose(), on the thread that exposes, to set values read at scrape
  // time (process_metrics.hpp). It must be thread-safe and cheap.
  void add_collector(std::function<void()> collect);

  // Every family, sorted by name, in the Prometheus text format 0.0.4.
  std::string expose() const;

  static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

 private:
  void check_new_name(const std::string& name) const;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FamilyBase>> families_;
  std::vector<std::function<void()>> collectors_;
};

// Exposition helpers (exposition.cpp), public for the tests.
void append_value(std::string& out, double value);     // 1, 0.25, 1e-08, +Inf, -Inf, NaN
void append_label_value(std::string& out, std::string_view value);  // escapes \ " and newline
bool valid_metric_name(std::string_view name);
bool valid_label_name(std::string_view name);

}  // namespace jarvis::metrics
