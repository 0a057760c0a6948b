// The Prometheus text format, version 0.0.4: per family `# HELP`, `# TYPE`, then one line per sample;
// histograms as cumulative `_bucket{le=...}` lines ending with le="+Inf", then `_sum` and `_count`.
#include <charconv>
#include <cmath>

#include "metrics/registry.hpp"

namespace jarvis::metrics {

namespace {

std::string_view type_name(Type type) {
  switch (type) {
    case Type::counter: return "counter";
    case Type::gauge: return "gauge";
    case Type::histogram: return "histogram";
  }
  return "untyped";
}

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

}  // namespace

bool valid_metric_name(std::string_view name) {
  if (name.empty() || !(name_start(name[0]) || name[0] == ':')) return false;
  for (char c : name)
    if (!(name_char(c) || c == ':')) return false;
  return true;
}

bool valid_label_name(std::string_view name) {
  if (name.empty() || !name_start(name[0]) || name.starts_with("__")) return false;
  for (char c : name)
    if (!name_char(c)) return false;
  return true;
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;  // shortest form that reads back the same
    out.append(buf, end);
  }
}

void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
}

void FamilyBase::write_header(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  for (char c : help_) {  // HELP escapes only backslash and newline
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type_name(type_);
  out += '\n';
}

void FamilyBase::write_series(std::string& out, std::string_view suffix, const std::vector<std::string>& values,
                              std::string_view extra_name, std::string_view extra_value) const {
  out += name_;
  out += suffix;
  if (label_names_.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  auto label = [&](std::string_view n, std::string_view v) {
    if (!first) out += ',';
    first = false;
    out += n;
    out += "=\"";
    append_label_value(out, v);
    out += '"';
  };
  for (std::size_t i = 0; i < label_names_.size(); ++i) label(label_names_[i], values[i]);
  if (!extra_name.empty()) label(extra_name, extra_value);
  out += '}';
}

template <typename Metric>
void Family<Metric>::write(std::string& out) const {
  write_header(out);
  std::lock_guard lock(mu_);
  for (const auto& [values, metric] : children_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      const Histogram::Snapshot s = metric->snapshot();
      std::string le;
      for (std::size_t i = 0; i <= s.upper_bounds.size(); ++i) {
        le.clear();
        if (i < s.upper_bounds.size()) append_value(le, s.upper_bounds[i]);
        else le = "+Inf";
        write_series(out, "_bucket", values, "le", le);
        out += ' ';
        append_value(out, static_cast<double>(s.cumulative[i]));
        out += '\n';
      }
      write_series(out, "_sum", values);
      out += ' ';
      append_value(out, s.sum);
      out += '\n';
      write_series(out, "_count", values);
      out += ' ';
      append_value(out, static_cast<double>(s.count));
      out += '\n';
    } else {
      write_series(out, "", values);
      out += ' ';
      append_value(out, metric->value());
      out += '\n';
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

}  // namespace jarvis::metrics
