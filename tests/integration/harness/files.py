"""Files the tests change under a running server, and read back from it."""

import os


def write_file(path, text, mode=0o644):
    """`path` with `text`, its directory made (0755) if missing, readable by
    the server's User."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def replace_by_rename(path, text):
    """A new version of `path` renamed over it (a new inode), readable by the
    server's User, as editors and configuration tools do."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", 0o644)
    os.rename(path + ".new", path)


def on_disk(server, rel):
    """The bytes of the file a request path names under the server's htdocs."""
    with open(os.path.join(server.docs, rel.lstrip("/")), "rb") as f:
        return f.read()


def upload_temporaries(directory):
    """The upload temporaries (.polyprov-upload-*) in `directory`."""
    return sorted(n for n in os.listdir(directory) if n.startswith(".polyprov-upload"))


def process_holding(path):
    """The PID of a process that has `path` open, or None."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                    return int(pid)
        except OSError:
            continue
    return None
