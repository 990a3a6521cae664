// ACL figures for bench/run-all: for each size, the time to load a
// PolyProvACLFile the way the module does at configuration time (read,
// parse, index: open_acl_file), the memory the loaded list keeps and the peak
// while loading, and the cost of one lookup (the hash lookup alone, and
// with parsing the CN's MAC first, as a request does), and what a serving
// process spends taking a new version (the SHA-256 of the watcher's table
// and the check of every offset in it: Acl::from_table).
//
// usage: acl_figures DIR SIZE...   (writes DIR/acl-SIZE.txt; sizes ascending,
//        since the peak is read from VmHWM, the process's high-water mark)
// output: one line per size: "SIZE LOAD_MS RETAINED_KB PEAK_KB FIND_NS PARSE_FIND_NS TAKE_MS TABLE_KB"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include <polyprov/acl_file.hpp>
#include <polyprov/mac.hpp>

namespace {

using Clock = std::chrono::steady_clock;

long status_kb(const char* field) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::string(field).size());
    return -1;
}

std::string mac_text(unsigned i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0004F3%06X", i);
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s DIR SIZE...\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    for (int a = 2; a < argc; ++a) {
        const unsigned size = static_cast<unsigned>(std::atol(argv[a]));
        const std::string path = dir + "/acl-" + std::to_string(size) + ".txt";
        {
            std::ofstream out(path);
            for (unsigned i = 0; i < size; ++i) out << mac_text(i) << " label=phone-" << i << "\n";
        }

        // Load time: the median of three loads.
        std::vector<double> ms;
        for (int r = 0; r < 3; ++r) {
            const auto t0 = Clock::now();
            const auto file = polyprov::open_acl_file(path);
            ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
        std::sort(ms.begin(), ms.end());

        // Memory: what one loaded list keeps (after the file's text is
        // freed and returned), and the peak while loading it.
        malloc_trim(0);
        const long before = status_kb("VmRSS:");
        auto file = polyprov::open_acl_file(path);
        const long peak = status_kb("VmHWM:");
        malloc_trim(0);
        const long retained = status_kb("VmRSS:") - before;
        const auto acl = file->current().value;
        if (!acl) return 1;

        // One lookup: half of the MACs listed, half not, in random order.
        std::mt19937 rng(12);
        std::vector<polyprov::Mac> macs;
        std::vector<std::string> texts;
        const unsigned lookups = 1000000;
        for (unsigned i = 0; i < lookups; ++i) {
            texts.push_back(mac_text(rng() % (2 * size)));
            macs.push_back(*polyprov::Mac::parse(texts.back()));
        }
        std::size_t hits = 0;
        auto t0 = Clock::now();
        for (const auto& m : macs) hits += acl->find(m) != nullptr;
        const double find_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / lookups;
        t0 = Clock::now();
        for (const auto& t : texts) hits += acl->find(*polyprov::Mac::parse(t)) != nullptr;
        const double parse_find_ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / lookups;
        if (hits == 0) return 1;   // keeps the loops, and they found something

        // Taking a new version: the digest the watcher published, then the
        // table checked where it lies (median of 3).
        const std::string_view table = acl->bytes();
        std::vector<double> take;
        for (int r = 0; r < 3; ++r) {
            const auto t = Clock::now();
            unsigned char md[EVP_MAX_MD_SIZE];
            unsigned int md_len = 0;
            if (EVP_Digest(table.data(), table.size(), md, &md_len, EVP_sha256(), nullptr) != 1) return 1;
            const auto copy = polyprov::Acl::from_table(acl, table, "bench");
            if (copy.size() != acl->size()) return 1;
            take.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
        }
        std::sort(take.begin(), take.end());

        std::printf("%u %.1f %ld %ld %.1f %.1f %.1f %zu\n", size, ms[1], retained, peak - before, find_ns,
                    parse_find_ns, take[1], table.size() / 1024);
        std::fflush(stdout);
        file.reset();
        std::remove(path.c_str());
    }
    return 0;
}
