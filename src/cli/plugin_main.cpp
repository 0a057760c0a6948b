#include "cli/plugin_main.hpp"

#include <csignal>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "cli/actions.hpp"
#include "cli/completion.hpp"
#include "cli/plugin_options.hpp"
#include "cli/run_flags.hpp"
#include "common/coro.hpp"
#include "common/log.hpp"
#include "jarvis_version.hpp"

namespace jarvis::cli {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kPluginName = "kubectl-jarvis";
constexpr std::string_view kCompletionName = "kubectl_complete-jarvis";
const std::vector<std::string_view> kSubcommandWords = {"cli", "run", "get", "describe", "logs", "rerun",
                                                        "completion", "__complete"};

std::string_view program_name(const char* argv0) {
  std::string_view name(argv0 == nullptr ? "" : argv0);
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  return name;
}

// The plugin's words after the program name: `jarvis cli run x` and `kubectl-jarvis run x` both give [run, x].
std::vector<std::string> plugin_words(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (!words.empty() && words.front() == "cli" && program_name(argv[0]) != kPluginName) words.erase(words.begin());
  return words;
}

int print_completions(const std::vector<std::string>& words) {
  for (const auto& candidate : complete(words)) std::printf("%s\n", candidate.c_str());
  std::printf(":4\n");  // cobra's ShellCompDirectiveNoFileComp
  return kExitOk;
}

const char* kRunExamples = R"(
Examples:
  # every node: exit 0 when all succeeded, results folded by identical output
  kubectl jarvis run --all -- uptime
  # nodes by label (kubectl selector syntax), 30 s per node
  kubectl jarvis run -l 'node-role.kubernetes.io/worker,zone in (a,b)' --timeout 30s -- df -h /
  # two nodes by name, one line per output line
  kubectl jarvis run --node kind-worker --node kind-worker2 -o lines -- 'journalctl -u kubelet | tail -n 5'
  # a rollout: 2 nodes at a time, stop starting new ones after the first failure
  kubectl jarvis run --all --max-concurrency 2 --max-failures 0 -- systemctl restart containerd

One argument after -- is a shell command line as is; several are quoted as an argv (-- sh -c 'exit 3').
Exit status: 0 every node succeeded, 1 a node failed or was skipped (or the API refused), 2 usage error,
130 interrupted. Ctrl-C asks whether to cancel (delete) the Command or leave it running; Ctrl-C again
leaves it running. Progress goes to stderr (a status line on a terminal, a line per node otherwise), the
results to stdout. Global flags (--kubeconfig, --context, -n, -v): kubectl jarvis --help.)";

}  // namespace

bool is_plugin_invocation(int argc, char** argv) {
  std::string_view name = program_name(argc > 0 ? argv[0] : nullptr);
  if (name == kPluginName || name == kCompletionName) return true;
  if (argc < 2) return false;
  for (auto word : kSubcommandWords) {
    if (argv[1] == word) return true;
  }
  return false;
}

int plugin_main(int argc, char** argv) {
  std::vector<std::string> words = plugin_words(argc, argv);
  if (program_name(argv[0]) == kCompletionName) return print_completions(words);
  if (!words.empty() && words.front() == "__complete") {
    return print_completions(std::vector<std::string>(words.begin() + 1, words.end()));
  }

  CLI::App app{"kubectl jarvis: run a shell command on Kubernetes nodes through a Jarvis Command (jarvis.io/v1) "
               "and watch the results arrive.",
               "kubectl jarvis"};
  app.get_formatter()->column_width(36);
  app.set_version_flag("--version", std::string("jarvis ") + JARVIS_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Install: ln -s \"$(command -v jarvis)\" /usr/local/bin/kubectl-jarvis  (any directory on PATH)\n"
      "Each subcommand has --help with examples.");

  GlobalOptions global;
  app.add_option("--kubeconfig", global.connection.kubeconfig,
                 "kubeconfig file; default the files of $KUBECONFIG merged, else ~/.kube/config");
  app.add_option("--context", global.connection.context, "kubeconfig context; default its current-context");
  app.add_option("-n,--namespace", global.connection.ns, "namespace of the Command; default the context's, else default");
  app.add_flag("-v,--verbose", global.verbose, "log API client details (JSON lines) to stderr");

  RunOptions run;
  CLI::App* run_cmd = app.add_subcommand("run", "create a Command, wait for every node, print the results");
  run_cmd->add_option("-l,--selector", run.selector, "node label selector, kubectl syntax: a=b,c!=d,e in (x,y),f notin (z),g,!h");
  run_cmd->add_option("--node", run.nodes, "a node by name (repeat for more, at most 32)");
  run_cmd->add_flag("--all", run.all, "every node of the cluster");
  run_cmd->add_option("--timeout", run.timeout, "per-node timeout (30s, 5m, 1h; default the Command's, 300s)");
  run_cmd->add_option("--max-concurrency", run.max_concurrency, "nodes running at once: N or P% (default all)");
  run_cmd->add_option("--max-failures", run.max_failures,
                      "start no new node once more than N (or P%) failed; the rest are Skipped");
  run_cmd->add_option("--name", run.name, "the Command's name; default generated (run-xxxxx)");
  auto* keep = run_cmd->add_flag("--keep", run.keep, "keep the finished Command (no TTL)");
  run_cmd->add_option("--ttl", run.ttl, "delete the finished Command after this long")->capture_default_str()->excludes(keep);
  run_cmd->add_option("-o,--output", run.output, "folded, lines, json or yaml")->capture_default_str();
  run_cmd->add_option("command", run.command, "the command, after --")->required();
  run_cmd->footer(kRunExamples);
  run_cmd->fallthrough();

  ShowOptions get;
  CLI::App* get_cmd = app.add_subcommand("get", "print the results of a Command, folded");
  get_cmd->add_option("name", get.name, "the Command")->required();
  get_cmd->add_option("-o,--output", get.output, "folded, lines, json or yaml")->capture_default_str();
  get_cmd->footer("\nExamples:\n  kubectl jarvis get run-x7k2p\n  kubectl jarvis get run-x7k2p -n ops -o json\n");
  get_cmd->fallthrough();

  ShowOptions describe;
  CLI::App* describe_cmd = app.add_subcommand("describe", "the Command's spec and counts, then its folded results");
  describe_cmd->add_option("name", describe.name, "the Command")->required();
  describe_cmd->footer("\nExample:\n  kubectl jarvis describe run-x7k2p\n");
  describe_cmd->fallthrough();

  LogsOptions logs_opts;
  CLI::App* logs_cmd = app.add_subcommand("logs", "the output the status keeps for each node (or one)");
  logs_cmd->add_option("name", logs_opts.name, "the Command")->required();
  logs_cmd->add_option("--node", logs_opts.node, "only this node's output, without a header");
  logs_cmd->footer("\nExamples:\n  kubectl jarvis logs run-x7k2p\n  kubectl jarvis logs run-x7k2p --node kind-worker\n");
  logs_cmd->fallthrough();

  RerunOptions rerun_opts;
  CLI::App* rerun_cmd = app.add_subcommand(
      "rerun", "a new Command from an old one's spec (label jarvis.io/rerun-of=NAME), waited for like run");
  rerun_cmd->add_option("name", rerun_opts.name, "the Command to run again")->required();
  rerun_cmd->add_flag("--failed-only", rerun_opts.failed_only, "only the nodes that did not succeed, by name");
  rerun_cmd->add_option("-o,--output", rerun_opts.output, "folded, lines, json or yaml")->capture_default_str();
  rerun_cmd->footer("\nExamples:\n  kubectl jarvis rerun run-x7k2p\n  kubectl jarvis rerun run-x7k2p --failed-only\n");
  rerun_cmd->fallthrough();

  std::string shell;
  CLI::App* completion_cmd = app.add_subcommand("completion", "print a shell completion script (bash or zsh)");
  completion_cmd->add_option("shell", shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  completion_cmd->footer("\nExamples:\n  source <(kubectl jarvis completion bash)\n  "
                         "kubectl jarvis completion zsh > \"${fpath[1]}/_kubectl-jarvis\"\n");

  std::vector<std::string> reversed(words.rbegin(), words.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s (see kubectl jarvis --help)\n", e.what());
    return kExitUsage;
  }

  if (completion_cmd->parsed()) {
    std::fputs(completion_script(shell)->c_str(), stdout);
    return kExitOk;
  }

  std::string output_text = run_cmd->parsed()      ? run.output
                            : get_cmd->parsed()    ? get.output
                            : rerun_cmd->parsed()  ? rerun_opts.output
                                                   : std::string("folded");
  auto format = parse_output_format(output_text);
  if (!format) {
    std::fprintf(stderr, "error: %s\n", format.error().message.c_str());
    return kExitUsage;
  }

  // Pinned once: the context and namespace cannot change under a running command.
  auto target = pin_target(global.connection);
  if (!target) {
    std::fprintf(stderr, "error: %s\n", target.error().message.c_str());
    return kExitFailed;
  }
  std::optional<CommandRequest> request;
  if (run_cmd->parsed()) {
    auto made = request_from_flags(run, target->ns);
    if (!made) {
      std::fprintf(stderr, "error: %s (see kubectl jarvis run --help)\n", made.error().message.c_str());
      return kExitUsage;
    }
    request = std::move(*made);
  }

  Logger log(global.verbose ? LogLevel::debug : LogLevel::error, stderr);
  asio::io_context io;
  std::optional<asio::signal_set> interrupts;
  if (run_cmd->parsed() || rerun_cmd->parsed()) interrupts.emplace(io, SIGINT);
  kube::ClientOptions client_options;
  client_options.max_retries = 3;
  kube::Client client(io.get_executor(), target->config, client_options, log);
  Session session{*target, log, client, interrupts ? &*interrupts : nullptr};

  int status = kExitFailed;
  auto action = [&]() -> asio::awaitable<int> {
    if (run_cmd->parsed()) co_return co_await create_and_wait(session, *request, *format);
    if (rerun_cmd->parsed()) co_return co_await rerun(session, rerun_opts, *format);
    if (get_cmd->parsed()) co_return co_await show(session, get, *format, false);
    if (describe_cmd->parsed()) co_return co_await show(session, describe, OutputFormat::folded, true);
    co_return co_await logs(session, logs_opts);
  };
  asio::co_spawn(io, action(), [&](std::exception_ptr failure, int result) {
    if (failure) {
      std::fprintf(stderr, "error: %s\n", jarvis::describe(failure).c_str());
      status = kExitFailed;
    } else {
      status = result;
    }
    if (interrupts) interrupts->cancel();
  });
  io.run();
  return status;
}

}  // namespace jarvis::cli
