// The table: a header, then count 32-bit ends (key i ends where ends[i]
// says, and starts where key i-1 ended), then the keys, sorted by their
// bytes, so a lookup is a binary search over memory nobody writes.
// Native-endian: read only on the machine, by the build, that wrote it.

#include <polyprov/revoked_set.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

#include <polyprov/error.hpp>
#include <polyprov/revocation_history.hpp>

#include "table_header.hpp"

namespace polyprov {
namespace {

constexpr char kMagic[8] = {'P', 'P', 'R', 'E', 'V', 'v', '1', '\0'};
constexpr std::size_t kShortestKey = 33;   // the issuer's SHA-256 and the sign

struct Header {
    char magic[8];
    std::uint64_t size;
    std::uint64_t count;
    std::uint64_t keys_at;
};

}  // namespace

RevokedSet RevokedSet::parse(std::string_view text, const std::string& origin) {
    return of(RevocationHistory::parse(text, origin));
}

RevokedSet RevokedSet::of(const RevocationHistory& history) {
    std::vector<std::string> keys = history.keys();
    std::sort(keys.begin(), keys.end());
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.count = keys.size();
    h.keys_at = sizeof h + h.count * sizeof(std::uint32_t);
    std::uint64_t blob = 0;
    for (const auto& k : keys) blob += k.size();
    h.size = h.keys_at + blob;
    if (h.size > UINT32_MAX) throw Error("the revocation history is too large for one table (4 GiB)");
    auto table = std::make_shared<std::string>(h.size, '\0');
    char* base = table->data();
    std::memcpy(base, &h, sizeof h);
    std::uint32_t end = 0;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        std::memcpy(base + h.keys_at + end, keys[i].data(), keys[i].size());
        end += static_cast<std::uint32_t>(keys[i].size());
        std::memcpy(base + sizeof h + i * sizeof end, &end, sizeof end);
    }
    const std::string_view bytes = *table;
    return from_table(std::move(table), bytes, "(compiled)");
}

RevokedSet RevokedSet::from_table(std::shared_ptr<const void> owner, std::string_view bytes, const std::string& origin) {
    const auto bad = [&](const char* why) { return Error(origin + ": not a usable revocation table: " + why); };
    Header h{};
    if (const char* why = detail::read_table_header(bytes, kMagic, &h)) throw bad(why);
    if (h.count > h.size / sizeof(std::uint32_t) || h.keys_at != sizeof h + h.count * sizeof(std::uint32_t) ||
        h.keys_at > h.size)
        throw bad("sections out of place");
    RevokedSet set;
    set.owner_ = std::move(owner);
    set.bytes_ = bytes;
    set.ends_ = reinterpret_cast<const std::uint32_t*>(bytes.data() + sizeof h);
    set.keys_ = bytes.data() + h.keys_at;
    set.count_ = h.count;
    std::uint64_t start = 0;
    for (std::size_t i = 0; i < set.count_; ++i) {
        if (set.ends_[i] < start + kShortestKey || set.ends_[i] > h.size - h.keys_at) throw bad("a key out of place");
        if (i > 0 && !(set.key(i - 1) < set.key(i))) throw bad("keys out of order or listed twice");
        start = set.ends_[i];
    }
    if (start != h.size - h.keys_at) throw bad("bytes after the last key");
    return set;
}

std::string_view RevokedSet::key(std::size_t i) const noexcept {
    const std::uint32_t start = i ? ends_[i - 1] : 0;
    return {keys_ + start, ends_[i] - start};
}

bool RevokedSet::holds(std::string_view wanted) const noexcept {
    std::size_t low = 0, high = count_;
    while (low < high) {
        const std::size_t mid = low + (high - low) / 2;
        const std::string_view k = key(mid);
        if (k == wanted) return true;
        if (k < wanted) low = mid + 1;
        else high = mid;
    }
    return false;
}

bool RevokedSet::lists(const X509* cert) const noexcept {
    try {
        const std::string k = RevocationHistory::key_of(cert);
        return k.empty() || holds(k);
    } catch (...) {
        return true;
    }
}

}  // namespace polyprov
