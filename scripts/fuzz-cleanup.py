#!/usr/bin/env python3
"""Removes what a scripts/fuzz.sh run left: its PostgreSQL database and its Redis keys.

    fuzz-cleanup.py POSTGRES_URL DATABASE REDIS_URL KEY_PREFIX

Only Python's standard library, speaking the two wire protocols itself, so the clean-up
needs neither psql nor redis-cli (the python3 that runs schemathesis is there whenever a
run got as far as creating anything). PostgreSQL must let the URL's user in without a
password, as it must for the service under test, whose URL has none. Exits 1, saying what
is left and how to remove it, when either part failed.
"""
import socket
import struct
import sys
from urllib.parse import unquote, urlsplit

TIMEOUT_S = 10


def drop_database(url, name):
    u = urlsplit(url)
    user = unquote(u.username or "postgres")
    with socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), TIMEOUT_S) as s:
        f = s.makefile("rb")

        def send(kind, body):
            s.sendall(kind + struct.pack("!i", len(body) + 4) + body)

        def receive_until_ready():
            """The server's messages up to ReadyForQuery; an ErrorResponse raises."""
            error = None
            while True:
                kind = f.read(1)
                if not kind:
                    raise RuntimeError("PostgreSQL closed the connection")
                (length,) = struct.unpack("!i", f.read(4))
                body = f.read(length - 4)
                if kind == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                    raise RuntimeError("PostgreSQL asks for a password (trust is assumed)")
                if kind == b"E":
                    fields = {p[:1]: p[1:].decode(errors="replace") for p in body.split(b"\0") if p}
                    error = fields.get(b"M", "unknown error")
                    if fields.get(b"V", fields.get(b"S")) in ("FATAL", "PANIC"):
                        raise RuntimeError(error)  # the connection ends: no ReadyForQuery
                if kind == b"Z":
                    if error:
                        raise RuntimeError(error)
                    return

        params = b"user\0" + user.encode() + b"\0database\0postgres\0\0"
        s.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
        receive_until_ready()
        quoted = '"' + name.replace('"', '""') + '"'
        send(b"Q", f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)".encode() + b"\0")
        receive_until_ready()
        send(b"X", b"")


def delete_keys(url, prefix):
    u = urlsplit(url)
    with socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), TIMEOUT_S) as s:
        f = s.makefile("rb")

        def command(*args):
            out = [b"*%d\r\n" % len(args)]
            for a in args:
                a = a.encode() if isinstance(a, str) else a
                out.append(b"$%d\r\n%s\r\n" % (len(a), a))
            s.sendall(b"".join(out))
            return reply()

        def reply():
            line = f.readline()
            if not line:
                raise RuntimeError("Redis closed the connection")
            kind, rest = line[:1], line[1:-2]
            if kind == b"-":
                raise RuntimeError(rest.decode(errors="replace"))
            if kind in (b"+", b":"):
                return rest
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:-2]
            if kind == b"*":
                return [reply() for _ in range(int(rest))]
            raise RuntimeError(f"unexpected Redis reply {line!r}")

        if u.password:
            command("AUTH", *([unquote(u.username)] if u.username else []), unquote(u.password))
        if u.path.strip("/"):
            command("SELECT", u.path.strip("/"))
        pattern = prefix.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?").replace("[", "\\[") + "*"
        cursor, deleted = b"0", 0
        while True:
            cursor, keys = command("SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
            if keys:
                deleted += int(command("DEL", *keys))
            if cursor == b"0":
                return deleted


def main():
    pg_url, database, redis_url, prefix = sys.argv[1:5]
    ok = True
    try:
        drop_database(pg_url, database)
    except Exception as e:  # noqa: BLE001 - any failure is reported the same way
        ok = False
        print(f"fuzz-cleanup: could not drop database {database} at {pg_url}: {e}\n"
              f"fuzz-cleanup:   drop it with: psql {pg_url}/postgres -c "
              f"'DROP DATABASE IF EXISTS {database} WITH (FORCE)'", file=sys.stderr)
    try:
        delete_keys(redis_url, prefix)
    except Exception as e:  # noqa: BLE001
        ok = False
        print(f"fuzz-cleanup: could not delete the Redis keys {prefix}* at {redis_url}: {e}\n"
              f"fuzz-cleanup:   delete them with: redis-cli -u {redis_url} --scan --pattern '{prefix}*'"
              f" | xargs -r redis-cli -u {redis_url} del", file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
