// A strict JSON reader (RFC 8259) for what the tool fetches: no comments,
// no trailing commas, no duplicate keys, valid UTF-8, nesting at most 64
// deep. Small on purpose; the tool reads documents the module wrote.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace polyprov {

class JsonValue {
public:
    enum class Type { null, boolean, number, string, array, object };

    // nullopt with `error` ("offset N: why") for anything that is not one
    // JSON value, optionally surrounded by whitespace.
    static std::optional<JsonValue> parse(std::string_view text, std::string& error);

    Type type() const noexcept { return type_; }
    bool is_null() const noexcept { return type_ == Type::null; }
    bool is_string() const noexcept { return type_ == Type::string; }
    bool is_number() const noexcept { return type_ == Type::number; }
    bool is_bool() const noexcept { return type_ == Type::boolean; }
    bool is_array() const noexcept { return type_ == Type::array; }
    bool is_object() const noexcept { return type_ == Type::object; }

    bool boolean() const noexcept { return boolean_; }
    double number() const noexcept { return number_; }
    const std::string& string() const noexcept { return string_; }
    const std::vector<JsonValue>& array() const noexcept { return array_; }
    const std::vector<std::pair<std::string, JsonValue>>& object() const noexcept { return object_; }

    // The member `key` of an object; null when absent or not an object.
    const JsonValue* get(std::string_view key) const noexcept;

private:
    friend class JsonParser;
    Type type_ = Type::null;
    bool boolean_ = false;
    double number_ = 0;
    std::string string_;
    std::vector<JsonValue> array_;
    std::vector<std::pair<std::string, JsonValue>> object_;
};

}  // namespace polyprov
