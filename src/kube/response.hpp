// An API server response as the client returns it: any HTTP status is a value the caller inspects.
#pragma once

#include <string>

namespace jarvis::kube {

struct Response {
  unsigned status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header, "" when absent
};

inline bool is_success(const Response& r) { return r.status >= 200 && r.status < 300; }

// "HTTP 404 NotFound: commands.jarvis.io \"x\" not found" from the meta/v1 Status body when there is one,
// else the status code and the start of the body.
std::string describe_response(const Response& r);

// Whether the server says the resourceVersion or continue token asked for is no longer available (HTTP 410,
// or a Status with reason Expired/Gone): a fresh list is needed.
bool is_expired(const Response& r);

}  // namespace jarvis::kube
