#include <polyprov/acl.hpp>

#include <vector>

#include <polyprov/error.hpp>

#include "acl_table.hpp"
#include "hex.hpp"

namespace polyprov {
namespace {

using detail::hex_value;

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

// Splits one line into tokens: whitespace separates, `#` at the start of a
// token begins a comment, `key="a b"` keeps its quoted spaces (quotes removed).
// Returns an error message, or "" on success.
std::string tokenize(std::string_view line, std::vector<std::string>& tokens) {
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && is_space(line[i])) ++i;
        if (i >= line.size() || line[i] == '#') break;
        std::string token;
        bool quoted = false;
        for (; i < line.size() && (quoted || !is_space(line[i])); ++i) {
            if (line[i] == '"') {
                quoted = !quoted;
                continue;
            }
            token.push_back(line[i]);
        }
        if (quoted) return "unterminated quote";
        tokens.push_back(std::move(token));
    }
    return "";
}

// The lines whose first character that is not blank is neither # nor the end.
std::size_t device_lines(std::string_view text) noexcept {
    std::size_t count = 0;
    bool start = true, counted = false;
    for (const char c : text) {
        if (c == '\n') {
            start = true;
            counted = false;
        } else if (start && !counted && !is_space(c)) {
            count += c != '#';
            counted = true;
        }
    }
    return count;
}

bool valid_label(const std::string& label) noexcept {
    if (label.empty()) return false;
    for (unsigned char c : label)
        if (c < 0x20 || c == 0x7f) return false;  // it ends up in env vars and logs
    return true;
}

}  // namespace

std::optional<Sha256> parse_fingerprint(std::string_view text) noexcept {
    std::string digits;
    if (text.size() == 64) {
        digits.assign(text);
    } else if (text.size() == 95) {
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (i % 3 == 2) {
                if (text[i] != ':') return std::nullopt;
            } else {
                digits.push_back(text[i]);
            }
        }
    } else {
        return std::nullopt;
    }
    Sha256 out{};
    for (std::size_t i = 0; i < 32; ++i) {
        const int hi = hex_value(digits[2 * i]), lo = hex_value(digits[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    return out;
}

std::string fingerprint_hex(const Sha256& fp) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(64);
    for (unsigned char b : fp) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xF]);
    }
    return out;
}

Acl Acl::parse(std::string_view text, const std::string& origin) {
    // Sized for the whole file at once (a million lines grow nothing twice),
    // by the lines that may name a device: comments and blank lines take
    // no room in the table.
    AclTableBuilder table(device_lines(text));
    int number = 0;
    std::vector<std::string> tokens;
    while (!text.empty()) {
        const std::size_t eol = text.find('\n');
        const std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        ++number;
        const std::string where = origin + ":" + std::to_string(number) + ": ";

        tokens.clear();
        if (const std::string err = tokenize(line, tokens); !err.empty()) throw Error(where + err);
        if (tokens.empty()) continue;

        const auto mac = Mac::parse(tokens[0]);
        if (!mac)
            throw Error(where + "'" + tokens[0] + "' is not a MAC address (12 hex digits, or "
                                                  "00:04:f2:.., 00-04-F2-.., 0004.f2..)");
        std::string label;
        std::optional<Sha256> pin;
        bool have_label = false;
        for (std::size_t t = 1; t < tokens.size(); ++t) {
            const std::string& token = tokens[t];
            const std::size_t eq = token.find('=');
            if (eq == std::string::npos) throw Error(where + "'" + token + "' is not key=value");
            const std::string key = token.substr(0, eq), value = token.substr(eq + 1);
            if (key == "label") {
                if (have_label) throw Error(where + "label given twice");
                if (!valid_label(value)) throw Error(where + "label is empty or holds control characters");
                label = value;
                have_label = true;
            } else if (key == "sha256") {
                if (pin) throw Error(where + "sha256 given twice");
                pin = parse_fingerprint(value);
                if (!pin)
                    throw Error(where + "sha256 '" + value + "' is not 64 hex digits (colons between pairs allowed)");
            } else {
                throw Error(where + "unknown key '" + key + "' (known: label, sha256)");
            }
        }
        if (const int first = table.add(*mac, label, pin, number))
            throw Error(where + "duplicate MAC " + mac->str() + " (first on line " + std::to_string(first) + ")");
    }
    auto bytes = std::make_shared<const std::string>(table.finish());
    const std::string_view view = *bytes;
    return from_table(std::move(bytes), view, origin);
}

}  // namespace polyprov
