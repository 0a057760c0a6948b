// `kubectl jarvis run` flags turned into the Command to create; every error here is a usage error (exit 2)
// and names the flag.
#pragma once

#include <string>

#include "cli/command_request.hpp"
#include "cli/plugin_options.hpp"
#include "common/result.hpp"

namespace jarvis::cli {

Result<OutputFormat> parse_output_format(const std::string& text);

// Exactly one of -l, --node, --all; --timeout and --ttl as durations (30s, 5m, 1h); --keep drops the TTL.
Result<CommandRequest> request_from_flags(const RunOptions& options, const std::string& ns);

}  // namespace jarvis::cli
