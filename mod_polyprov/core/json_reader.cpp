#include <polyprov/json_reader.hpp>

#include <cstdlib>
#include <string>

#include <polyprov/escape.hpp>

namespace polyprov {

class JsonParser {
public:
    explicit JsonParser(std::string_view text) : text_(text) {}

    std::optional<JsonValue> document(std::string& error) {
        JsonValue v;
        skip_space();
        if (value(v, 0)) {
            skip_space();
            if (pos_ == text_.size()) return v;
            fail("text after the value");
        }
        error = "offset " + std::to_string(pos_) + ": " + error_;
        return std::nullopt;
    }

private:
    static constexpr int kMaxDepth = 64;

    bool fail(const char* why) {
        if (error_.empty()) error_ = why;
        return false;
    }
    bool at_end() const { return pos_ >= text_.size(); }
    char peek() const { return at_end() ? '\0' : text_[pos_]; }
    void skip_space() {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
    }
    bool word(std::string_view w) {
        if (text_.substr(pos_, w.size()) != w) return fail("not a JSON value");
        pos_ += w.size();
        return true;
    }

    bool value(JsonValue& v, int depth) {
        if (depth > kMaxDepth) return fail("nested too deeply");
        switch (peek()) {
        case 'n': v.type_ = JsonValue::Type::null; return word("null");
        case 't': v.type_ = JsonValue::Type::boolean; v.boolean_ = true; return word("true");
        case 'f': v.type_ = JsonValue::Type::boolean; v.boolean_ = false; return word("false");
        case '"': v.type_ = JsonValue::Type::string; return string(v.string_);
        case '[': return array(v, depth);
        case '{': return object(v, depth);
        default: return number(v);
        }
    }

    bool array(JsonValue& v, int depth) {
        v.type_ = JsonValue::Type::array;
        ++pos_;
        skip_space();
        if (peek() == ']') return ++pos_, true;
        for (;;) {
            JsonValue item;
            skip_space();
            if (!value(item, depth + 1)) return false;
            v.array_.push_back(std::move(item));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == ']') return ++pos_, true;
            return fail("expected ',' or ']'");
        }
    }

    bool object(JsonValue& v, int depth) {
        v.type_ = JsonValue::Type::object;
        ++pos_;
        skip_space();
        if (peek() == '}') return ++pos_, true;
        for (;;) {
            skip_space();
            if (peek() != '"') return fail("expected a member name");
            std::string key;
            if (!string(key)) return false;
            if (v.get(key)) return fail("duplicate member name");
            skip_space();
            if (peek() != ':') return fail("expected ':'");
            ++pos_;
            skip_space();
            JsonValue item;
            if (!value(item, depth + 1)) return false;
            v.object_.emplace_back(std::move(key), std::move(item));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') return ++pos_, true;
            return fail("expected ',' or '}'");
        }
    }

    bool hex4(unsigned& out) {
        if (text_.size() - pos_ < 4) return fail("short \\u escape");
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) return fail("bad \\u escape");
            out = out * 16 + static_cast<unsigned>(d);
        }
        return true;
    }

    static void append_utf8(std::string& s, unsigned cp) {
        if (cp < 0x80) {
            s += static_cast<char>(cp);
        } else if (cp < 0x800) {
            s += static_cast<char>(0xC0 | (cp >> 6));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            s += static_cast<char>(0xE0 | (cp >> 12));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (cp >> 18));
            s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    bool string(std::string& out) {
        ++pos_;  // the opening quote
        const std::size_t start = pos_;
        for (;;) {
            if (at_end()) return fail("unterminated string");
            const char c = text_[pos_];
            if (c == '"') {
                ++pos_;
                break;
            }
            if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
            if (c != '\\') {
                out += c;
                ++pos_;
                continue;
            }
            ++pos_;
            if (at_end()) return fail("unterminated string");
            switch (text_[pos_++]) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp;
                if (!hex4(cp)) return false;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned low;
                    if (text_.substr(pos_, 2) != "\\u") return fail("lone surrogate");
                    pos_ += 2;
                    if (!hex4(low)) return false;
                    if (low < 0xDC00 || low > 0xDFFF) return fail("lone surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail("lone surrogate");
                }
                append_utf8(out, cp);
                break;
            }
            default: return fail("bad escape");
            }
        }
        // Raw bytes must be UTF-8 as they stand.
        if (valid_utf8(text_.substr(start, pos_ - 1 - start)) != text_.substr(start, pos_ - 1 - start))
            return fail("invalid UTF-8 in a string");
        return true;
    }

    bool number(JsonValue& v) {
        const std::size_t start = pos_;
        if (peek() == '-') ++pos_;
        if (peek() == '0') {
            ++pos_;
        } else if (peek() >= '1' && peek() <= '9') {
            while (peek() >= '0' && peek() <= '9') ++pos_;
        } else {
            return fail("not a JSON value");
        }
        if (peek() == '.') {
            ++pos_;
            if (!(peek() >= '0' && peek() <= '9')) return fail("bad number");
            while (peek() >= '0' && peek() <= '9') ++pos_;
        }
        if (peek() == 'e' || peek() == 'E') {
            ++pos_;
            if (peek() == '+' || peek() == '-') ++pos_;
            if (!(peek() >= '0' && peek() <= '9')) return fail("bad number");
            while (peek() >= '0' && peek() <= '9') ++pos_;
        }
        v.type_ = JsonValue::Type::number;
        v.number_ = std::strtod(std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::string error_;
};

std::optional<JsonValue> JsonValue::parse(std::string_view text, std::string& error) {
    return JsonParser(text).document(error);
}

const JsonValue* JsonValue::get(std::string_view key) const noexcept {
    for (const auto& [k, v] : object_)
        if (k == key) return &v;
    return nullptr;
}

}  // namespace polyprov
