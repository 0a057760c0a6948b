#include "cli/run_flags.hpp"

#include "cli/label_selector.hpp"
#include "cli/shell_words.hpp"
#include "common/duration.hpp"

namespace jarvis::cli {

Result<OutputFormat> parse_output_format(const std::string& text) {
  if (text == "folded") return OutputFormat::folded;
  if (text == "lines") return OutputFormat::lines;
  if (text == "json") return OutputFormat::json;
  if (text == "yaml") return OutputFormat::yaml;
  return Error{"-o " + text + ": want folded, lines, json or yaml"};
}

Result<CommandRequest> request_from_flags(const RunOptions& o, const std::string& ns) {
  CommandRequest request;
  request.ns = ns;
  request.name = o.name;
  if (o.command.empty()) return Error{"no command given: put it after --, e.g. kubectl jarvis run --all -- uptime"};
  request.command = command_from_words(o.command);
  if (request.command.empty()) return Error{"the command after -- is empty"};

  int choices = !o.selector.empty() + !o.nodes.empty() + o.all;
  if (choices != 1) {
    return Error{choices == 0 ? "choose the nodes: -l SELECTOR, --node NAME (repeatable) or --all"
                              : "-l, --node and --all exclude each other: give one of them"};
  }
  if (!o.selector.empty()) {
    auto term = parse_label_selector(o.selector);
    if (!term) return Error{"-l: " + term.error().message};
    request.selector = controller::NodeSelector{{std::move(*term)}};
  } else if (!o.nodes.empty()) {
    auto selector = selector_for_nodes(o.nodes);
    if (!selector) return Error{"--node: " + selector.error().message};
    request.selector = std::move(*selector);
  }

  if (!o.timeout.empty()) {
    auto timeout = parse_duration(o.timeout);
    if (!timeout || timeout->count() < 1 || timeout->count() > 86400) {
      return Error{"--timeout " + o.timeout + ": want a duration from 1s to 24h, e.g. 30s, 5m, 1h30m"};
    }
    request.timeout_seconds = timeout->count();
  }
  if (!o.max_concurrency.empty()) {
    auto value = parse_int_or_percent(o.max_concurrency, "--max-concurrency");
    if (!value) return value.error();
    if (const auto* n = std::get_if<std::int64_t>(&*value); n && *n < 1) {
      return Error{"--max-concurrency " + o.max_concurrency + ": at least 1 node must run at a time"};
    }
    request.max_concurrency = *value;
  }
  if (!o.max_failures.empty()) {
    auto value = parse_int_or_percent(o.max_failures, "--max-failures");
    if (!value) return value.error();
    request.max_failures = *value;
  }
  if (!o.keep) {
    auto ttl = parse_duration(o.ttl);
    if (!ttl) return Error{"--ttl " + o.ttl + ": want a duration such as 30m, 24h, 7d"};
    request.ttl_seconds_after_finished = ttl->count();
  }
  return request;
}

}  // namespace jarvis::cli
