"""Files the tests change under a running server, and read back from it."""

import os


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
