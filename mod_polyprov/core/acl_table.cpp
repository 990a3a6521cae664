// The table is the unit every process shares: a fixed header, then
//   records  one AclEntry a device, in file order
//   buckets  an open-addressing index (linear probing) of record numbers + 1,
//            at least twice as many as records, so probes stay short and
//            always meet an empty bucket
//   pins     32 bytes each, for the lines that have one
//   labels   NUL-terminated; the first byte is the "" of every unlabelled line
// Sizes and offsets are native-endian: a table is read only on the machine,
// by the build, that wrote it; the magic names the layout's version.

#include "acl_table.hpp"
#include "table_header.hpp"

#include <cstring>

#include <polyprov/error.hpp>

namespace polyprov {
namespace {

constexpr char kMagic[8] = {'P', 'P', 'A', 'C', 'L', 'v', '1', '\0'};

struct Header {
    char magic[8];
    std::uint64_t size;
    std::uint64_t count;
    std::uint64_t buckets;
    std::uint64_t records_at;
    std::uint64_t buckets_at;
    std::uint64_t pins_at;
    std::uint64_t labels_at;
};
static_assert(sizeof(Header) == 64, "the table's header layout");

constexpr std::uint64_t align8(std::uint64_t n) { return (n + 7) & ~std::uint64_t{7}; }

// MACs of one vendor differ in their low bits only: a multiplicative hash
// spreads them, and its top bits are the best mixed.
std::uint64_t spread(std::uint64_t mac) { return mac * 0x9E3779B97F4A7C15ull; }

unsigned bits_for(std::uint64_t count) {
    unsigned bits = 3;
    while ((std::uint64_t{1} << bits) < 2 * count) ++bits;
    return bits;
}

}  // namespace

AclTableBuilder::AclTableBuilder(std::size_t most) : bits_(bits_for(most)), buckets_(std::size_t{1} << bits_, 0) {
    records_.reserve(most);
}

int AclTableBuilder::add(Mac mac, std::string_view label, const std::optional<Sha256>& pin, int line) {
    if (2 * (records_.size() + 1) > buckets_.size()) throw Error("more devices than the table was sized for");
    const std::uint64_t v = mac.value();
    std::uint64_t b = spread(v) >> (64 - bits_);
    for (; buckets_[b]; b = (b + 1) & (buckets_.size() - 1))
        if (records_[buckets_[b] - 1].mac == v) return static_cast<int>(records_[buckets_[b] - 1].line);
    Record r{v, static_cast<std::uint32_t>(line), 0, 0};
    if (!label.empty()) {
        r.label = static_cast<std::uint32_t>(labels_.size());
        labels_.append(label.data(), label.size());
        labels_.push_back('\0');
    }
    if (pin) {
        pins_.push_back(*pin);
        r.pin = static_cast<std::uint32_t>(pins_.size());
    }
    records_.push_back(r);
    buckets_[b] = static_cast<std::uint32_t>(records_.size());
    return 0;
}

std::string AclTableBuilder::finish() const {
    const std::uint64_t count = records_.size();
    Header h{};
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.count = count;
    h.buckets = buckets_.size();
    h.records_at = sizeof(Header);
    h.buckets_at = h.records_at + count * sizeof(AclEntry);
    h.pins_at = align8(h.buckets_at + h.buckets * sizeof(std::uint32_t));
    h.labels_at = h.pins_at + pins_.size() * sizeof(Sha256);
    h.size = h.labels_at + labels_.size();
    if (h.size > UINT32_MAX || count >= UINT32_MAX) throw Error("the list is too large for one table (4 GiB)");

    std::string table(h.size, '\0');
    char* base = table.data();
    std::memcpy(base, &h, sizeof h);
    for (std::uint64_t i = 0; i < count; ++i) {
        const std::uint64_t at = h.records_at + i * sizeof(AclEntry);
        const Record& r = records_[i];
        AclEntry e;
        e.mac_ = r.mac;
        e.line_ = r.line;
        // Offsets from the record itself.
        e.label_at_ = static_cast<std::uint32_t>(h.labels_at + r.label - at);
        e.pin_at_ = r.pin ? static_cast<std::uint32_t>(h.pins_at + (r.pin - 1) * sizeof(Sha256) - at) : 0;
        std::memcpy(base + at, &e, sizeof e);
    }
    std::memcpy(base + h.buckets_at, buckets_.data(), buckets_.size() * sizeof(std::uint32_t));
    if (!pins_.empty()) std::memcpy(base + h.pins_at, pins_.data(), pins_.size() * sizeof(Sha256));
    std::memcpy(base + h.labels_at, labels_.data(), labels_.size());
    return table;
}

Acl Acl::from_table(std::shared_ptr<const void> owner, std::string_view bytes, const std::string& origin) {
    const auto bad = [&](const char* why) { return Error(origin + ": not a usable ACL table: " + why); };
    Header h{};
    if (const char* why = detail::read_table_header(bytes, kMagic, &h)) throw bad(why);
    if (h.count > h.size / sizeof(AclEntry) || h.buckets > h.size || h.buckets < 8 || (h.buckets & (h.buckets - 1)) ||
        h.buckets <= h.count)
        throw bad("impossible counts");
    if (h.records_at != sizeof h || h.buckets_at != h.records_at + h.count * sizeof(AclEntry) ||
        h.pins_at != align8(h.buckets_at + h.buckets * sizeof(std::uint32_t)) || h.labels_at < h.pins_at ||
        (h.labels_at - h.pins_at) % sizeof(Sha256) != 0 || h.labels_at >= h.size || bytes[h.size - 1] != '\0')
        throw bad("sections out of place");

    Acl acl;
    acl.owner_ = std::move(owner);
    acl.bytes_ = bytes;
    acl.records_ = reinterpret_cast<const AclEntry*>(bytes.data() + h.records_at);
    acl.buckets_ = reinterpret_cast<const std::uint32_t*>(bytes.data() + h.buckets_at);
    acl.count_ = h.count;
    acl.mask_ = h.buckets - 1;
    acl.shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(h.buckets));

    std::uint64_t used = 0;
    for (std::uint64_t b = 0; b < h.buckets; ++b) {
        if (acl.buckets_[b] > h.count) throw bad("a bucket names no record");
        used += acl.buckets_[b] != 0;
    }
    if (used != h.count) throw bad("the index does not hold every record once");
    for (std::uint64_t i = 0; i < h.count; ++i) {
        const AclEntry& e = acl.records_[i];
        const std::uint64_t at = h.records_at + i * sizeof(AclEntry);
        const std::uint64_t label = at + e.label_at_, pin = at + e.pin_at_;
        if (label < h.labels_at || label >= h.size) throw bad("a label out of place");
        if (e.line_ > INT32_MAX) throw bad("a line number out of range");
        // What the parser lets through, as labels go into the environment and logs.
        for (const char* c = e.label(); *c; ++c)
            if (static_cast<unsigned char>(*c) < 0x20 || *c == 0x7f) throw bad("a label with control characters");
        if (e.pin_at_ && (pin < h.pins_at || pin + sizeof(Sha256) > h.labels_at || (pin - h.pins_at) % sizeof(Sha256)))
            throw bad("a pin out of place");
        // Every record found where the index says, and only once: with
        // `used` above, no MAC is listed twice.
        if (e.mac_ >> 48 || acl.find_value(e.mac_) != &e) throw bad("the index misses a record");
    }
    return acl;
}

const AclEntry* Acl::find_value(std::uint64_t v) const noexcept {
    // There is always an empty bucket (more buckets than records).
    for (std::uint64_t b = spread(v) >> shift_;; b = (b + 1) & mask_) {
        const std::uint32_t n = buckets_[b];
        if (!n) return nullptr;
        if (records_[n - 1].mac_ == v) return &records_[n - 1];
    }
}

}  // namespace polyprov
