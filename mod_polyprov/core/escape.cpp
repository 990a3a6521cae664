#include <polyprov/escape.hpp>

#include <cstdint>
#include <cstdio>

namespace polyprov {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at text[i] and its code point,
// or 0 for an invalid byte (overlong forms, surrogates and values past
// U+10FFFF included).
std::size_t utf8_sequence(std::string_view text, std::size_t i, std::uint32_t& cp) noexcept {
    const auto b0 = static_cast<unsigned char>(text[i]);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    std::size_t n;
    std::uint32_t min;
    if ((b0 & 0xE0) == 0xC0) {
        n = 2, cp = b0 & 0x1F, min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        n = 3, cp = b0 & 0x0F, min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        n = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + n > text.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(text[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

// Calls emit(code point, its bytes) for each character, U+FFFD for each
// invalid byte.
template <typename Emit>
void each_character(std::string_view text, Emit emit) {
    for (std::size_t i = 0; i < text.size();) {
        std::uint32_t cp = 0;
        const std::size_t n = utf8_sequence(text, i, cp);
        if (n == 0) {
            emit(0xFFFDu, kReplacement);
            ++i;
        } else {
            emit(cp, text.substr(i, n));
            i += n;
        }
    }
}

}  // namespace

std::string json_string(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out.push_back('"');
    each_character(text, [&](std::uint32_t cp, std::string_view bytes) {
        switch (cp) {
        case '"': out += "\\\""; return;
        case '\\': out += "\\\\"; return;
        case '\n': out += "\\n"; return;
        case '\r': out += "\\r"; return;
        case '\t': out += "\\t"; return;
        default: break;
        }
        if (cp < 0x20 || cp == 0x7F || cp == '<' || cp == '>' || cp == '&' || cp == 0x2028 || cp == 0x2029) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            out += bytes;
        }
    });
    out.push_back('"');
    return out;
}

std::string html_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    each_character(text, [&](std::uint32_t cp, std::string_view bytes) {
        switch (cp) {
        case '&': out += "&amp;"; return;
        case '<': out += "&lt;"; return;
        case '>': out += "&gt;"; return;
        case '"': out += "&quot;"; return;
        case '\'': out += "&#39;"; return;
        case '\t':
        case '\n': out += bytes; return;
        default: break;
        }
        if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
            out += kReplacement;
        else
            out += bytes;
    });
    return out;
}

std::string valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    each_character(text, [&](std::uint32_t, std::string_view bytes) { out += bytes; });
    return out;
}

}  // namespace polyprov
