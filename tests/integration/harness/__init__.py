"""Test and demo harness for mod_polyprov: a Polycom-shaped PKI, a real
apache2 started from a private ServerRoot, and real TLS clients."""
