"""The servers every comparison runs against, each its own process group on
127.0.0.1, under a temporary directory, serving the same files with the
same server key:

  stock    apache2 as Debian ships it (event MPM and its defaults, or
           prefork and its defaults where asked; mod_ssl's Debian
           settings: shmcb session cache, tickets off), the module
           not loaded; SSLVerifyClient require against the Polycom CAs;
           mod_dav on logs/, the way operators take log uploads today
  loaded   stock with mod_polyprov loaded and none of its directives: what
           the module costs a server that does not use it
  module   the same apache2 and vhost with mod_polyprov: PolyProvAcceptExpired
           leaf, PolyProvRequireDevice on with the fleet's ACL (the MAC in the
           path checked), PolyProvUpload on logs/
  fleet    module, and the fleet view kept in shmcb (PolyProvFleet): what
           recording every request costs next to `module`
  nginx    Debian's nginx (its defaults) with the recipe operators use:
           ssl_verify_client on, a map of $ssl_client_s_dn to known phones
           and `if ($knownphone = 0) { return 403; }` (no MAC-to-path check)
  example  conf/examples/polyprov-vhost.conf as shipped, with
           conf/examples/polyprov-tuning.conf, paths pointed here, its two
           lines for an ECDSA certificate uncommented

Session variants: apache2 as Debian ships it resumes from its shmcb cache
(tickets off); `tickets=True` turns SSLSessionTickets on. nginx's recipe
keeps nginx's defaults (tickets on, no cache); session="cache" gives it a
shared cache and turns tickets off, session="tickets" says tickets on."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import common  # noqa: F401
from harness.apache import MODULE_DIR, Apache, free_port  # noqa: E402

SRC = common.TOP
FIRMWARE = "2345-12345-001.sip.ld"
FIRMWARE_BYTES = 3 * 1024 * 1024

# /etc/apache2/mods-available/mpm_*.conf as Debian 12 ships them.
DEBIAN_MPM = {"event": """\
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
""", "prefork": """\
StartServers 5
MinSpareServers 5
MaxSpareServers 10
MaxRequestWorkers 150
MaxConnectionsPerChild 0
"""}

# /etc/apache2: apache2.conf, ssl.conf, reqtimeout.conf as Debian 12 ships them.
DEBIAN_APACHE = """\
Timeout 300
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
HostnameLookups Off
RequestReadTimeout header=20-40,minrate=500
RequestReadTimeout body=10,minrate=500
SSLRandomSeed startup builtin
SSLSessionCache shmcb:{root}/run/ssl_scache(512000)
SSLSessionCacheTimeout 300
SSLCipherSuite HIGH:!aNULL
SSLProtocol all -SSLv3
SSLSessionTickets off
"""
# apache2.conf's sections. <Directory /> matters to speed, not only to access:
# without an AllowOverride None above the document root (httpd's compiled-in
# default leaves it unset), every request looks for a .htaccess in each
# directory above it: three failed open()s a request here.
DEBIAN_DIRECTORIES = """\
AccessFileName .htaccess
<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all denied
</Directory>
<Directory /usr/share>
    AllowOverride None
    Require all granted
</Directory>
<Directory /var/www/>
    Options Indexes FollowSymLinks
    AllowOverride None
    Require all granted
</Directory>
<FilesMatch "^\\.ht">
    Require all denied
</FilesMatch>
"""


class Site:
    """The files every server serves: a config per phone, the shared
    config, a per-phone override, a firmware image, and logs/."""

    def __init__(self, pki, phones):
        self.dir = tempfile.mkdtemp(prefix="polyprov-bench-site-")
        os.chmod(self.dir, 0o755)
        self.docs = os.path.join(self.dir, "htdocs")
        self.logs = os.path.join(self.docs, "logs")
        os.makedirs(self.logs)
        os.chmod(self.docs, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.logs, "www-data", "www-data")
        self.phones = pki["phones"][:phones]
        self.pki = pki
        filler = "".join(f'    reg.1.line.{i}.label="line {i}" voIpProt.SIP.outboundProxy.{i}="sip.example.com"\n'
                         for i in range(24))
        for p in self.phones + [pki["expired"]]:
            mac = p["mac"]
            self._write(f"{mac}.cfg", f'<?xml version="1.0"?>\n<phone mac="{mac}">\n{filler}</phone>\n')
            self._write(f"{mac}-phone.cfg", f'<?xml version="1.0"?>\n<override mac="{mac}"/>\n')
        self._write("000000000000.cfg", '<?xml version="1.0"?>\n<APPLICATION APP_FILE_PATH="'
                    + FIRMWARE + '" CONFIG_FILES="[PHONE_MAC_ADDRESS]-phone.cfg, [PHONE_MAC_ADDRESS].cfg" '
                    'LOG_FILE_DIRECTORY="logs" OVERRIDES_DIRECTORY="" />\n' + filler * 3)
        self._write("index.html", "x" * 512)
        with open(os.path.join(self.docs, FIRMWARE), "wb") as f:
            f.write(os.urandom(FIRMWARE_BYTES))
        os.chmod(os.path.join(self.docs, FIRMWARE), 0o644)
        self.acl = os.path.join(self.dir, "phones.acl")
        with open(self.acl, "w") as f:
            f.writelines(f"{p['mac']} label=bench\n" for p in self.phones + [pki["expired"]])
        os.chmod(self.acl, 0o644)

    def _write(self, rel, text):
        path = os.path.join(self.docs, rel)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    def clear_logs(self):
        for n in os.listdir(self.logs):
            p = os.path.join(self.logs, n)
            if os.path.isfile(p):
                os.unlink(p)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class BenchApache(Apache):
    """The harness's apache2 (own process group, stopped by PID), with a
    configuration of Debian's shape instead of the tests' small one."""

    def __init__(self, kind, site, tickets=False, acl=None, extra_server="", mpm="event", log_vars=False,
                 acl_query=None, debian_directories=True):
        root = tempfile.mkdtemp(prefix=f"polyprov-bench-{kind}-")
        super().__init__(root, mpm=mpm)
        self.kind, self.site, self.tickets = kind, site, tickets
        self.log_vars = log_vars
        self.acl = acl or site.acl
        # (driver, params, sql): the list from a database (PolyProvACLQuery) instead of the file.
        self.acl_query = acl_query
        self.extra_server = extra_server
        # False: without apache2.conf's <Directory> sections (a server
        # configuration written from scratch), to measure what they change.
        self.debian_directories = debian_directories

    def write_config(self, vhosts="", **kw):
        root = self.root
        modules = ["authz_core", "mime", "socache_shmcb", "ssl", "reqtimeout", "log_config"]
        if self.acl_query:
            modules.append("dbd")
        if self.kind in ("stock", "loaded"):
            modules += ["dav", "dav_fs"]
        lines = [f"ServerRoot {root}", "ServerName localhost", f"Listen 127.0.0.1:{self.port}",
                 f"PidFile {root}/run/httpd.pid", f"DefaultRuntimeDir {root}/run", f"Mutex file:{root}/run default",
                 f"ErrorLog {root}/logs/error.log", "LogLevel warn",
                 f"LoadModule mpm_{self.mpm}_module {MODULE_DIR}/mod_mpm_{self.mpm}.so"]
        lines += [f"LoadModule {m}_module {MODULE_DIR}/mod_{m}.so" for m in modules
                  if os.path.exists(f"{MODULE_DIR}/mod_{m}.so")]
        if self.kind != "stock":
            lines.append(f"LoadModule polyprov_module {os.environ['POLYPROV_MODULE']}")
        if os.geteuid() == 0:
            lines += ["User www-data", "Group www-data"]
        # log_vars: the access log line operators write, naming the device,
        # the decision and mod_ssl's verdict (issue 20: what an independent
        # harness measured and bench/ did not).
        fields = " %{POLYPROV_MAC}e %{POLYPROV_DECISION}e %{SSL_CLIENT_VERIFY}x" if self.log_vars else ""
        lines += ["TypesConfig /etc/mime.types",
                  f'LogFormat "%h %l %u %t \\"%r\\" %>s %O{fields}" common',
                  f"CustomLog {root}/logs/access.log common"]
        text = "\n".join(lines) + "\n" + DEBIAN_MPM[self.mpm] + DEBIAN_APACHE.format(root=root)
        text += (DEBIAN_DIRECTORIES if self.debian_directories else "") + self.extra_server
        if self.kind in ("stock", "loaded"):
            os.makedirs(f"{root}/davlock", exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(f"{root}/davlock", "www-data", "www-data")
            text += f"DavLockDB {root}/davlock/db\n"
        text += vhosts or self.vhost()
        with open(self.conf, "w") as f:
            f.write(text)
        return self.conf

    def vhost(self):
        pki, docs = self.site.pki, self.site.docs
        cert, key = pki["server"]["rsa"]
        module = self.kind in ("module", "fleet")
        lines = [f"<VirtualHost 127.0.0.1:{self.port}>", "    ServerName localhost", f"    DocumentRoot {docs}",
                 "    SSLEngine on", f"    SSLCertificateFile {cert}", f"    SSLCertificateKeyFile {key}",
                 f"    SSLCACertificateFile {pki['ca_bundle']}", "    SSLVerifyClient require", "    SSLVerifyDepth 4"]
        if self.tickets:
            lines.append("    SSLSessionTickets on")
        if module:
            lines += ["    PolyProvAcceptExpired leaf", f"    PolyProvTrustAnchorFile {pki['anchors']}"]
        if self.kind == "fleet":
            lines.append(f"    PolyProvFleet shmcb:{self.root}/run/fleet(4194304)")
        if module and self.acl_query:
            driver, params, _ = self.acl_query
            lines += [f"    DBDriver {driver}", f'    DBDParams "{params}"', "    DBDPersist Off"]
        lines += [f"    <Directory {docs}>", "        Options -Indexes", "        Require all granted"]
        if module:
            lines += ["        PolyProvRequireDevice on"]
            lines += ([f'        PolyProvACLQuery "{self.acl_query[2]}"', "        PolyProvACLRefresh 2s"]
                      if self.acl_query else [f"        PolyProvACLFile {self.acl}"])
        lines += ["    </Directory>", f"    <Directory {docs}/logs>"]
        lines += ["        PolyProvUpload on"] if module else ["        Dav On"]
        lines += ["    </Directory>", "</VirtualHost>"]
        return "\n".join(lines) + "\n"

    def start(self, vhosts="", **kw):
        return super().start(vhosts, **kw)

    def cpu_seconds(self):
        return common.server_cpu_seconds(self.proc.pid)

    def remove(self):
        """Stops and deletes the server; returns the error-log lines at error
        or worse (the harness would fail a test on them: a benchmark reports
        them instead)."""
        problems = self.unexpected_log_lines()
        try:
            self.stop()
        except AssertionError as e:   # logged on the way down
            problems += str(e).splitlines()[1:]
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
        return problems


ECDSA_LINES = ("#SSLCertificateFile    /etc/ssl/certs/prov.example.com-ecdsa.pem",
               "#SSLCertificateKeyFile /etc/ssl/private/prov.example.com-ecdsa.key")


def example_config(apache, site):
    """conf/examples/polyprov-vhost.conf and polyprov-tuning.conf as shipped,
    pointed at the bench's files, as an operator would edit them; one with
    an ECDSA certificate too uncomments the example's two lines for it."""
    pki = site.pki
    text = ""
    for name in ("polyprov-tuning.conf", "polyprov-vhost.conf"):
        with open(os.path.join(SRC, "conf", "examples", name)) as f:
            text += f.read() + "\n"
    for line in ECDSA_LINES:
        if line not in text:
            raise RuntimeError(f"conf/examples/polyprov-vhost.conf no longer has {line!r}")
        text = text.replace(line, line[1:])
    for old, new in {"/etc/ssl/certs/prov.example.com.pem": pki["server"]["rsa"][0],
                     "/etc/ssl/private/prov.example.com.key": pki["server"]["rsa"][1],
                     "/etc/ssl/certs/prov.example.com-ecdsa.pem": pki["server"]["ecdsa"][0],
                     "/etc/ssl/private/prov.example.com-ecdsa.key": pki["server"]["ecdsa"][1],
                     "/etc/polyprov/polycom-ca.pem": pki["ca_bundle"],
                     "/etc/polyprov/polycom-root.pem": pki["anchors"],
                     "/etc/polyprov/phones.acl": site.acl,
                     "/srv/polycom": site.docs,
                     "${APACHE_RUN_DIR}": f"{apache.root}/run",
                     "${APACHE_LOG_DIR}": f"{apache.root}/logs",
                     "prov.example.com": "localhost",
                     "*:443": f"127.0.0.1:{apache.port}"}.items():
        text = text.replace(old, new)
    return text


class ExampleApache(BenchApache):
    """The shipped example: Debian's server defaults, then the example's
    tuning and virtual host."""

    def __init__(self, site, extra_server=""):
        super().__init__("example", site)
        # After the example's files, so that a lever tried here overrides
        # a line the tuning file sets (the last of a server-wide directive wins).
        self.after_example = extra_server

    def vhost(self):
        return example_config(self, self.site) + self.after_example


class Nginx:
    """Debian's nginx with the operators' recipe, in its own process group."""

    def __init__(self, site, session="default"):
        self.site, self.session = site, session
        self.prefix = tempfile.mkdtemp(prefix="polyprov-bench-nginx-")
        os.chmod(self.prefix, 0o755)
        for d in ("logs", "body"):
            os.makedirs(os.path.join(self.prefix, d))
        self.port = free_port()
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.proc = None

    def config(self):
        pki, docs = self.site.pki, self.site.docs
        cert, key = pki["server"]["rsa"]
        known = "".join(f'        "~CN={p["mac"]}" 1;\n' for p in self.site.phones + [self.site.pki["expired"]])
        # default: the recipe as operators write it (nginx's own defaults:
        # tickets on, no session cache); cache: a shared cache, no tickets.
        session = {"default": "", "tickets": "        ssl_session_tickets on;\n",
                   "cache": "        ssl_session_cache shared:SSL:10m;\n        ssl_session_tickets off;\n"}[self.session]
        return f"""{'user www-data;' if os.geteuid() == 0 else ''}
worker_processes auto;
error_log {self.prefix}/logs/error.log warn;
events {{
    worker_connections 768;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {self.prefix}/logs/access.log;
    client_body_temp_path {self.prefix}/body;
    map $ssl_client_s_dn $knownphone {{
        default 0;
{known}    }}
    server {{
        listen 127.0.0.1:{self.port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_client_certificate {pki['ca_bundle']};
        ssl_verify_client on;
        ssl_verify_depth 4;
{session}        root {docs};
        location / {{
            if ($knownphone = 0) {{
                return 403;
            }}
        }}
    }}
}}
"""

    def start(self):
        with open(self.conf, "w") as f:
            f.write(self.config())
        pid = os.path.join(self.prefix, "nginx.pid")
        cmd = ["nginx", "-p", self.prefix, "-c", self.conf, "-g", f"daemon off; pid {pid};"]
        p = subprocess.run(cmd + ["-t"], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{p.stderr}")
        self._out = open(os.path.join(self.prefix, "logs", "stdout.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited at start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start listening in 30 s")

    def cpu_seconds(self):
        return common.server_cpu_seconds(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)   # graceful: workers finish, then exit
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None

    def remove(self):
        self.stop()
        problems = self.error_lines()
        shutil.rmtree(self.prefix, ignore_errors=True)
        return problems

    def error_lines(self):
        try:
            with open(os.path.join(self.prefix, "logs", "error.log"), errors="replace") as f:
                return [line.rstrip("\n") for line in f if re.search(r"\[(error|crit|alert|emerg)\]", line)]
        except FileNotFoundError:
            return []
