#include "dbd_rows.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <sys/stat.h>

#include "apr_dbd.h"
#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"

#include <polyprov/error.hpp>

namespace polyprov::dbd {
namespace {

// APR keeps its drivers for the process's life, in the top-level pool it
// is first given: a child of APR's global pool, so that no configuration's
// pool takes them along (and leak checkers see it held to the end).
apr_pool_t* driver_pool() {
    static apr_pool_t* pool = nullptr;
    static std::once_flag made;
    std::call_once(made, [] {
        apr_initialize();   // counted: in httpd, one more use of what is set up already
        apr_pool_create(&pool, nullptr);
        apr_dbd_init(pool);
    });
    return pool;
}

// A driver's message on one line: libpq's end in a newline and indent
// their hints.
std::string one_line(const char* text) {
    std::string out;
    for (const char* c = text ? text : "(no message)"; *c; ++c) {
        const bool space = *c == '\n' || *c == '\t' || *c == '\r' || *c == ' ';
        if (space && (out.empty() || out.back() == ' ')) continue;
        out.push_back(space ? ' ' : *c);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
}

std::string apr_error(apr_status_t rv) {
    char text[256];
    return apr_strerror(rv, text, sizeof text);
}

const apr_dbd_driver_t* load_driver(const std::string& name, std::string* why) {
    const apr_dbd_driver_t* driver = nullptr;
    const apr_status_t rv = apr_dbd_get_driver(driver_pool(), name.c_str(), &driver);
    if (rv == APR_SUCCESS) return driver;
    if (APR_STATUS_IS_ENOTIMPL(rv) || APR_STATUS_IS_EDSOOPEN(rv))
        *why = "APR has no DBD driver '" + name + "' (on Debian: apt-get install libaprutil1-dbd-" + name + ")";
    else
        *why = "APR's DBD driver '" + name + "' cannot be loaded: " + apr_error(rv);
    return nullptr;
}

// A pool for one run, with an allocator of its own: runs of different
// queries go on different threads (an allocator has no lock), and what a
// run took goes back to the system with it, not to a pool that keeps it.
struct RunPool {
    apr_pool_t* pool = nullptr;
    RunPool() {
        if (apr_pool_create_unmanaged_ex(&pool, nullptr, nullptr) != APR_SUCCESS) throw Error("out of memory");
    }
    ~RunPool() { apr_pool_destroy(pool); }
};

// The values of DBDParams that must not reach a log: the password's, the
// password of a URI's user:password@, and any word that is not key=value
// (a mistyped "password:secret"). Drivers quote the connection string in
// their messages (libpq does).
std::string without_secrets(std::string message, const std::string& params) {
    std::vector<std::string> secrets;
    std::size_t at = 0;
    while (at < params.size()) {
        const std::size_t start = params.find_first_not_of(" \t", at);
        if (start == std::string::npos) break;
        std::size_t end = params.find_first_of(" \t", start);
        if (end == std::string::npos) end = params.size();
        const std::string word = params.substr(start, end - start);
        at = end;
        // postgresql://user:password@host/db?k=v, alone or as dbname=...
        if (const std::size_t scheme = word.find("://"); scheme != std::string::npos) {
            const std::size_t authority = scheme + 3;
            const std::size_t userinfo_end = word.find('@', authority);
            if (userinfo_end != std::string::npos) {
                const std::size_t colon = word.find(':', authority);
                if (colon != std::string::npos && colon < userinfo_end)
                    secrets.push_back(word.substr(colon + 1, userinfo_end - colon - 1));
            }
        }
        const std::size_t eq = word.find('=');
        if (eq == std::string::npos) {
            secrets.push_back(word);
            continue;
        }
        std::string key = word.substr(0, eq);
        for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (key.find("pass") != std::string::npos || key == "pwd") {
            std::string value = word.substr(eq + 1);
            if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"')) value = value.substr(1);
            if (!value.empty() && (value.back() == '\'' || value.back() == '"')) value.pop_back();
            secrets.push_back(value);
        }
    }
    static const std::string kHidden = "(hidden)";
    for (const std::string& secret : secrets) {
        if (secret.empty()) continue;
        // On from after each replacement: a secret found in "(hidden)"
        // itself must not be replaced again and again.
        for (std::size_t from = 0, found; (found = message.find(secret, from)) != std::string::npos;) {
            message.replace(found, secret.size(), kHidden);
            from = found + kHidden.size();
        }
    }
    return message;
}

// The drivers whose reading of a whole result is tested here. APR's mysql
// driver, asked for the next row of a result it holds whole, answers "no
// more rows" at once: an empty list, every phone refused.
bool supported(const std::string& driver) { return driver == "sqlite3" || driver == "pgsql"; }

const char* const kUnsupported = "not a driver PolyProvACLQuery reads lists with (sqlite3, pgsql)";

}  // namespace

std::string check_driver(const std::string& driver) {
    if (!supported(driver)) return kUnsupported;
    std::string why;
    load_driver(driver, &why);
    return why;
}

void read_rows(const Source& source, AclRowsBuilder& into) {
    if (!supported(source.driver)) throw Error(kUnsupported);
    std::string why;
    const apr_dbd_driver_t* driver = load_driver(source.driver, &why);
    if (!driver) throw Error(why);
    // SQLite would make an empty database where none is, and the query
    // would then fail for a missing table: say what is really wrong.
    if (source.driver == "sqlite3" && !source.params.empty() && source.params[0] != ':' &&
        source.params.rfind("file:", 0) != 0) {
        struct stat st {};
        if (::stat(source.params.c_str(), &st) != 0)
            throw Error(source.params + (errno == ENOENT ? ": no such database file"
                                                         : std::string(": cannot be read: ") + std::strerror(errno)));
    }
    RunPool run;
    apr_dbd_t* handle = nullptr;
    const char* error = nullptr;
    apr_status_t rv = apr_dbd_open_ex(driver, run.pool, source.params.c_str(), &handle, &error);
    if (rv != APR_SUCCESS || !handle)
        throw Error("cannot connect: " +
                    without_secrets(error && *error ? one_line(error) : apr_error(rv), source.params));
    struct Closer {
        const apr_dbd_driver_t* driver;
        apr_dbd_t* handle;
        ~Closer() { apr_dbd_close(driver, handle); }
    } closer{driver, handle};

    // Random access: the drivers then run the query whole before they
    // answer, and say when it fails. Read as it comes, PostgreSQL's driver
    // reports a failing query as no rows at all, which would be an empty
    // list (everyone refused, and nothing said).
    apr_dbd_results_t* results = nullptr;
    if (const int err = apr_dbd_select(driver, run.pool, handle, &results, source.sql.c_str(), 1)) {
        const char* text = apr_dbd_error(driver, handle, err);
        throw Error("the query fails: " + without_secrets(one_line(text), source.params));
    }
    const int columns = apr_dbd_num_cols(driver, results);
    if (columns < 1 || columns > 3)
        throw Error("the query returns " + std::to_string(columns) +
                    " columns; it must return 1 to 3: the MAC, then optionally the label and the SHA-256 pin");
    // Counted before any is read: a driver that stops handing rows over
    // early, and says nothing, would otherwise make a list short of devices.
    const int tuples = apr_dbd_num_tuples(driver, results);
    std::size_t read = 0;
    apr_dbd_row_t* row = nullptr;
    // The drivers keep their place in `row` and tie what they fetch to the
    // pool: both live for the run.
    const auto column = [&](int n) -> const char* {
        if (n >= columns) return nullptr;
        // Not apr_dbd_get_entry: PostgreSQL's driver gives "" for NULL
        // there, and a NULL MAC must be reported as such.
        char* value = nullptr;
        const apr_status_t got_value = apr_dbd_datum_get(driver, row, n, APR_DBD_TYPE_STRING, &value);
        if (got_value == APR_ENOENT) return nullptr;
        if (got_value != APR_SUCCESS || !value)
            throw Error("column " + std::to_string(n + 1) + " of row " + std::to_string(read) +
                        " cannot be read as text");
        return value;
    };
    int got;
    while ((got = apr_dbd_get_row(driver, run.pool, results, &row, -1)) == 0) {
        ++read;
        const char* mac = column(0);
        const char* label = column(1);
        into.add(mac, label, column(2));
    }
    if (got > 0) {
        const char* text = apr_dbd_error(driver, handle, got);
        throw Error("reading the rows fails: " + without_secrets(one_line(text), source.params));
    }
    if (tuples < 0 || read != static_cast<std::size_t>(tuples))
        throw Error("the driver handed over " + std::to_string(read) + " of " + std::to_string(tuples) + " rows");
}

}  // namespace polyprov::dbd
