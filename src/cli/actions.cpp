#include "cli/actions.hpp"

#include <cstdio>

#include "cli/command_client.hpp"
#include "cli/command_view.hpp"
#include "cli/command_wait.hpp"
#include "cli/object_output.hpp"
#include "cli/progress.hpp"
#include "cli/result_format.hpp"
#include "common/json.hpp"

namespace jarvis::cli {

namespace asio = boost::asio;

namespace {

int fail(const Error& error) {
  std::fprintf(stderr, "error: %s\n", error.message.c_str());
  return kExitFailed;
}

// The exit status a finished Command earns.
int exit_status(const CommandView& view) { return view.all_succeeded() ? kExitOk : kExitFailed; }

void print_results(const rapidjson::Value& object, OutputFormat format) {
  CommandView view = read_command_view(object);
  std::string text;
  switch (format) {
    case OutputFormat::folded: text = format_folded(view); break;
    case OutputFormat::lines: text = format_lines(view); break;
    case OutputFormat::json: text = to_pretty_json(object); break;
    case OutputFormat::yaml: text = to_yaml(object); break;
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

std::string describe_text(const CommandView& view, const rapidjson::Value& object) {
  std::string out;
  out += "Name:       " + view.name + "\n";
  out += "Namespace:  " + view.ns + "\n";
  out += "Command:    " + view.command + "\n";
  if (const auto* selector = value_at(object, {"spec", "selector"})) out += "Selector:   " + serialize(*selector) + "\n";
  if (auto timeout = int_at(object, {"spec", "timeoutSeconds"})) out += "Timeout:    " + std::to_string(*timeout) + "s\n";
  if (auto rerun_of = string_at(object, {"metadata", "labels", "jarvis.io/rerun-of"})) {
    out += "Rerun of:   " + std::string(*rerun_of) + "\n";
  }
  out += "Phase:      " + (view.phase.empty() ? std::string("Pending") : view.phase) + "\n";
  if (!view.message.empty()) out += "Message:    " + view.message + "\n";
  if (auto start = string_at(object, {"status", "startTime"})) out += "Started:    " + std::string(*start) + "\n";
  if (auto end = string_at(object, {"status", "completionTime"})) out += "Completed:  " + std::string(*end) + "\n";
  out += "Nodes:      " + std::to_string(view.targeted) + " targeted, " + std::to_string(view.succeeded) +
         " succeeded, " + std::to_string(view.failed) + " failed, " + std::to_string(view.skipped) + " skipped, " +
         std::to_string(view.running) + " running\n";
  out += "Results:\n";
  return out;
}

asio::awaitable<int> wait_and_print(Session& s, const kube::Object& created, OutputFormat format) {
  CommandView view = read_command_view(*created);
  std::fprintf(stderr, "command %s/%s created\n", view.ns.c_str(), view.name.c_str());
  auto progress = make_progress(stderr);
  auto waited = co_await wait_for_command(s.client, s.log, created, *progress, *s.interrupts, stderr);
  if (!waited) co_return fail(waited.error());
  std::string where = view.ns + "/" + view.name;
  switch (waited->end) {
    case WaitEnd::canceled:
      std::fprintf(stderr, "command %s deleted: what still ran on the nodes is being stopped\n", where.c_str());
      co_return kExitInterrupted;
    case WaitEnd::left_running:
      std::fprintf(stderr, "command %s left running; see it later with: kubectl jarvis get %s -n %s\n", where.c_str(),
                   view.name.c_str(), view.ns.c_str());
      co_return kExitInterrupted;
    case WaitEnd::deleted:
      std::fprintf(stderr, "error: command %s was deleted before it finished\n", where.c_str());
      co_return kExitFailed;
    case WaitEnd::finished: break;
  }
  print_results(*waited->object, format);
  CommandView final_view = read_command_view(*waited->object);
  std::fprintf(stderr, "%s\n", format_summary(final_view).c_str());
  co_return exit_status(final_view);
}

}  // namespace

asio::awaitable<int> create_and_wait(Session& s, CommandRequest request, OutputFormat format) {
  CommandClient commands(s.client);
  const bool strict = request.max_concurrency || request.max_failures;
  auto created = co_await commands.create(request.ns, command_json(request), strict);
  if (!created) co_return fail(created.error());
  co_return co_await wait_and_print(s, *created, format);
}

asio::awaitable<int> rerun(Session& s, const RerunOptions& options, OutputFormat format) {
  CommandClient commands(s.client);
  auto old = co_await commands.get(s.target.ns, options.name);
  if (!old) co_return fail(old.error());
  CommandRequest request = rerun_request(**old);
  if (options.failed_only) {
    CommandView view = read_command_view(**old);
    if (!view.finished()) {
      co_return fail(Error{"command " + view.ns + "/" + view.name +
                           " has not finished: --failed-only needs to know which nodes failed; wait for it"});
    }
    std::vector<std::string> nodes;
    for (const auto& n : view.nodes) {
      if (n.phase != "Succeeded") nodes.push_back(n.name);
    }
    if (nodes.empty()) {
      std::fprintf(stderr, "nothing to rerun: every node of %s/%s succeeded\n", view.ns.c_str(), view.name.c_str());
      co_return kExitOk;
    }
    auto selector = selector_for_nodes(nodes);
    if (!selector) co_return fail(selector.error());
    request.selector = std::move(*selector);
  }
  co_return co_await create_and_wait(s, std::move(request), format);
}

asio::awaitable<int> show(Session& s, const ShowOptions& options, OutputFormat format, bool describe) {
  CommandClient commands(s.client);
  auto object = co_await commands.get(s.target.ns, options.name);
  if (!object) co_return fail(object.error());
  CommandView view = read_command_view(**object);
  if (describe) {
    std::string header = describe_text(view, **object);
    std::fwrite(header.data(), 1, header.size(), stdout);
  }
  print_results(**object, format);
  if (format == OutputFormat::folded || format == OutputFormat::lines) {
    std::fprintf(stderr, "%s\n", format_summary(view).c_str());
  }
  if (!view.finished()) co_return kExitOk;  // still running: nothing failed yet
  co_return exit_status(view);
}

asio::awaitable<int> logs(Session& s, const LogsOptions& options) {
  CommandClient commands(s.client);
  auto object = co_await commands.get(s.target.ns, options.name);
  if (!object) co_return fail(object.error());
  CommandView view = read_command_view(**object);
  bool found = false;
  for (const NodeResult& n : view.nodes) {
    if (!options.node.empty() && n.name != options.node) continue;
    found = true;
    if (options.node.empty()) std::printf("==> %s <==\n", n.name.c_str());
    std::fwrite(n.output.data(), 1, n.output.size(), stdout);
    if (!n.output.empty() && n.output.back() != '\n') std::fputc('\n', stdout);
    if (n.truncated) {
      std::fprintf(stderr, "%s: the status keeps %zu of %llu bytes (head and tail); the node's event has up to 16 KiB\n",
                   n.name.c_str(), n.output.size(), static_cast<unsigned long long>(n.output_bytes.value_or(0)));
    }
  }
  std::fflush(stdout);
  if (!found && !options.node.empty()) {
    std::string names;
    for (const auto& n : view.nodes) names += (names.empty() ? "" : ", ") + n.name;
    co_return fail(Error{"command " + view.ns + "/" + view.name + " has no result for node " + options.node +
                         (names.empty() ? std::string(" (no node has a result yet)") : " (its nodes: " + names + ")")});
  }
  co_return kExitOk;
}

}  // namespace jarvis::cli
