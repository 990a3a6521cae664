"""Real databases for the allow-list query (PolyProvACLQuery): an SQLite
file, and a PostgreSQL server initialised into a temp dir, listening on a
loopback port, started and stopped by the test by PID."""

import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

from .apache import free_port

PG_BIN = "/usr/lib/postgresql/15/bin"

# One table shaped like FusionPBX's v_devices (the columns the query reads).
SCHEMA = ("CREATE TABLE v_devices (device_mac_address text, device_label text, device_pin text, "
          "device_enabled text, position integer)")
QUERY = ("SELECT device_mac_address, device_label, device_pin FROM v_devices "
         "WHERE device_enabled = 'true' ORDER BY position, device_mac_address")


def filler_macs(count):
    """`count` MACs no test device has (00:04:f2:80:00:00 on), as FusionPBX writes them."""
    return [f"0004f2{0x800000 + i:06x}" for i in range(count)]


class SqliteDatabase:
    driver = "sqlite3"

    def __init__(self, root):
        self.dir = os.path.join(root, "db")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "phones.db")
        self.away = self.path + ".away"
        self.params = self.path

    def create(self, filler=0):
        with sqlite3.connect(self.path) as db:
            db.execute(SCHEMA)
            db.executemany("INSERT INTO v_devices VALUES (?, NULL, NULL, 'true', 1000)",
                           [(m,) for m in filler_macs(filler)])
        os.chmod(self.path, 0o644)

    def execute(self, sql, args=()):
        with sqlite3.connect(self.path) as db:
            db.execute(sql, args)

    def add_devices(self, macs, first_position):
        """One enabled row per MAC, in one transaction."""
        with sqlite3.connect(self.path) as db:
            db.executemany("INSERT INTO v_devices VALUES (?, NULL, NULL, 'true', ?)",
                           [(m, first_position + i) for i, m in enumerate(macs)])

    def stop(self):
        """The database goes away: the file is moved aside."""
        os.rename(self.path, self.away)

    def start(self):
        os.rename(self.away, self.path)

    def close(self):
        pass


class PostgresDatabase:
    driver = "pgsql"

    def __init__(self, root):
        self.dir = tempfile.mkdtemp(prefix="polyprov-pg-")
        self.port = free_port()
        self.user = "postgres"
        pw = pwd.getpwnam(self.user)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "postgres.log")
        self.proc = None
        self.params = (f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres "
                       "connect_timeout=3")
        self._as_postgres([f"{PG_BIN}/initdb", "-D", self.data, "--auth=trust", "-U", self.user, "-E", "UTF8"],
                          check=True)

    def _as_postgres(self, cmd, **kw):
        if os.geteuid() == 0:
            cmd = ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)

    def start(self):
        cmd = [f"{PG_BIN}/postgres", "-D", self.data, "-p", str(self.port), "-k", self.dir,
               "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
        if os.geteuid() == 0:
            cmd = ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups"] + cmd
        self._logf = open(self.log, "a")
        self.proc = subprocess.Popen(cmd, stdout=self._logf, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {open(self.log).read()[-2000:]}")
            if self._psql("SELECT 1", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("postgres did not start in 30 s")

    def stop(self):
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)   # fast shutdown: its clients are disconnected
        self.proc.wait(timeout=30)
        self.proc = None
        self._logf.close()

    def _psql(self, sql, check=True):
        return self._as_postgres(["psql", "-h", "127.0.0.1",
                                  "-p", str(self.port), "-U", self.user, "-d", "postgres", "-v",
                                  "ON_ERROR_STOP=1", "-qAtc", sql], check=check)

    def create(self, filler=0):
        self._psql(SCHEMA)
        if filler:
            self._psql(f"INSERT INTO v_devices SELECT '0004f2' || lpad(to_hex(8388608 + i), 6, '0'), NULL, NULL, "
                       f"'true', 1000 FROM generate_series(0, {filler - 1}) AS i")

    def execute(self, sql, args=()):
        for a in args:   # the tests' own literals; quoted as SQL strings
            sql = sql.replace("?", "NULL" if a is None else "'" + str(a).replace("'", "''") + "'", 1)
        self._psql(sql)

    def add_devices(self, macs, first_position):
        """One enabled row per MAC, in one statement."""
        rows = ", ".join(f"('{m}', NULL, NULL, 'true', {first_position + i})" for i, m in enumerate(macs))
        self._psql(f"INSERT INTO v_devices VALUES {rows}")

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
