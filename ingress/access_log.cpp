#include "ingress/access_log.hpp"

#include <cstdio>
#include <ctime>

#include "routing/json_writer.hpp"

namespace portico::ingress {

void write_access_log(const AccessRecord& r) {
  thread_local std::string line;
  line.clear();
  routing::JsonWriter json(line);
  json.begin_object();
  char time[96];
  std::time_t seconds = std::chrono::system_clock::to_time_t(r.start);
  std::tm tm;
  gmtime_r(&seconds, &tm);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(r.start.time_since_epoch()).count() %
      1000;
  std::snprintf(time, sizeof time, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  json.key("time");
  json.value(std::string_view(time));
  json.key("request_id");
  json.value(r.request_id);
  json.key("client");
  json.value(r.client);
  json.key("method");
  json.value(r.method);
  json.key("authority");
  json.value(r.authority);
  json.key("path");
  json.value(r.path);
  json.key("protocol");
  json.value(r.protocol);
  json.key("status");
  json.value(static_cast<std::int64_t>(r.status));
  json.key("bytes_in");
  json.value(static_cast<std::int64_t>(r.bytes_in));
  json.key("bytes_out");
  json.value(static_cast<std::int64_t>(r.bytes_out));
  json.key("duration_us");
  json.value(static_cast<std::int64_t>(r.duration.count()));
  json.key("upstream");
  json.value(r.upstream);
  json.key("upstream_duration_us");
  json.value(static_cast<std::int64_t>(r.upstream_duration.count()));
  json.key("namespace");
  json.value(r.namespace_);
  json.key("ingress");
  json.value(r.ingress);
  json.key("service");
  json.value(r.service);
  json.end_object();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

}  // namespace portico::ingress
