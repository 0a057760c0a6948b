#include "metrics/registry.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace jarvis::metrics {

Histogram::Histogram(const std::vector<double>& upper_bounds)
    : upper_bounds_(upper_bounds), buckets_(new std::atomic<std::uint64_t>[upper_bounds.size() + 1]) {
  for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (!std::isfinite(upper_bounds_[i]) || (i > 0 && upper_bounds_[i] <= upper_bounds_[i - 1]))
      throw std::invalid_argument("histogram bounds must be finite and strictly increasing");
  }
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double value) {
  // The first bucket whose upper bound is >= value ("le"); past the last bound, +Inf.
  const auto it = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  buckets_[static_cast<std::size_t>(it - upper_bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  s.cumulative.reserve(upper_bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

std::vector<double> reconcile_time_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
          1.25,  1.5,  1.75,  2.0,  2.5, 3.0,  3.5, 4.0,  4.5, 5,   6,   7,   8,   9,   10,  15,  20,  25,
          30,    40,   50,    60};
}

std::vector<double> workqueue_buckets() {
  // 1e-8 .. 1e3 written out: repeated multiplication would give 1.0000000000000001e-07 and the like.
  return {1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000};
}

std::vector<double> rpc_latency_buckets() { return exponential_buckets(0.001, 2, 16); }

FamilyBase::FamilyBase(std::string name, std::string help, Type type, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {
  for (const auto& label : label_names_) {
    if (!valid_label_name(label) || label == "le")
      throw std::invalid_argument("metric " + name_ + ": invalid label name \"" + label + "\"");
  }
}

void FamilyBase::check_label_count(std::size_t given) const {
  if (given != label_names_.size())
    throw std::invalid_argument("metric " + name_ + " has " + std::to_string(label_names_.size()) +
                                " labels, given " + std::to_string(given) + " values");
}

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  check_new_name(name);
  auto family = std::make_unique<Family<Counter>>(name, std::move(help), Type::counter, std::move(label_names));
  auto& ref = *family;
  families_.emplace(std::move(name), std::move(family));
  return ref;
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  check_new_name(name);
  auto family = std::make_unique<Family<Gauge>>(name, std::move(help), Type::gauge, std::move(label_names));
  auto& ref = *family;
  families_.emplace(std::move(name), std::move(family));
  return ref;
}

Family<Histogram>& Registry::histogram(std::string name, std::string help, std::vector<double> upper_bounds,
                                       std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  check_new_name(name);
  Histogram probe(upper_bounds);  // validates the bounds before anything is registered
  auto family = std::make_unique<Family<Histogram>>(name, std::move(help), Type::histogram, std::move(label_names),
                                                    std::move(upper_bounds));
  auto& ref = *family;
  families_.emplace(std::move(name), std::move(family));
  return ref;
}

void Registry::check_new_name(const std::string& name) const {
  if (!valid_metric_name(name)) throw std::invalid_argument("invalid metric name \"" + name + "\"");
  if (families_.contains(name)) throw std::invalid_argument("metric " + name + " registered twice");
}

void Registry::add_collector(std::function<void()> collect) {
  std::lock_guard lock(mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::expose() const {
  std::string out;
  std::lock_guard lock(mu_);
  for (const auto& collect : collectors_) collect();
  for (const auto& [name, family] : families_) family->write(out);
  return out;
}

}  // namespace jarvis::metrics
