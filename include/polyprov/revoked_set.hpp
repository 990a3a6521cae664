// What a TLS handshake asks of the revocation history: is this certificate
// listed? The history's keys (issuer name's SHA-256, sign, serial) compiled
// into one sorted table in one block of bytes, read where it lies, so the
// watcher's one copy serves every process of the machine (shared_file.hpp),
// as the ACL's does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <polyprov/openssl_ptr.hpp>

namespace polyprov {

class RevocationHistory;

class RevokedSet {
public:
    // The history file's text (RevocationHistory's format and errors).
    static RevokedSet parse(std::string_view text, const std::string& origin);
    static RevokedSet of(const RevocationHistory& history);

    // A table as bytes() gave it, kept alive by `owner`; every offset and
    // the order checked. Throws Error "ORIGIN: why".
    static RevokedSet from_table(std::shared_ptr<const void> owner, std::string_view bytes, const std::string& origin);
    std::string_view bytes() const noexcept { return bytes_; }

    // True when `cert`'s issuer and serial are listed, and when the lookup
    // cannot be made (fail closed).
    bool lists(const X509* cert) const noexcept;
    std::size_t size() const noexcept { return count_; }

private:
    bool holds(std::string_view key) const noexcept;
    std::string_view key(std::size_t i) const noexcept;

    std::shared_ptr<const void> owner_;
    std::string_view bytes_;
    const std::uint32_t* ends_ = nullptr;   // key i spans [ends_[i-1] or 0, ends_[i]) of keys_
    const char* keys_ = nullptr;
    std::size_t count_ = 0;
};

}  // namespace polyprov
