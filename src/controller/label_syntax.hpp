// Kubernetes' syntax rules for label keys, label values and object names
// (apimachinery util/validation: IsQualifiedName, IsValidLabelValue, IsDNS1123Subdomain). A selector that
// breaks them can never match a node, so the controller rejects it up front with the rule that failed.
#pragma once

#include <string_view>

#include "common/result.hpp"

namespace jarvis::controller {

// `[prefix/]name`: prefix a DNS subdomain, name at most 63 characters of [A-Za-z0-9-_.], alphanumeric at
// both ends. The Error message names the broken rule but not the field: the caller knows the path.
Status check_label_key(std::string_view key);

// Empty, or at most 63 characters of [A-Za-z0-9-_.], alphanumeric at both ends.
Status check_label_value(std::string_view value);

// Lower-case RFC 1123 subdomain of at most 253 characters, as node names are.
Status check_dns_subdomain(std::string_view name);

}  // namespace jarvis::controller
