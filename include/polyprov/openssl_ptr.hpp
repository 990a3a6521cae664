// Owning holders for the OpenSSL objects the core keeps.
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/x509.h>

namespace polyprov {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
    void operator()(T* p) const noexcept { Free(p); }
};

using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_free_all>>;

}  // namespace polyprov
