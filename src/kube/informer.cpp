#include "kube/informer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <memory>

#include "common/backoff.hpp"
#include "common/coro.hpp"
#include "common/json.hpp"
#include "kube/json_stream_splitter.hpp"
#include "kube/url_query.hpp"
#include "kube/watch_event.hpp"

namespace jarvis::kube {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

// Restarting a list whose continue token keeps expiring means the server compacts faster than we page.
constexpr int kMaxListRestarts = 5;

// Items of a list response lack kind and apiVersion for built-in types; watch events carry them. Filling
// them in makes an object look the same whichever way it arrived.
// `size_hint`: the item's share of the response's bytes.
Object item_object(const rapidjson::Value& item, std::string_view list_kind, std::string_view api_version,
                   std::size_t size_hint) {
  auto obj = copy_object(item, size_hint);
  if (!obj->HasMember("kind") && list_kind.size() > 4 && list_kind.substr(list_kind.size() - 4) == "List") {
    std::string_view kind = list_kind.substr(0, list_kind.size() - 4);
    obj->AddMember("kind", rapidjson::Value(kind.data(), static_cast<rapidjson::SizeType>(kind.size()), obj->GetAllocator()),
                   obj->GetAllocator());
  }
  if (!obj->HasMember("apiVersion") && !api_version.empty()) {
    obj->AddMember("apiVersion",
                   rapidjson::Value(api_version.data(), static_cast<rapidjson::SizeType>(api_version.size()),
                                    obj->GetAllocator()),
                   obj->GetAllocator());
  }
  return obj;
}

}  // namespace

Informer::Informer(Client& client, ResourceRef ref, Logger& log, InformerOptions options)
    : client_(client),
      ref_(std::move(ref)),
      log_(log),
      options_(options),
      synced_signal_(client.get_executor(), asio::steady_timer::time_point::max()) {}

void Informer::on_change(ChangeHandler handler) { handlers_.push_back(std::move(handler)); }

void Informer::notify(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    for (const ChangeHandler& handler : handlers_) handler(key);
  }
}

// Shaped this way (result bound, no co_return inside the loop) because GCC 12 miscompiled the plainer
// while (!synced_) { co_await ...; if (cancelled) co_return ...; } into an illegal instruction on first resume.
asio::awaitable<Status> Informer::wait_synced() {
  bool cancelled = false;
  while (!synced_ && !cancelled) {
    [[maybe_unused]] auto [ec] = co_await synced_signal_.async_wait(use_tuple);
    cancelled = is_cancelled(co_await asio::this_coro::cancellation_state);
  }
  if (cancelled) co_return cancelled_error();
  co_return Ok{};
}

asio::awaitable<void> Informer::run() {
  Backoff backoff(options_.initial_backoff, options_.max_backoff);
  for (;;) {
    if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return;
    // Not a ?: of two co_awaits: GCC 12 destroys the temporaries of such an expression twice.
    Status step = Ok{};
    if (reflector_.phase() == ReflectorPhase::empty) {
      step = co_await list();
    } else {
      step = co_await watch();
    }
    if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return;
    if (step) {
      backoff.reset();
      continue;
    }
    ++stats_.failures;
    auto delay = backoff.next();
    log_.warn("informer: " + step.error().message,
              {{"resource", ref_.list_path},
               {"phase", to_string(reflector_.phase())},
               {"retry_in_ms", static_cast<std::int64_t>(delay.count())}});
    co_await sleep_for(delay);  // cancellation is checked above
  }
}

asio::awaitable<Status> Informer::list() {
  std::vector<Object> objects;
  std::string continue_token;
  std::string resource_version;
  int restarts = 0;
  for (;;) {
    QueryString query;
    query.add("limit", std::to_string(ref_.page_size))
        .add_if_set("continue", continue_token)
        .add_if_set("labelSelector", ref_.label_selector)
        .add_if_set("fieldSelector", ref_.field_selector);
    Result<Response> answer = co_await client_.request(http::verb::get, ref_.list_path + query.str());
    if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
    if (!answer) co_return Error{"list " + ref_.list_path + ": " + answer.error().message};
    if (!continue_token.empty() && is_expired(*answer)) {
      if (++restarts > kMaxListRestarts) co_return Error{"list " + ref_.list_path + ": continue token expired again"};
      ++stats_.list_restarts;
      log_.info("informer: list continue token expired; listing again from the first page",
                {{"resource", ref_.list_path}});
      objects.clear();
      continue_token.clear();
      continue;
    }
    if (answer->status != 200) co_return Error{"list " + ref_.list_path + ": " + describe_response(*answer)};
    auto doc = parse_json(answer->body, "list " + ref_.list_path);
    if (!doc) co_return doc.error();
    const rapidjson::Value* items = value_at(*doc, {"items"});
    if (items == nullptr || !(items->IsArray() || items->IsNull())) {
      co_return Error{"list " + ref_.list_path + ": response has no items array"};
    }
    std::string_view kind = string_at(*doc, {"kind"}).value_or("");
    std::string_view api_version = string_at(*doc, {"apiVersion"}).value_or("");
    if (items->IsArray() && !items->Empty()) {
      const std::size_t size_hint = answer->body.size() / items->Size();
      for (const rapidjson::Value& item : items->GetArray()) {
        objects.push_back(item_object(item, kind, api_version, size_hint));
      }
    }
    ++stats_.list_pages;
    resource_version = std::string(string_at(*doc, {"metadata", "resourceVersion"}).value_or(""));
    continue_token = std::string(string_at(*doc, {"metadata", "continue"}).value_or(""));
    if (continue_token.empty()) break;
  }
  if (resource_version.empty()) co_return Error{"list " + ref_.list_path + ": response has no resourceVersion"};
  std::size_t count = objects.size();
  std::vector<std::string> changed = reflector_.on_list(std::move(objects), resource_version);
  ++stats_.lists;
  log_.info("informer: listed",
            {{"resource", ref_.list_path}, {"objects", count}, {"resource_version", resource_version}});
  if (!synced_) {
    synced_ = true;
    synced_signal_.cancel();
  }
  notify(changed);
  co_return Ok{};
}

asio::awaitable<Status> Informer::watch() {
  int timeout_seconds = std::uniform_int_distribution<int>(
      options_.min_watch_seconds, std::max(options_.min_watch_seconds, options_.max_watch_seconds))(random_);
  QueryString query;
  query.add("watch", "true")
      .add("resourceVersion", reflector_.resource_version())
      .add("allowWatchBookmarks", "true")
      .add("timeoutSeconds", std::to_string(timeout_seconds))
      .add_if_set("labelSelector", ref_.label_selector)
      .add_if_set("fieldSelector", ref_.field_selector);
  std::string from_version = reflector_.resource_version();
  reflector_.on_watch_started();
  ++stats_.watches;
  log_.debug("informer: watching", {{"resource", ref_.list_path}, {"resource_version", from_version}});

  JsonStreamSplitter splitter;
  Status problem = Ok{};
  bool relist = false;
  std::vector<std::string> changed;
  auto on_event_text = [&](std::string_view text) {
    Result<WatchEvent> event = parse_watch_event(text);
    if (!event) {
      problem = event.error();
      return false;
    }
    changed.clear();
    Result<AfterEvent> after = reflector_.on_event(*event, changed);
    if (!after) {
      problem = after.error();
      return false;
    }
    ++stats_.events;
    if (event->type == WatchEventType::bookmark) ++stats_.bookmarks;
    notify(changed);
    if (*after == AfterEvent::relist) {
      relist = true;
      log_.info("informer: watch expired (410); relisting",
                {{"resource", ref_.list_path}, {"status", describe_status(*event->object)}});
      return false;
    }
    return true;
  };
  auto on_data = [&](std::string_view data) {
    Status fed = splitter.feed(data, on_event_text);
    if (!fed) problem = fed.error();
    return problem.ok() && !relist;
  };
  Result<Response> answer = co_await client_.stream(ref_.list_path + query.str(),
                                                    std::chrono::seconds(timeout_seconds) + options_.idle_grace, on_data);
  if (is_cancelled(co_await asio::this_coro::cancellation_state)) co_return cancelled_error();
  if (relist) {
    ++stats_.expired;
    co_return Ok{};
  }
  if (answer && is_expired(*answer)) {
    ++stats_.expired;
    reflector_.on_expired();
    log_.info("informer: watch request expired (HTTP 410); relisting",
              {{"resource", ref_.list_path}, {"status", describe_response(*answer)}});
    co_return Ok{};
  }
  reflector_.on_stream_ended();
  if (!answer) co_return Error{"watch " + ref_.list_path + " from " + from_version + ": " + answer.error().message};
  if (answer->status != 200) {
    co_return Error{"watch " + ref_.list_path + " from " + from_version + ": " + describe_response(*answer)};
  }
  if (!problem) co_return Error{"watch " + ref_.list_path + ": " + problem.error().message};
  log_.debug("informer: watch ended; resuming",
             {{"resource", ref_.list_path}, {"resource_version", reflector_.resource_version()}});
  co_return Ok{};
}

}  // namespace jarvis::kube
