// One block as PEM_read_bio returns it. Internal to the core.
#pragma once

#include <openssl/crypto.h>

namespace polyprov::detail {

// PEM_read_bio hands back three OPENSSL_malloc'd buffers per block.
struct PemBlock {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long length = 0;
    PemBlock() = default;
    PemBlock(const PemBlock&) = delete;
    PemBlock& operator=(const PemBlock&) = delete;
    ~PemBlock() {
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
    }
};

}  // namespace polyprov::detail
