"""A real apache2 with the freshly built module, from a private ServerRoot
on 127.0.0.1. Started in the foreground so that the test owns its PID and
stops it whatever happens."""

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from . import sanitizers

HTTPD = os.environ.get("POLYPROV_HTTPD", "/usr/sbin/apache2")
MODULE = os.environ.get("POLYPROV_MODULE", "")
MODULE_DIR = os.environ.get("POLYPROV_MODULE_DIR", "/usr/lib/apache2/modules")


# What no test may leave in an error log unless it says it expects it: an
# error or worse from any module, an internal error of ours, a child that
# died of a signal (httpd says that at notice: AH00051 when it may have
# left a core, AH00052 when not).
UNEXPECTED = re.compile(r"\[(?:[\w-]+:)?(?:error|crit|alert|emerg)\]|\bPP9\d\d\b|\bAH0005[12]\b")

# Patterns the running test expects in any server's log (set by conftest).
current_test_allows = []


def new_server_root():
    """A fresh ServerRoot that the unprivileged children can traverse."""
    root = tempfile.mkdtemp(prefix="polyprov-httpd-")
    os.chmod(root, 0o755)
    return root


# Lines httpd itself may log while it stops (see Apache.stop).
RESTARTING_RACE = r"AH03093: process_socket: apr_pollset_add failure for keep alive"
STOPPING_RACES = (r"\(9\)Bad file descriptor: AH03092: process_lingering_close: apr_pollset_add failure",)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def have_module(name):
    return os.path.exists(os.path.join(MODULE_DIR, f"mod_{name}.so"))


def base_config(root, port, mpm="event", with_polyprov=True, extra_modules=(), log_level="warn ssl:debug polyprov:debug",
                core_dir=None):
    """The server-wide part of a test httpd.conf. core_dir: where a child
    that dies of a signal leaves its core (an existing directory)."""
    modules = ["authz_core", "headers", "socache_shmcb", "ssl", "mime"] + list(extra_modules)
    if have_module("http2"):
        modules.append("http2")
    lines = [
        f"ServerRoot {root}",
        "ServerName 127.0.0.1",
        f"Listen 127.0.0.1:{port}",
        f"PidFile {root}/run/httpd.pid",
        f"DefaultRuntimeDir {root}/run",
        f"Mutex file:{root}/run default",
        "GracefulShutdownTimeout 3",
        f"ErrorLog {root}/logs/error.log",
        f"LogLevel {log_level}",
        'LogFormat "%h \\"%r\\" %>s verify=%{SSL_CLIENT_VERIFY}x expired=%{POLYPROV_CERT_EXPIRED}e '
        'mac=%{POLYPROV_MAC}e decision=%{POLYPROV_DECISION}e" polyprov',
        f"CustomLog {root}/logs/access.log polyprov",
        f"LoadModule mpm_{mpm}_module {MODULE_DIR}/mod_mpm_{mpm}.so",
    ]
    lines += [f"LoadModule {m}_module {MODULE_DIR}/mod_{m}.so" for m in modules]
    if core_dir:
        # Apache.stop prints the core's backtrace: httpd's own handler is
        # what catches the signal in a child, before a sanitizer could.
        lines.append(f"CoreDumpDirectory {core_dir}")
    if with_polyprov:
        lines.append(f"LoadModule polyprov_module {MODULE}")
    if os.geteuid() == 0:
        lines += ["User www-data", "Group www-data"]
    if mpm == "prefork":
        lines += ["StartServers 2", "MinSpareServers 1", "MaxSpareServers 3", "MaxRequestWorkers 8"]
    else:
        lines += ["StartServers 1", "ServerLimit 2", "ThreadsPerChild 8", "MaxRequestWorkers 16",
                  "MinSpareThreads 1", "MaxSpareThreads 16"]
    lines += [
        "TypesConfig /etc/mime.types",
        f"SSLSessionCache shmcb:{root}/run/ssl_scache(512000)",
        "SSLRandomSeed startup builtin",
        f"DocumentRoot {root}/htdocs",
        f"<Directory {root}/htdocs>",
        "    Require all granted",
        "</Directory>",
    ]
    if have_module("http2"):
        lines.append("Protocols h2 http/1.1")
    return "\n".join(lines) + "\n"


def _allow_core_dumps():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


class Apache:
    running = []   # started and not yet stopped: their logs are checked after every test

    def __init__(self, root, port=None, mpm="event"):
        self.root = root
        self.port = port or free_port()
        self.mpm = mpm
        self.proc = None
        self.checked = 0      # error log offset up to which lines were checked
        self.allowed = []     # patterns this server's tests expect
        for d in ("run", "logs", "htdocs", "conf", "cores"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        os.chmod(os.path.join(root, "cores"), 0o1777)   # the children dump as www-data
        # apache2 drops to www-data when started as root.
        os.chmod(root, 0o755)
        for d in ("htdocs", "conf"):
            os.chmod(os.path.join(root, d), 0o755)
        self.conf = os.path.join(root, "conf", "httpd.conf")
        self.error_log = os.path.join(root, "logs", "error.log")
        self.access_log = os.path.join(root, "logs", "access.log")
        self.env = sanitizers.httpd_env(root)   # None unless the module is instrumented

    def write_config(self, vhosts, **kw):
        with open(self.conf, "w") as f:
            f.write(base_config(self.root, self.port, self.mpm, core_dir=os.path.join(self.root, "cores"), **kw))
            f.write(vhosts)
        return self.conf

    def configtest(self, vhosts=None, config_text=None, as_user=None, **kw):
        """Runs `apache2 -t`; returns (exit code, combined output)."""
        if config_text is not None:
            with open(self.conf, "w") as f:
                f.write(config_text)
        elif vhosts is not None:
            self.write_config(vhosts, **kw)
        cmd = [HTTPD, "-t", "-f", self.conf]
        if as_user:
            cmd = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=self.env)
        sanitizers.note_output(f"apache2 -t -f {self.conf}", p.stdout + p.stderr)
        return p.returncode, p.stdout + p.stderr

    def start(self, vhosts, **kw):
        self.write_config(vhosts, **kw)
        rc, out = self.configtest()
        if rc != 0:
            raise RuntimeError(f"configtest failed:\n{out}")
        self._stdout = open(os.path.join(self.root, "logs", "stdout.log"), "w")
        self.checked = self.log_mark()
        self.proc = subprocess.Popen([HTTPD, "-f", self.conf, "-DFOREGROUND"],
                                     stdout=self._stdout, stderr=subprocess.STDOUT, start_new_session=True,
                                     env=self.env, preexec_fn=_allow_core_dumps)
        Apache.running.append(self)
        # Listening is not enough: until the MPM says it is serving, its
        # signal handlers (graceful restart) are not in place yet.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"apache2 exited with {self.proc.returncode}:\n{self.read_error_log()}")
            try:
                if "resuming normal operations" in self.log_since(self.checked, wait=0):
                    with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("apache2 did not start serving in 30 s")

    def stop(self):
        """Stops the server, then fails on what its log says that nobody expected."""
        if self.proc is None:
            return
        stopping_from = None
        if self.proc.poll() is None:
            # What is logged before the signal is checked as always.
            before = self.unexpected_log_lines()
            assert not before, "unexpected lines in the error log:\n" + "\n".join(before) + self.core_backtraces()
            stopping_from = self.checked
            # A graceful stop, as Debian's apache2.service stops it: prefork's
            # SIGTERM handler destroys a child's pools at once, whatever the
            # child is doing, and when that is mod_ssl's teardown of a
            # connection (SSL_free) the child crashes in mod_ssl. Seen with
            # stock httpd 2.4.71 and no mod_polyprov loaded, one stop in
            # about a hundred right after a request, with the sanitizer
            # runtimes slowing free(); a child interrupted inside free()
            # can also hang there until the parent's SIGKILL. httpd's race,
            # not the module's. GracefulShutdownTimeout bounds the wait.
            self.proc.send_signal(signal.SIGWINCH)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None
        self._stdout.close()
        if self in Apache.running:
            Apache.running.remove(self)
        sanitizers.collect(self.root)   # reports written on the way down; conftest fails on them
        # httpd's own event MPM, stopping while a connection lingers, may fail
        # to poll the socket it just closed (AH03092, EBADF): its race, seen
        # on a loaded machine, not the module's; allowed only once stopping.
        unexpected = self.unexpected_log_lines(extra=STOPPING_RACES if stopping_from is not None else ())
        assert not unexpected, "unexpected lines in the error log:\n" + "\n".join(unexpected) + self.core_backtraces()

    def core_backtraces(self):
        """Every thread's backtrace from the cores children left, as text."""
        directory = os.path.join(self.root, "cores")
        cores = sorted(os.path.join(directory, n) for n in os.listdir(directory)) if os.path.isdir(directory) else []
        if not cores:
            return ""
        if not shutil.which("gdb"):
            return f"\n(cores in {directory}; gdb is not installed to read them)"
        out = []
        for core in cores:
            p = subprocess.run(["gdb", "-batch", "-nx", "-ex", "thread apply all bt", HTTPD, core],
                               capture_output=True, text=True, timeout=120)
            out.append(f"\n--- {core}\n" + p.stdout[-30000:])
        return "".join(out)

    def allow_log(self, pattern):
        """Declares a line this server's tests expect (a regex, searched)."""
        self.allowed.append(re.compile(pattern))

    def unexpected_log_lines(self, extra=()):
        """Lines logged since the last check that UNEXPECTED matches and nobody allowed."""
        try:
            with open(self.error_log, errors="replace") as f:
                f.seek(self.checked)
                text = f.read()
                self.checked = f.tell()
        except FileNotFoundError:
            return []
        allowed = self.allowed + [re.compile(p) for p in list(extra) + current_test_allows]
        return [line for line in text.splitlines()
                if UNEXPECTED.search(line) and not any(a.search(line) for a in allowed)]

    def graceful(self, timeout=30):
        """SIGUSR1, then waits until the parent says it is serving again."""
        self._restart(signal.SIGUSR1, "graceful restart", timeout)

    def restart(self, timeout=30):
        """SIGHUP (a full restart), then waits until the parent serves again."""
        self._restart(signal.SIGHUP, "restart", timeout)

    def _restart(self, sig, what, timeout):
        # httpd's event MPM, restarting while a keep-alive connection goes
        # back to the pollset the restart is closing (AH03093): its race.
        self.allow_log(RESTARTING_RACE)
        mark = self.log_mark()
        self.proc.send_signal(sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "resuming normal operations" in self.log_since(mark, wait=0.2):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"apache2 died on {what}:\n" + self.log_since(mark, wait=0))
        raise RuntimeError(f"apache2 did not finish a {what}")

    def read_error_log(self):
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_mark(self):
        """An offset into the error log: what is logged after it is new."""
        try:
            return os.path.getsize(self.error_log)
        except FileNotFoundError:
            return 0

    def log_since(self, mark, wait=0.3):
        # Children write the log asynchronously to the client's view.
        time.sleep(wait)
        with open(self.error_log, errors="replace") as f:
            f.seek(mark)
            return f.read()
