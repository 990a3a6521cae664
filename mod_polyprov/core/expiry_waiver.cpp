#include <polyprov/expiry_waiver.hpp>

namespace polyprov {

std::optional<ExpiryMode> parse_expiry_mode(std::string_view word) noexcept {
    if (word == "off") return ExpiryMode::off;
    if (word == "leaf") return ExpiryMode::leaf;
    if (word == "chain") return ExpiryMode::chain;
    return std::nullopt;
}

const char* to_string(ExpiryMode mode) noexcept {
    switch (mode) {
    case ExpiryMode::off: return "off";
    case ExpiryMode::leaf: return "leaf";
    case ExpiryMode::chain: return "chain";
    }
    return "?";
}

// State of one X509_verify_cert pass, reached from the verify callback
// through the store context's ex_data.
struct ExpiryWaiver::Run {
    const ExpiryWaiver* waiver;
    X509_STORE_CTX_verify_cb inner;
    // False once OpenSSL reported any fault we did not waive. A fault the
    // inner callback chose to overlook (mod_ssl's optional_no_ca) still
    // makes the chain unsound, so no later expiry is waived on top of it.
    bool sound = true;
    int waived = 0;
    int expired_depth = -1;
    const X509* expired = nullptr;
    bool leaf_waived = false;
    bool ca_waived = false;
};

namespace {

int run_index() noexcept {
    static const int index = X509_STORE_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int ctx_index() noexcept {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

}  // namespace

ExpiryWaiver::ExpiryWaiver(ExpiryMode mode, const TrustAnchors* anchors,
                           WaiverListener listener, void* listener_user)
    : mode_(mode), anchors_(anchors), listener_(listener), listener_user_(listener_user) {
    if (mode_ != ExpiryMode::off && !anchors_) mode_ = ExpiryMode::off;  // nothing to chain to: waive nothing
}

void ExpiryWaiver::install(SSL_CTX* ctx) const noexcept {
    if (mode_ == ExpiryMode::off || ctx == nullptr) return;
    // Claim the ex_data slot now, in the parent, rather than racing for it
    // in the first handshakes of every child.
    if (run_index() < 0 || ctx_index() < 0) return;
    if (!SSL_CTX_set_ex_data(ctx, ctx_index(), const_cast<ExpiryWaiver*>(this))) return;
    SSL_CTX_set_cert_verify_callback(ctx, &ExpiryWaiver::verify, const_cast<ExpiryWaiver*>(this));
}

const ExpiryWaiver* ExpiryWaiver::installed_on(const SSL_CTX* ctx) noexcept {
    if (!ctx || ctx_index() < 0) return nullptr;
    return static_cast<const ExpiryWaiver*>(SSL_CTX_get_ex_data(ctx, ctx_index()));
}

int ExpiryWaiver::verify(X509_STORE_CTX* store, void* waiver) noexcept {
    const auto* self = static_cast<const ExpiryWaiver*>(waiver);
    Run run{self, X509_STORE_CTX_get_verify_cb(store)};
    const int index = run_index();
    if (self == nullptr || index < 0 || !X509_STORE_CTX_set_ex_data(store, index, &run))
        return X509_verify_cert(store);  // cannot track the pass: verify as stock, waive nothing

    X509_STORE_CTX_set_verify_cb(store, &ExpiryWaiver::on_verify_step);
    const int verified = X509_verify_cert(store);
    X509_STORE_CTX_set_verify_cb(store, run.inner);
    X509_STORE_CTX_set_ex_data(store, index, nullptr);

    if (verified > 0 && self->listener_ != nullptr) {
        STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(store);
        const int length = chain != nullptr ? sk_X509_num(chain) : 0;
        WaivedExpiry event{
            static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx())),
            X509_STORE_CTX_get0_cert(store), run.expired, run.expired_depth, run.waived,
            run.leaf_waived, run.ca_waived, length > 0 ? sk_X509_value(chain, length - 1) : nullptr};
        self->listener_(event, self->listener_user_);
    }
    return verified;
}

int ExpiryWaiver::on_verify_step(int ok, X509_STORE_CTX* store) noexcept {
    auto* run = static_cast<Run*>(X509_STORE_CTX_get_ex_data(store, run_index()));
    if (run == nullptr) return ok;
    if (!ok) {
        const int error = X509_STORE_CTX_get_error(store);
        const int depth = X509_STORE_CTX_get_error_depth(store);
        if (run->sound && run->waiver->may_waive(error, depth, store)) {
            // Swallowed here: OpenSSL calls back once more with ok=1 when it
            // has finished this depth, and that is all the inner callback
            // sees of it, as for a certificate that never expired (so
            // mod_ssl's per-certificate work, OCSP included, runs once).
            // The verify result stays X509_V_OK, so mod_ssl reports SUCCESS,
            // also for sessions resumed from this handshake.
            X509_STORE_CTX_set_error(store, X509_V_OK);
            ++run->waived;
            (depth == 0 ? run->leaf_waived : run->ca_waived) = true;
            if (depth > run->expired_depth) {
                run->expired_depth = depth;
                run->expired = X509_STORE_CTX_get_current_cert(store);
            }
            return 1;
        }
        run->sound = false;
    }
    return run->inner != nullptr ? run->inner(ok, store) : ok;
}

bool ExpiryWaiver::may_waive(int error, int depth, X509_STORE_CTX* store) const noexcept {
    if (error != X509_V_ERR_CERT_HAS_EXPIRED) return false;
    if (mode_ == ExpiryMode::off) return false;
    if (mode_ == ExpiryMode::leaf && depth != 0) return false;

    STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(store);
    const int length = chain != nullptr ? sk_X509_num(chain) : 0;
    // Never the top of the chain: an expired anchor is the operator's to replace.
    if (depth < 0 || depth >= length - 1) return false;
    // The top must have come from the trusted store (not the peer) and be
    // one of the configured anchors, byte for byte.
    if (X509_STORE_CTX_get_num_untrusted(store) >= length) return false;
    if (!anchors_->contains(sk_X509_value(chain, length - 1))) return false;
    // A certificate ever revoked stays refused once expired, whatever the
    // CRL of the day still lists.
    return !(veto_ && veto_(sk_X509_value(chain, depth), veto_user_));
}

}  // namespace polyprov
