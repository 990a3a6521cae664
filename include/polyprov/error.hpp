// Errors the core reports to its callers. The core throws only at
// configuration time; the glue catches everything before httpd sees it.
#pragma once

#include <stdexcept>
#include <string>

namespace polyprov {

// A message written for the operator: it names the file and says what is
// wrong, so the glue can hand it to configtest unchanged.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace polyprov
