#!/usr/bin/env python3
"""Seeds a migrated Bridgekeeper database with N users, each with one linked identity, one live grant and one
live (unused, unexpired) refresh token, for the 1M-row scale case of the benchmark.

    BK_SEED_THROWAWAY=1 python3 bench/seed.py DATABASE_URL N   (bench/seed.sh migrates first, then calls this)

Rows match migrations/{sqlite,postgres}/*/up.sql and what the broker writes itself: ids are 16 random bytes in
base64url (store::new_id), refresh tokens are stored as the SHA-256 hex of a 256-bit random token, times are unix
seconds. Everything belongs to a client `seed-app` (created here, source "cli", public) so that the benchmark's own
client and its rows are untouched. Seeding adds to what is there: running it twice gives 2N (e-mail and subject
carry a per-run tag, so the unique (provider, subject) never collides).

SQLite: one transaction through Python's sqlite3 module, rows sorted by primary key for cheap index builds.
PostgreSQL: COPY ... FROM STDIN through psql, one stream per table.
"""

import base64
import hashlib
import os
import subprocess
import sys
import time

COLUMNS = {
    "users": ["id", "email", "email_verified", "name", "preferred_username", "picture", "groups_json", "disabled",
              "created_at", "updated_at"],
    "identities": ["id", "user_id", "provider", "issuer", "subject", "email", "email_verified", "claims_json",
                   "upstream_refresh_token", "created_at", "last_used_at"],
    "grants": ["id", "client_id", "user_id", "session_hash", "scope", "auth_time", "created_at", "expires_at",
               "revoked_at"],
    "refresh_tokens": ["token_hash", "grant_id", "client_id", "user_id", "scope", "created_at", "expires_at",
                       "used_at", "revoked_at"],
}
CLIENT = "seed-app"
SCOPE = "offline_access openid"


def new_id():
    return base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()


def rows(n, now, tag):
    """Yields (user, identity, grant, refresh_token) tuples."""
    for i in range(n):
        uid, iid, gid = new_id(), new_id(), new_id()
        email = f"seed-{tag}-{i}@seed.test"
        token = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=")
        token_hash = hashlib.sha256(token).hexdigest()
        created = now - (i % 86400)
        yield (
            (uid, email, True, f"Seed User {i}", f"seed-{tag}-{i}", None, "[]", False, created, created),
            (iid, uid, "seed", "https://seed.invalid", email, email, True, "{}", None, created, created),
            (gid, CLIENT, uid, None, SCOPE, created, created, now + 90 * 86400, None),
            (token_hash, gid, CLIENT, uid, SCOPE, created, now + 14 * 86400, None, None),
        )


def client_row(now):
    return (CLIENT, None, "Seed app", '["http://127.0.0.1:9/seed"]', "[]", '["openid","offline_access"]',
            '["authorization_code","refresh_token"]', False, True, "cli", False, now, now)


CLIENT_COLUMNS = ["client_id", "secret_hash", "name", "redirect_uris_json", "post_logout_redirect_uris_json",
                  "allowed_scopes_json", "grant_types_json", "skip_consent", "require_pkce", "source", "disabled",
                  "created_at", "updated_at"]


def seed_sqlite(path, n, now, tag):
    import sqlite3

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("PRAGMA cache_size = -262144")
    db.execute("BEGIN")
    db.execute(f"INSERT OR IGNORE INTO clients ({','.join(CLIENT_COLUMNS)}) VALUES ({','.join('?' * len(CLIENT_COLUMNS))})",
               client_row(now))
    # Materialise per table so each can be inserted in primary-key order.
    tables = {name: [] for name in COLUMNS}
    for u, ident, g, rt in rows(n, now, tag):
        tables["users"].append(u)
        tables["identities"].append(ident)
        tables["grants"].append(g)
        tables["refresh_tokens"].append(rt)
    for name, data in tables.items():
        data.sort(key=lambda r: r[0])
        cols = COLUMNS[name]
        db.executemany(f"INSERT INTO {name} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", data)
        data.clear()
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def copy_value(v):
    if v is None:
        return "\\N"
    if v is True:
        return "t"
    if v is False:
        return "f"
    return str(v)


def seed_postgres(url, n, now, tag):
    def psql(sql, stdin=None):
        return subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], input=stdin, check=True,
                              capture_output=True, text=True)

    vals = ",".join("NULL" if v is None else ("TRUE" if v is True else "FALSE" if v is False else
                    (str(v) if isinstance(v, int) else "'" + v.replace("'", "''") + "'")) for v in client_row(now))
    psql(f"INSERT INTO clients ({','.join(CLIENT_COLUMNS)}) VALUES ({vals}) ON CONFLICT DO NOTHING")
    tables = {name: [] for name in COLUMNS}
    for u, ident, g, rt in rows(n, now, tag):
        tables["users"].append(u)
        tables["identities"].append(ident)
        tables["grants"].append(g)
        tables["refresh_tokens"].append(rt)
    for name in ["users", "identities", "grants", "refresh_tokens"]:
        data = tables[name]
        text = "".join("\t".join(copy_value(v) for v in r) + "\n" for r in data)
        psql(f"COPY {name} ({','.join(COLUMNS[name])}) FROM STDIN", stdin=text)
        data.clear()
    # As a database in service would be: vacuumed (visibility map and hint bits set, so the measured run does not
    # pay for the bulk load's first reads, nor meet autovacuum's pass over the new rows) and checkpointed.
    psql("VACUUM (ANALYZE)")
    try:
        psql("CHECKPOINT")
    except subprocess.CalledProcessError:
        pass  # needs superuser or pg_checkpoint; the benchmark's own cluster has it


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    url, n = sys.argv[1], int(sys.argv[2])
    if os.environ.get("BK_SEED_THROWAWAY") != "1":
        print("seed: writes a public client and N fake users into DATABASE_URL and vacuums it; only for a throwaway "
              "benchmark database: set BK_SEED_THROWAWAY=1 to go on", file=sys.stderr)
        sys.exit(2)
    now = int(time.time())
    tag = base64.b32encode(os.urandom(5)).decode().lower()
    t0 = time.monotonic()
    if url.startswith("sqlite://"):
        seed_sqlite(url[len("sqlite://"):], n, now, tag)
    elif url.startswith(("postgres://", "postgresql://")):
        seed_postgres(url, n, now, tag)
    else:
        print("DATABASE_URL must start with sqlite:// or postgres://", file=sys.stderr)
        sys.exit(2)
    print(f"seeded {n} users, identities, grants and live refresh tokens in {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
