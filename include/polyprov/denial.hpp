// Why a request was refused: the POLYPROV_DECISION vocabulary.
#pragma once

namespace polyprov {

enum class Denial { none, no_cert, unverified, cn_no_mac, not_in_acl, mac_mismatch, not_writable, not_shared };

// "allow" or "deny:<reason>".
const char* decision_string(Denial denial) noexcept;
// The reason alone ("not-in-acl"), as the fleet view and logs name it; "" for none.
const char* denial_reason(Denial denial) noexcept;

}  // namespace polyprov
