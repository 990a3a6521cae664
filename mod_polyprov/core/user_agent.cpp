#include <polyprov/user_agent.hpp>

namespace polyprov {
namespace {

constexpr std::size_t kMaxPart = 32;  // longer than any real family, model or version

bool is_alnum(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// One whitespace-separated token: "Polycom<family>-<model>-UA/<version>".
std::optional<PhoneAgent> parse_token(std::string_view token) {
    std::string_view rest;
    if (token.rfind("Polycom", 0) == 0)
        rest = token.substr(7);
    else if (token.rfind("Poly", 0) == 0)
        rest = token.substr(4);
    else
        return std::nullopt;

    const std::size_t ua = rest.rfind("-UA/");
    if (ua == std::string_view::npos) return std::nullopt;
    const std::string_view name = rest.substr(0, ua);
    const std::string_view version = rest.substr(ua + 4);
    const std::size_t dash = name.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    const std::string_view family = name.substr(0, dash);
    const std::string_view model = name.substr(dash + 1);

    if (family.empty() || family.size() > kMaxPart || model.empty() || model.size() > kMaxPart ||
        version.empty() || version.size() > kMaxPart)
        return std::nullopt;
    for (const char c : family)
        if (!is_alnum(c)) return std::nullopt;
    for (const char c : model)
        if (!is_alnum(c) && c != '_' && c != '-' && c != '.') return std::nullopt;
    // Digits in dot-separated groups: "5.9.7.4477".
    bool digit_before = false;
    for (const char c : version) {
        if (c >= '0' && c <= '9') {
            digit_before = true;
        } else if (c == '.' && digit_before) {
            digit_before = false;
        } else {
            return std::nullopt;
        }
    }
    if (!digit_before) return std::nullopt;
    return PhoneAgent{std::string(family), std::string(model), std::string(version)};
}

}  // namespace

std::optional<PhoneAgent> parse_user_agent(std::string_view user_agent) {
    std::size_t i = 0;
    while (i < user_agent.size()) {
        while (i < user_agent.size() && (user_agent[i] == ' ' || user_agent[i] == '\t')) ++i;
        std::size_t end = i;
        while (end < user_agent.size() && user_agent[end] != ' ' && user_agent[end] != '\t') ++end;
        if (end > i)
            if (auto agent = parse_token(user_agent.substr(i, end - i))) return agent;
        i = end;
    }
    return std::nullopt;
}

}  // namespace polyprov
