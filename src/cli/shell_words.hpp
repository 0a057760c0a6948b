// The command line after `--` as the one shell string a Command carries: a single argument is a shell
// command line as is (`-- 'df -h | tail -n 1'`); several are an argv, each quoted for sh when needed, so
// `-- sh -c 'exit 3'` runs exactly that.
#pragma once

#include <string>
#include <vector>

namespace jarvis::cli {

std::string shell_quote(const std::string& word);
std::string command_from_words(const std::vector<std::string>& words);

}  // namespace jarvis::cli
