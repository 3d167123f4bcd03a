#pragma once

// A minimal streaming JSON writer (RFC 8259) for the dry run and the admin endpoints. routing/
// stays free of JSON libraries; all this needs is correct string escaping and commas.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portico::routing {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  void key(std::string_view name);  // inside an object, before each value
  void value(std::string_view text);
  void value(const char* text) { value(std::string_view(text)); }
  void value(const std::string& text) { value(std::string_view(text)); }
  void value(std::int64_t number);
  void value(int number) { value(static_cast<std::int64_t>(number)); }
  void value(std::uint32_t number) { value(static_cast<std::int64_t>(number)); }
  void value(bool flag);
  void null();

 private:
  void separate();
  void write_string(std::string_view text);

  std::string& out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace portico::routing
