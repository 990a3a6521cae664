// The polyprov command-line tool's subcommands. Each returns the process
// exit status: 0 the check passed, 1 it did not, 2 usage or unreadable input.
#pragma once

#include <string>
#include <vector>

namespace polyprov::cli {

using Args = std::vector<std::string>;

int acl_check(const Args& args);
int acl_pin(const Args& args);
int check_cert(const Args& args);
int fetch_ca(const Args& args);
int fetch_crl(const Args& args);
int check_crl(const Args& args);
int fleet(const Args& args);

// "--name value" options and positional arguments, in any order.
struct Options {
    std::vector<std::string> positional;
    std::vector<std::pair<std::string, std::string>> named;
    const std::string* get(const std::string& name) const;
};
// Parses `args`; `known` lists the options that take a value. On an unknown
// option or a missing value prints why to stderr and returns false.
bool parse_options(const Args& args, const std::vector<std::string>& known, Options& out);

// --timeout: whole seconds, 1 to 3600, else `seconds` stays as it is. On a
// bad value prints why to stderr and returns false.
bool timeout_option(const Options& o, int& seconds);

extern const char* const kUsage;

}  // namespace polyprov::cli
