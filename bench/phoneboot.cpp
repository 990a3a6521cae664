// The boot storm's client (bench/bootstorm.py drives it): one thread per
// phone, each with its own certificate, all released at the same moment,
// each running a phone's boot sequence against 127.0.0.1:PORT:
//
//   GET <mac>.cfg, GET 000000000000.cfg, GET <mac>-phone.cfg, GET FIRMWARE,
//   HEAD logs/<mac>-boot.log, PUT logs/<mac>-boot.log (Content-Range append)
//
// Like the HTTP library in a phone's firmware, a phone keeps its connection
// while the server does, reconnects offering its TLS session when the
// server closed it, and sends a request again once when a kept connection
// turns out closed before any answer. Written in C++ with OpenSSL so that
// the client's share of a 2-core machine stays small (it prints its CPU
// time). Python's ssl spent about 11 ms of CPU per phone here, mostly in
// the interpreter once per TLS record; this client about 6 ms, most of it
// decrypting the firmware.
//
// usage: phoneboot PORT SERVER_CA FIRMWARE_PATH [tls1.2] [no-upload] < phones
//   phones: lines "MAC CERT_CHAIN_PEM KEY_PEM"
//   no-upload: the boot without its last two requests (HEAD and PUT of the
//     log), to compare servers on the same work with one that refuses uploads
// output: one line per phone, "MAC SECONDS DONE_AT FULL RESUMED RETRIES
//   STATUS,STATUS,... ERROR|-", then "cpu USER+SYS_SECONDS WALL_SECONDS".

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Phone {
    std::string mac, cert, key;
};

struct Outcome {
    double seconds = 0, done_at = 0;
    int full = 0, resumed = 0, retries = 0;
    std::vector<int> statuses;
    std::string error;
};

std::string ssl_error() {
    char buf[256];
    const unsigned long e = ERR_get_error();
    if (!e) return std::strerror(errno);
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

// The connection closed under a request we may send again.
struct Closed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Connection {
public:
    Connection(SSL_CTX* ctx, int port) : ctx_(ctx), port_(port) {}
    ~Connection() {
        close();
        if (session_) SSL_SESSION_free(session_);
    }

    // One exchange; the status. Throws Closed or runtime_error.
    int exchange(const std::string& method, const std::string& path, const std::string& body,
                 const std::string& extra_headers, Outcome& out) {
        for (int attempt = 0;; ++attempt) {
            const bool reused = ssl_ != nullptr;
            if (!ssl_) open(out);
            try {
                send(method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers +
                     (body.empty() && method != "PUT" ? "" : "Content-Length: " + std::to_string(body.size()) + "\r\n") +
                     "\r\n" + body);
                return read_response(method == "HEAD");
            } catch (const Closed&) {
                close();
                if (!reused || attempt) throw;
                ++out.retries;
            }
        }
    }

    void close() {
        if (ssl_) {
            SSL_shutdown(ssl_);
            SSL_free(ssl_);
            ssl_ = nullptr;
        }
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        buffer_.clear();
    }

private:
    void open(Outcome& out) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port_));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{120, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        SSL_set_tlsext_host_name(ssl_, "localhost");
        SSL_set1_host(ssl_, "localhost");
        if (session_) SSL_set_session(ssl_, session_);
        if (SSL_connect(ssl_) != 1) throw std::runtime_error("handshake: " + ssl_error());
        (SSL_session_reused(ssl_) ? out.resumed : out.full)++;
    }

    void send(const std::string& data) {
        std::size_t done = 0;
        while (done < data.size()) {
            const int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
            if (n <= 0) throw Closed("write: " + ssl_error());
            done += static_cast<std::size_t>(n);
        }
    }

    // More bytes into buffer_; false at the end of the stream.
    bool fill() {
        char chunk[64 * 1024];
        const int n = SSL_read(ssl_, chunk, sizeof chunk);
        if (n <= 0) {
            const int e = SSL_get_error(ssl_, n);
            if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL) return false;
            throw std::runtime_error("read: " + ssl_error());
        }
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    void discard(std::size_t n) {
        while (buffer_.size() < n) {
            n -= buffer_.size();
            buffer_.clear();
            if (!fill()) throw std::runtime_error("body cut short");
        }
        buffer_.erase(0, n);
    }

    std::string line() {
        std::size_t at;
        while ((at = buffer_.find("\r\n")) == std::string::npos)
            if (!fill()) throw std::runtime_error("answer cut short");
        std::string l = buffer_.substr(0, at);
        buffer_.erase(0, at + 2);
        return l;
    }

    int read_response(bool head) {
        bool any = !buffer_.empty();
        while (buffer_.find("\r\n\r\n") == std::string::npos) {
            if (!fill()) {
                if (!any) throw Closed("closed before an answer");
                throw std::runtime_error("headers cut short");
            }
            any = true;
        }
        const std::string status_line = line();
        if (status_line.compare(0, 5, "HTTP/") != 0 || status_line.size() < 12)
            throw std::runtime_error("bad status line: " + status_line);
        const int status = std::stoi(status_line.substr(9, 3));
        std::optional<std::size_t> length;
        bool chunked = false, close_after = false;
        for (std::string h; !(h = line()).empty();) {
            std::string name = h.substr(0, h.find(':'));
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            const std::string value = h.substr(h.find(':') + 1);
            if (name == "content-length") length = std::stoull(value);
            if (name == "transfer-encoding" && value.find("chunked") != std::string::npos) chunked = true;
            if (name == "connection" && value.find("close") != std::string::npos) close_after = true;
        }
        // The newest session, for the next connection (TLS 1.3 tickets come
        // with the first answer, and a server may take each only once).
        if (SSL_SESSION* s = SSL_get1_session(ssl_)) {
            if (session_) SSL_SESSION_free(session_);
            session_ = s;
        }
        last_length_ = length.value_or(0);
        if (head || status == 204 || status == 304) {
        } else if (chunked) {
            for (;;) {
                const std::size_t size = std::stoull(line(), nullptr, 16);
                discard(size);
                line();
                if (size == 0) break;
            }
        } else if (length) {
            discard(*length);
        } else {
            while (fill()) buffer_.clear();
            close_after = true;
        }
        if (close_after) close();
        return status;
    }

    SSL_CTX* ctx_;
    int port_;
    int fd_ = -1;
    SSL* ssl_ = nullptr;
    SSL_SESSION* session_ = nullptr;
    std::string buffer_;
    std::size_t last_length_ = 0;

public:
    std::size_t last_length() const { return last_length_; }
};

void boot(SSL_CTX* ctx, int port, const Phone& p, const std::string& firmware, bool upload, Clock::time_point start,
          Outcome& out) {
    const std::string log_lines = [] {
        std::string s;
        char line[80];
        for (int i = 0; i < 40; ++i) {
            std::snprintf(line, sizeof line, "0101000000|boot |4|00|Provisioning: booting, line %03d\n", i);
            s += line;
        }
        return s;
    }();
    Connection c(ctx, port);
    try {
        const std::pair<std::string, int> gets[] = {
            {"/" + p.mac + ".cfg", 200}, {"/000000000000.cfg", 200}, {"/" + p.mac + "-phone.cfg", 200}, {firmware, 200}};
        for (const auto& [path, ok] : gets) {
            const int s = c.exchange("GET", path, "", "", out);
            out.statuses.push_back(s);
            if (s != ok && out.error.empty()) out.error = "GET " + path + ": " + std::to_string(s);
        }
        if (upload) {
            const std::string log = "/logs/" + p.mac + "-boot.log";
            // HEAD: the size the server holds (Content-Length of the answer).
            int s = c.exchange("HEAD", log, "", "", out);
            out.statuses.push_back(s);
            if (s != 200 && s != 404 && out.error.empty()) out.error = "HEAD " + log + ": " + std::to_string(s);
            const std::size_t size = s == 200 ? c.last_length() : 0;
            s = c.exchange("PUT", log, log_lines,
                           "Content-Type: text/plain\r\nContent-Range: bytes " + std::to_string(size) + "-" +
                               std::to_string(size + log_lines.size() - 1) + "/*\r\n",
                           out);
            out.statuses.push_back(s);
            if (s != 201 && s != 204 && s != 405 && out.error.empty()) out.error = "PUT " + log + ": " + std::to_string(s);
        }
    } catch (const std::exception& e) {
        if (out.error.empty()) out.error = e.what();
    }
    c.close();
    const auto now = Clock::now();
    out.done_at = std::chrono::duration<double>(now - start).count();
    out.seconds = out.done_at;
}

double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s PORT SERVER_CA FIRMWARE_PATH [tls1.2] [no-upload] < phones\n", argv[0]);
        return 2;
    }
    std::signal(SIGPIPE, SIG_IGN);   // a server that hung up is an answer, not a reason to die
    const int port = std::atoi(argv[1]);
    const std::string ca = argv[2], firmware = argv[3];
    bool tls12 = false, upload = true;
    for (int i = 4; i < argc; ++i) {
        const std::string option = argv[i];
        if (option == "tls1.2") {
            tls12 = true;
        } else if (option == "no-upload") {
            upload = false;
        } else {
            std::fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
            return 2;
        }
    }

    std::vector<Phone> phones;
    for (Phone p; std::cin >> p.mac >> p.cert >> p.key;) phones.push_back(p);

    // Every phone's context before the start: only the storm is timed.
    std::vector<std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>> contexts;
    for (const Phone& p : phones) {
        SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1 ||
            SSL_CTX_use_certificate_chain_file(ctx, p.cert.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, p.key.c_str(), SSL_FILETYPE_PEM) != 1) {
            std::fprintf(stderr, "%s: %s\n", p.mac.c_str(), ssl_error().c_str());
            return 2;
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
        if (tls12) SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
        contexts.emplace_back(ctx, SSL_CTX_free);
    }

    std::vector<Outcome> outcomes(phones.size());
    std::mutex m;
    std::condition_variable go;
    bool started = false;
    Clock::time_point start;
    std::vector<std::thread> threads;
    threads.reserve(phones.size());
    for (std::size_t i = 0; i < phones.size(); ++i)
        threads.emplace_back([&, i] {
            {
                std::unique_lock<std::mutex> lock(m);
                go.wait(lock, [&] { return started; });
            }
            boot(contexts[i].get(), port, phones[i], firmware, upload, start, outcomes[i]);
        });
    const double cpu0 = cpu_seconds();
    {
        std::lock_guard<std::mutex> lock(m);
        start = Clock::now();
        started = true;
    }
    go.notify_all();
    for (auto& t : threads) t.join();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    const double cpu = cpu_seconds() - cpu0;

    for (std::size_t i = 0; i < phones.size(); ++i) {
        const Outcome& o = outcomes[i];
        std::string statuses;
        for (int s : o.statuses) statuses += (statuses.empty() ? "" : ",") + std::to_string(s);
        std::string error = o.error.empty() ? "-" : o.error;
        for (char& c : error)
            if (c == ' ' || c == '\n') c = '_';
        std::printf("%s %.6f %.6f %d %d %d %s %s\n", phones[i].mac.c_str(), o.seconds, o.done_at, o.full, o.resumed,
                    o.retries, statuses.empty() ? "-" : statuses.c_str(), error.c_str());
    }
    std::printf("cpu %.3f %.3f\n", cpu, wall);
    return 0;
}
