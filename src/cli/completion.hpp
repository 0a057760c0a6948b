// Shell completion. `kubectl jarvis completion bash|zsh` prints a script that asks the plugin itself
// (`kubectl-jarvis __complete WORDS...`) for candidates; kubectl 1.26+ asks a `kubectl_complete-jarvis`
// executable the same way (cobra's protocol: one candidate per line, then `:4` = no file completion).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace jarvis::cli {

// Candidates for the last word of `words` (the words after the program name, the last one being completed).
std::vector<std::string> complete(const std::vector<std::string>& words);

// The script for `shell` ("bash" or "zsh"); nullopt for another shell.
std::optional<std::string> completion_script(const std::string& shell);

}  // namespace jarvis::cli
