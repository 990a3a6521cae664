#include "acl_query.hpp"

#include "glue.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <thread>
#include <vector>

#include <malloc.h>
#include <pthread.h>

#include <polyprov/acl_rows.hpp>
#include <polyprov/query_outage.hpp>

namespace polyprov::glue {
namespace {

// While the database does not answer (or never has), it is asked again
// sooner than the interval, so phones are not refused longer than needed.
constexpr std::chrono::seconds kRetry{5};
// A refresh reports so many left-out rows one by one, then a count.
constexpr std::size_t kRowsReported = 20;
// A run is late when it has taken this much longer than its interval.
constexpr std::chrono::seconds kLate{30};

std::int64_t steady_ticks() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

// The value of `name` written directly in `first`'s list of directives.
const char* setting_in(const ap_directive_t* first, const char* name, apr_pool_t* p) {
    const char* found = nullptr;
    for (const ap_directive_t* d = first; d; d = d->next)
        if (d->directive && strcasecmp(d->directive, name) == 0) {
            const char* args = d->args;
            found = ap_getword_conf(p, &args);   // the last one counts, as in mod_dbd
        }
    return found;
}

void log_problems(server_rec* s, const AclQuery& q, const std::vector<AclRowProblem>& problems) {
    std::size_t told = 0;
    for (const AclRowProblem& p : problems) {
        if (++told > kRowsReported) break;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PP_TAG(210) "%s: row %" APR_SIZE_T_FMT ": '%s': %s; left out",
                     q.name.c_str(), p.row, p.value.c_str(), p.why.c_str());
    }
    if (problems.size() > kRowsReported)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PP_TAG(210) "%s: %" APR_SIZE_T_FMT " more rows left out",
                     q.name.c_str(), problems.size() - kRowsReported);
}

// One run of the query: the list published when it changed; what went
// wrong said once.
void refresh(server_rec* s, AclQuery& q, QueryOutage& outage) {
    AclFromRows built;
    struct Running {
        AclQuery& q;
        explicit Running(AclQuery& query) : q(query) { q.run_began.store(steady_ticks()); }
        ~Running() { q.run_began.store(0); }
    };
    try {
        const Running running(q);
        AclRowsBuilder rows;
        dbd::read_rows(q.source, rows);
        built = rows.finish(q.name);
    } catch (const std::exception& e) {
        malloc_trim(0);
        if (const auto message = outage.failed(e.what(), QueryOutage::Clock::now()))
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PP_TAG(211) "%s: %s; %s", q.name.c_str(), message->c_str(),
                         q.has_list ? "every process keeps the last good list"
                                    : "no list yet: devices get 503 until the query answers");
        return;
    }
    if (const auto message = outage.answered(QueryOutage::Clock::now()))
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, PP_TAG(212) "%s: %s", q.name.c_str(), message->c_str());
    log_problems(s, q, built.problems);
    std::vector<AclRowProblem>().swap(built.problems);   // before the trim below
    try {
        const WatchEvent e = q.list->publish(std::move(built.acl));
        // What the rows and the table took goes back to the system, changed
        // or not: the watcher holds no list of its own between runs.
        malloc_trim(0);
        if (e.kind == WatchEvent::Kind::published) {
            q.has_list = true;
            // A query that matches nothing (a WHERE clause gone wrong)
            // refuses every phone: that deserves more than info.
            const bool empty = e.message.rfind("0 devices", 0) == 0;
            ap_log_error(APLOG_MARK, empty ? APLOG_WARNING : APLOG_INFO, 0, s,
                         PP_TAG(202) "reloaded %s: %s%s (generation %" APR_UINT64_T_FMT ")", q.name.c_str(),
                         e.message.c_str(), empty ? ": the query returned no device, every device is refused" : "",
                         static_cast<apr_uint64_t>(e.generation));
        }
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PP_TAG(203) "%s; every process keeps the last good version",
                     e.what());
    }
}

[[noreturn]] void follow_forever(server_rec* s, AclQuery* q) {
    QueryOutage outage;
    for (;;) {
        refresh(s, *q, outage);
        std::this_thread::sleep_for(outage.ongoing() ? std::min(q->interval, kRetry) : q->interval);
    }
}

}  // namespace

void report_late_run(server_rec* s, AclQuery& q) noexcept {
    // Said once per run, a run known by when it began: no reset to race
    // with the run's end.
    const std::int64_t began = q.run_began.load();
    if (!began || q.late_said_for.load() == began) return;
    const auto taken = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::steady_clock::duration(steady_ticks() - began));
    if (taken < q.interval + kLate || q.late_said_for.exchange(began) == began) return;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                 PP_TAG(211) "%s: a run has not returned after %ld s (the database holds a lock, or does not "
                 "answer); %s", q.name.c_str(), static_cast<long>(taken.count()),
                 q.has_list.load() ? "every process keeps the last good list" : "no list yet: devices get 503");
}

const char* dbd_source_for(cmd_parms* cmd, const char* sql, dbd::Source* source) {
    const ap_directive_t* vhost = nullptr;
    for (const ap_directive_t* d = cmd->directive ? cmd->directive->parent : nullptr; d; d = d->parent)
        if (d->directive && strcasecmp(d->directive, "<VirtualHost") == 0) vhost = d;
    // As mod_dbd merges them: a virtual host's own value, unless it is
    // unset or empty, else the top level's.
    const auto setting = [&](const char* name) -> const char* {
        const char* value = vhost ? setting_in(vhost->first_child, name, cmd->temp_pool) : nullptr;
        return value && *value ? value : setting_in(ap_conftree, name, cmd->temp_pool);
    };
    // (mod_dbd refuses a DBDriver APR has no driver for where it reads it;
    // a driver it accepted is checked here again, from this process.)
    const char* driver = setting("DBDriver");
    const char* params = setting("DBDParams");
    if (!driver || !params || !*driver)
        return apr_psprintf(cmd->pool, "%s needs mod_dbd's DBDriver and DBDParams, written directly in this "
                                       "<VirtualHost> or at the top level of the configuration",
                            cmd->cmd->name);
    if (const std::string why = dbd::check_driver(driver); !why.empty())
        return apr_psprintf(cmd->pool, "%s: DBDriver %s: %s", cmd->cmd->name, driver, why.c_str());
    if (std::strspn(sql, " \t\r\n") == std::strlen(sql)) return apr_psprintf(cmd->pool, "%s: the query is empty", cmd->cmd->name);
    source->driver = driver;
    source->params = params;
    source->sql = sql;
    return nullptr;
}

bool follow_acl_query(server_rec* s, AclQuery* query) noexcept {
    // Signals stay with the watcher's main thread.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    bool started = true;
    try {
        std::thread(follow_forever, s, query).detach();
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, PP_TAG(206) "%s: cannot start its thread (%s); its list is not "
                     "refreshed", query->name.c_str(), e.what());
        started = false;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return started;
}

}  // namespace polyprov::glue
