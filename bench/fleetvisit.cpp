// The fleet scale benchmark's client (bench/fleet_scale.py drives it): a
// fleet of phones, each with its own certificate, each opening one new TLS
// connection to 127.0.0.1:PORT and asking for PATH once, as a phone does
// when it checks in. WORKERS threads share the phones, so 100,000 of them
// need no 100,000 threads. In C++ with OpenSSL so that the client's share
// of a 2-core machine stays small next to the server's (Python's ssl
// spent about 11 ms of CPU per phone here, see phoneboot.cpp).
//
// usage: fleetvisit PORT SERVER_CA PATH WORKERS < phones
//   phones: lines "MAC CERT_CHAIN_PEM KEY_PEM"
// output: "status N COUNT" lines (N 0: the connection failed), the first
//   error if any, then "cpu USER+SYS_SECONDS WALL_SECONDS".

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Phone {
    std::string mac, cert, key;
};

class Visits {
public:
    void add(int status, const std::string& error) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++counts_[status];
        if (!error.empty() && first_error_.empty()) first_error_ = error;
    }
    void print() const {
        for (const auto& [status, n] : counts_) std::printf("status %d %zu\n", status, n);
        if (!first_error_.empty()) std::printf("error %s\n", first_error_.c_str());
    }

private:
    std::mutex mutex_;
    std::map<int, std::size_t> counts_;
    std::string first_error_;
};

std::string ssl_error() {
    char buf[256];
    const unsigned long e = ERR_get_error();
    if (!e) return std::strerror(errno);
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

// One phone's visit: the status of its answer, or 0 with `error` set.
int visit(SSL_CTX* ctx, int port, const std::string& path, const Phone& phone, std::string& error) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return error = std::strerror(errno), 0;
    SSL* ssl = nullptr;
    int status = 0;
    try {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{60, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
        ssl = SSL_new(ctx);
        if (SSL_use_certificate_chain_file(ssl, phone.cert.c_str()) != 1 ||
            SSL_use_PrivateKey_file(ssl, phone.key.c_str(), SSL_FILETYPE_PEM) != 1)
            throw std::runtime_error(phone.mac + ": certificate: " + ssl_error());
        SSL_set_fd(ssl, fd);
        SSL_set_tlsext_host_name(ssl, "localhost");
        SSL_set1_host(ssl, "localhost");
        if (SSL_connect(ssl) != 1) throw std::runtime_error(phone.mac + ": handshake: " + ssl_error());
        const std::string request = "GET " + path +
                                    " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                                    "User-Agent: FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application\r\n\r\n";
        if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0)
            throw std::runtime_error(phone.mac + ": write: " + ssl_error());
        std::string answer;
        char chunk[16384];
        for (int n; (n = SSL_read(ssl, chunk, sizeof chunk)) > 0;) answer.append(chunk, static_cast<std::size_t>(n));
        if (answer.compare(0, 5, "HTTP/") != 0 || answer.size() < 12)
            throw std::runtime_error(phone.mac + ": no answer");
        status = std::stoi(answer.substr(9, 3));
        SSL_shutdown(ssl);
    } catch (const std::exception& e) {
        error = e.what();
        status = 0;
    }
    if (ssl) SSL_free(ssl);
    ::close(fd);
    return status;
}

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::cerr << "usage: fleetvisit PORT SERVER_CA PATH WORKERS < phones\n";
        return 2;
    }
    const int port = std::atoi(argv[1]);
    const std::string path = argv[3];
    const int workers = std::max(1, std::atoi(argv[4]));
    std::vector<Phone> phones;
    for (Phone p; std::cin >> p.mac >> p.cert >> p.key;) phones.push_back(p);

    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);  // every phone a full handshake
    if (SSL_CTX_load_verify_locations(ctx, argv[2], nullptr) != 1) {
        std::cerr << "server CA: " << ssl_error() << "\n";
        return 2;
    }

    const auto start = std::chrono::steady_clock::now();
    Visits visits;
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w)
        threads.emplace_back([&] {
            for (std::size_t i; (i = next++) < phones.size();) {
                std::string error;
                const int status = visit(ctx, port, path, phones[i], error);
                visits.add(status, error);
            }
        });
    for (auto& t : threads) t.join();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    visits.print();
    std::printf("cpu %.3f %.3f\n", cpu_seconds(), wall);
    SSL_CTX_free(ctx);
    return 0;
}
