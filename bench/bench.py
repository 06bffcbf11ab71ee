#!/usr/bin/env python3
"""The load benchmark of issue 6: Bridgekeeper (release build) against the Node.js `oidc-provider` on this machine,
driven in turn by the same load generators, one table at the end (also saved as JSON under bench/results/).

Run it through `bash bench/run.sh [--postgres] [options]`, which installs the tools, builds the broker and then
calls this script with --work and --bin. Options: see --help.

Phases (each with its own broker database, because the signing algorithm is fixed when the keys are generated):
  ES256  start-up times, idle RSS, the /healthz ceiling, client_credentials, introspection, discovery, JWKS,
         refresh_token with rotation, RSS after the load
  EdDSA  client_credentials
  RS256  the authorization-code round trip (logins/s, RS256 ID tokens), RSS after the load
  scale  the ES256 database seeded with N users/identities/grants/live refresh tokens (bench/seed.sh), then
         refresh and introspection again on the broker, as a ratio to the figures of the ES256 phase
"""

import argparse
import base64
import datetime
import http.client
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
LUA = os.path.join(HERE, "wrk", "case.lua")
CLIENT_ID = "bench"
REDIRECT = "http://127.0.0.1:9/cb"  # never followed: the drivers read the code from the Location header
RESOURCE = "urn:bench:api"

# Issue 17's targets where it sets one (per backend), issue 6's for the rest; issue 15's for DPoP.
TARGETS = {
    "cc_ratio": 6.0, "cc_ceiling": 0.60, "introspect_ratio": 5.0, "static_ceiling": 0.70,
    "refresh_ratio": {"sqlite": 3.0, "postgres": 2.0}, "logins": {"sqlite": 1000.0, "postgres": 800.0},
    "dpop_ratio": 1.6, "rss_idle_mib": 20.0, "rss_load_mib": 64.0, "startup_ms": 100.0, "scale": 0.90,
}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# processes: every child runs in its own session so that it can be ended as a group; their ids are written to
# WORK/pids so that run.sh's trap can end them even if this script dies.

class Procs:
    def __init__(self, work):
        self.live = {}
        self.pidfile = os.path.join(work, "pids")

    def _record(self):
        with open(self.pidfile, "w") as f:
            f.write("".join(f"{p}\n" for p in self.live))

    def start(self, argv, log_path=None, env=None, cwd=None):
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
                             env=env, cwd=cwd, start_new_session=True)
        if log_path:
            out.close()
        self.live[p.pid] = p
        self._record()
        return p

    def run(self, argv, timeout, env=None, cwd=None):
        """Runs a bounded command to completion; returns (rc, stdout, stderr)."""
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd,
                             start_new_session=True, text=True)
        self.live[p.pid] = p
        self._record()
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(p)
            raise RuntimeError(f"{argv[0]} did not finish within {timeout} s")
        finally:
            self.live.pop(p.pid, None)
            self._record()
        return p.returncode, out, err

    def stop(self, p, grace=10):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        self.live.pop(p.pid, None)
        self._record()

    def stop_all(self):
        for p in list(self.live.values()):
            self.stop(p, grace=5)


# ---------------------------------------------------------------------------------------------------------------
# HTTP helpers (loopback only)

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(port, method, path, body=None, auth=None, timeout=10, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = auth
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    c.close()
    return r.status, data


def wait_ready(port, path, proc, t0, timeout=60):
    """Polls until `path` answers 200; returns seconds since t0 (time.monotonic() taken before the spawn)."""
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {path} answered")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                return time.monotonic() - t0
        except (ConnectionError, OSError, http.client.HTTPException):
            pass
        time.sleep(0.001)
    raise RuntimeError(f"{path} did not answer 200 within {timeout} s")


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """User + system CPU seconds of a process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_s():
    """CPU seconds the whole machine was busy (all CPUs), and stolen by the hypervisor."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class CpuMeter:
    """CPU used during one measured run: by the server under test, by the load generator, by everything else on
    the machine (other users of these 2 cores). Server CPU per request is far less sensitive to that other load
    than requests/s."""

    def __init__(self, pid, db_pids=None):
        """`db_pids`: returns the ids of the database server's processes (PostgreSQL), whose CPU is counted as
        the server's too."""
        self.pid = pid
        self.db_pids = db_pids
        self.server0 = proc_cpu_s(pid)
        self.db0 = self._db()
        self.gen0 = children_cpu_s()
        self.busy0, self.steal0 = machine_busy_s()
        self.t0 = time.monotonic()

    def _db(self):
        out = {}
        for pid in (self.db_pids() if self.db_pids else []):
            try:
                out[pid] = proc_cpu_s(pid)
            except OSError:
                pass
        return out

    def done(self, ok_requests):
        own = proc_cpu_s(self.pid) - self.server0
        db = sum(v - self.db0.get(pid, 0.0) for pid, v in self._db().items())
        server = own + db
        gen = children_cpu_s() - self.gen0
        busy, steal = machine_busy_s()
        busy -= self.busy0
        wall = time.monotonic() - self.t0
        return {"server_cpu_s": round(server, 3), "database_cpu_s": round(db, 3), "generator_cpu_s": round(gen, 3),
                "other_cpu_s": round(max(0.0, busy - server - gen), 3), "steal_s": round(steal - self.steal0, 3),
                "wall_s": round(wall, 3),
                "server_cpu_us_per_req": round(server / ok_requests * 1e6, 1) if ok_requests else None}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def basic(cid, secret):
    import base64
    import urllib.parse
    raw = f"{urllib.parse.quote(cid, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------------------------------------------------------
# the two servers

class Side:
    """One server under test (broker or peer) with its endpoints."""

    def __init__(self, name, port, proc, paths):
        self.name, self.port, self.proc, self.paths = name, port, proc, paths

    @property
    def pid(self):
        return self.proc.pid


BROKER_PATHS = {"token": "/token", "introspect": "/introspect", "discovery": "/.well-known/openid-configuration",
                "jwks": "/jwks.json", "ready": "/readyz", "ceiling": "/healthz"}
PEER_PATHS = {"token": "/token", "introspect": "/token/introspection",
              "discovery": "/.well-known/openid-configuration", "jwks": "/jwks", "ready":
              "/.well-known/openid-configuration"}


class Bench:
    def __init__(self, args):
        self.a = args
        self.work = args.work
        self.procs = Procs(args.work)
        self.secret = secrets.token_urlsafe(32)
        self.auth = basic(CLIENT_ID, self.secret)
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.providers = os.path.join(self.work, "providers")
        os.makedirs(self.providers, exist_ok=True)
        with open(os.path.join(self.providers, "dev.toml"), "w") as f:
            f.write('kind = "dev"\ndisplay_name = "Benchmark sign-in"\nenabled = true\n')
        self.pg = None
        self.results = {"cases": {}, "memory": {}, "startup": {}, "notes": [], "pools": {}}
        self.env = {k: v for k, v in os.environ.items() if k != "RUST_LOG" and not k.startswith("BRIDGEKEEPER__")}

    # -- databases ------------------------------------------------------------------------------------------
    def start_postgres(self):
        pg_bin = sorted((d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int)[-1:]
        if not pg_bin:
            raise RuntimeError("PostgreSQL server binaries not found (run.sh installs postgresql)")
        pg_bin = f"/usr/lib/postgresql/{pg_bin[0]}/bin"
        pg_dir = os.path.join("/tmp", f"bk-bench-pg.{os.getpid()}")
        os.makedirs(pg_dir, exist_ok=True)
        with open(os.path.join(self.work, "pgdir"), "w") as f:
            f.write(f"{pg_bin}\n{pg_dir}\n")
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(pg_dir, "postgres")
        port = free_port()
        subprocess.run(as_pg + [f"{pg_bin}/initdb", "-D", f"{pg_dir}/data", "-A", "trust", "-U", "postgres"],
                       check=True, stdout=subprocess.DEVNULL)
        # Durable defaults (fsync and synchronous_commit on): the broker's refresh writes are real commits.
        subprocess.run(as_pg + [f"{pg_bin}/pg_ctl", "-D", f"{pg_dir}/data", "-l", f"{pg_dir}/log", "-w", "-o",
                                f"-p {port} -k {pg_dir} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                                "-c shared_buffers=256MB", "start"], check=True, stdout=subprocess.DEVNULL)
        self.pg = (as_pg, pg_bin, pg_dir, port)
        log(f"PostgreSQL {os.path.basename(os.path.dirname(pg_bin))} on 127.0.0.1:{port}")

    def pg_pids(self):
        """The PostgreSQL cluster's processes (postmaster and its children), when the broker runs on it."""
        if not self.pg:
            return []
        try:
            with open(os.path.join(self.pg[2], "data", "postmaster.pid")) as f:
                master = int(f.readline())
        except (OSError, ValueError):
            return []
        pids = [master]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                            pids.append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        return pids

    def stop_postgres(self):
        if self.pg:
            as_pg, pg_bin, pg_dir, _ = self.pg
            subprocess.run(as_pg + [f"{pg_bin}/pg_ctl", "-D", f"{pg_dir}/data", "-m", "fast", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(pg_dir, ignore_errors=True)
            self.pg = None

    def db_url(self, name):
        if self.pg:
            port = self.pg[3]
            subprocess.run(["psql", "-q", f"postgres://postgres@127.0.0.1:{port}/postgres", "-c",
                            f"CREATE DATABASE {name}"], check=True, stdout=subprocess.DEVNULL)
            return f"postgres://postgres@127.0.0.1:{port}/{name}"
        return f"sqlite://{self.work}/{name}.db"

    # -- broker ---------------------------------------------------------------------------------------------
    def broker_config(self, phase, port, db_url, alg, at_alg=None):
        path = os.path.join(self.work, f"broker-{phase}.toml")
        with open(path, "w") as f:
            f.write(f'''# generated by bench/bench.py
issuer = "http://127.0.0.1:{port}"
bind = "127.0.0.1:{port}"
database_url = "{db_url}"
providers_dir = "{self.providers}"
templates_dir = "{os.path.join(REPO, 'templates')}"
dev_mode = true
log_level = "{self.a.log_level}"
# No sweeper during a measurement (it would run every 300 s by default; see `bridgekeeper gc`).
gc_interval_secs = 0

{f"[database]{chr(10)}pool_size = {self.a.db_pool_size}{chr(10)}" if self.a.db_pool_size else ""}
[tokens]
signing_alg = "{alg}"
{f'access_token_alg = "{at_alg}"' if at_alg else ''}

# The per-address request ceiling (default 300/s, burst 600) and the per-address budget of /authorize,
# /login/{{provider}} and /register (default 300/min, burst 100) are abuse protection: all of the benchmark's load
# comes from the one address 127.0.0.1, which would hit them. The limiters still run on every request.
[rate_limits]
requests_per_second = 100000000
request_burst = 100000000
anonymous_state_per_minute = 100000000
anonymous_state_burst = 100000000

[scopes]
openid = "Sign you in with your account"
offline_access = "Stay signed in when you are away"
api = "The benchmark's API"

[[clients]]
client_id = "{CLIENT_ID}"
client_secret = "{self.secret}"
name = "Benchmark client"
redirect_uris = ["{REDIRECT}"]
allowed_scopes = ["openid", "offline_access", "api"]
grant_types = ["authorization_code", "refresh_token", "client_credentials"]
''')
        return path

    def start_broker(self, phase, config, port):
        t0 = time.monotonic()
        p = self.procs.start([self.a.bin, "--config", config, "serve"],
                             log_path=os.path.join(self.logs, f"broker-{phase}.log"), env=self.env, cwd=self.work)
        try:
            secs = wait_ready(port, "/readyz", p, t0)
        except RuntimeError as e:
            self.procs.stop(p)
            raise RuntimeError(f"broker ({phase}): {e}; see {self.logs}/broker-{phase}.log")
        return Side("broker", port, p, BROKER_PATHS), secs

    def start_peer(self, alg, port, at_alg=None):
        t0 = time.monotonic()
        p = self.procs.start(["node", os.path.join(HERE, "peer.mjs"), "--port", str(port), "--alg", alg,
                              "--client-id", CLIENT_ID, "--client-secret", self.secret, "--redirect-uri", REDIRECT]
                             + (["--at-alg", at_alg] if at_alg else []),
                             log_path=os.path.join(self.logs, f"peer-{alg}.log"), env=self.env, cwd=HERE)
        try:
            secs = wait_ready(port, PEER_PATHS["ready"], p, t0)
        except RuntimeError as e:
            self.procs.stop(p)
            raise RuntimeError(f"peer ({alg}): {e}; see {self.logs}/peer-{alg}.log")
        return Side("peer", port, p, PEER_PATHS), secs

    def truncate_logs(self):
        for name in os.listdir(self.logs):
            try:
                os.truncate(os.path.join(self.logs, name), 0)
            except OSError:
                pass

    # -- load generators ------------------------------------------------------------------------------------
    def wait_quiet(self, label):
        """The machine is shared: before a measured run, wait (at most --quiet-wait s) until the other processes
        use less than --quiet-threshold CPU. Returns the CPU in use by others when the run starts."""
        deadline = time.monotonic() + self.a.quiet_wait
        waited = False
        while True:
            b0, _ = machine_busy_s()
            time.sleep(0.5)
            b1, _ = machine_busy_s()
            busy = (b1 - b0) / 0.5
            if busy <= self.a.quiet_threshold or time.monotonic() >= deadline:
                if waited:
                    log(f"  ({label}: machine busy with other work, waited; {busy:.2f} CPUs busy now)")
                return round(busy, 2)
            waited = True
            time.sleep(1.0)

    def wrk(self, side, spec, duration, label, measured=True):
        busy_before = self.wait_quiet(label) if measured else None
        env = dict(self.env)
        env.update({"BENCH_THREADS": str(self.a.threads)})
        env.update(spec)
        argv = ["wrk", "-t", str(self.a.threads), "-c", str(self.a.connections), "-d", f"{duration}s",
                "--timeout", "10s", "-s", LUA, f"http://127.0.0.1:{side.port}"]
        meter = CpuMeter(side.pid, self.pg_pids if side.name == "broker" else None)
        perf = None
        if measured and self.a.perf and label.startswith(self.a.perf) and side.name == "broker":
            pids = [side.pid] + (self.pg_pids() if self.a.postgres else [])
            out_path = os.path.join(self.a.out, f"perf-{label.replace(' ', '_')}-{len(os.listdir(self.a.out))}.data")
            os.makedirs(self.a.out, exist_ok=True)
            perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", out_path, "-p",
                                     ",".join(str(p) for p in pids)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            log(f"  perf record of {label} into {os.path.relpath(out_path, REPO)}")
        rc, out, err = self.procs.run(argv, timeout=duration + 60, env=env)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        line = next((l for l in out.splitlines() if l.startswith("BENCH_JSON ")), None)
        if rc != 0 or line is None:
            raise RuntimeError(f"wrk failed ({label}, {side.name}): rc={rc}\n{out}\n{err}")
        r = json.loads(line[len("BENCH_JSON "):])
        secs = r["duration_us"] / 1e6
        if r.get("pool_exhausted") and r.get("active_us"):
            # wrk reports the whole -d duration even when the pool ran out before it: the rate is over the time
            # the pool lasted (case.lua records it).
            secs = min(secs, r["active_us"] / 1e6)
        ok = r["requests"] - r["err_status"]
        errors = r["err_status"] + r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
        res = {"rps": ok / secs if secs else 0.0, "p50_ms": r["p50_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
               "requests": r["requests"], "errors": errors, "seconds": secs, "raw": r, "cpu": meter.done(ok),
               "busy_before": busy_before}
        extra = f", {res['cpu']['server_cpu_us_per_req']} µs CPU/req, others {res['cpu']['other_cpu_s']:.1f} CPU-s"
        if spec.get("BENCH_POOL"):
            extra += f", pool used {r['pool_used']}" + (" (EXHAUSTED, run ended early)" if r["pool_exhausted"] else "")
        log(f"  {label:<28} {side.name:<6} {res['rps']:>9.0f} req/s  p50 {res['p50_ms']:.2f} ms  "
            f"p99 {res['p99_ms']:.2f} ms  errors {errors}{extra}")
        return res

    def driver(self, side, args, timeout):
        argv = ["node", os.path.join(HERE, "driver.mjs"), "--side", side.name, "--base",
                f"http://127.0.0.1:{side.port}", "--client-id", CLIENT_ID, "--client-secret", self.secret,
                "--redirect-uri", REDIRECT] + args
        rc, out, err = self.procs.run(argv, timeout=timeout, env=self.env, cwd=HERE)
        if rc != 0:
            raise RuntimeError(f"driver failed ({side.name}): {err.strip()[-2000:]}")
        return json.loads(out.strip().splitlines()[-1])

    def mint(self, side, count, tag):
        """Pre-issues `count` unused refresh tokens (+1 for the sanity check) through the code flow; returns
        (pool file, check token, access token file)."""
        pool = os.path.join(self.work, f"pool-{side.name}-{tag}.txt")
        at = os.path.join(self.work, f"at-{side.name}-{tag}.txt")
        t0 = time.monotonic()
        self.driver(side, ["--mode", "mint", "--count", str(count + 1), "--out", pool, "--at-out", at,
                           "--concurrency", str(self.a.login_concurrency), "--user-prefix", f"pool-{tag}"],
                    timeout=1800)
        with open(pool) as f:
            tokens = [l for l in f.read().split("\n") if l]
        check = tokens.pop()
        with open(pool, "w") as f:
            f.write("\n".join(tokens) + "\n")
        secs = time.monotonic() - t0
        log(f"  pre-issued {len(tokens)} refresh tokens at {side.name} in {secs:.1f} s ({len(tokens) / secs:.0f}/s)")
        self.results["pools"].setdefault(side.name, []).append({"tag": tag, "tokens": len(tokens),
                                                                 "seconds": round(secs, 1)})
        with open(at) as f:
            return pool, check, f.read().strip()

    # -- case specs -----------------------------------------------------------------------------------------
    def spec(self, side, case, **kw):
        """wrk environment for one case at one side."""
        peer = side.name == "peer"
        if case == "ceiling":
            return {"BENCH_METHOD": "GET", "BENCH_PATH": side.paths["ceiling"]}
        if case in ("discovery", "jwks"):
            return {"BENCH_METHOD": "GET", "BENCH_PATH": side.paths[case]}
        if case == "cc":
            body = "grant_type=client_credentials&scope=api" + (f"&resource={RESOURCE}" if peer else "")
            return {"BENCH_METHOD": "POST", "BENCH_PATH": side.paths["token"], "BENCH_AUTH": self.auth,
                    "BENCH_BODY": body}
        if case == "introspect":
            return {"BENCH_METHOD": "POST", "BENCH_PATH": side.paths["introspect"], "BENCH_AUTH": self.auth,
                    "BENCH_BODY": f"token={kw['token']}"}
        if case == "refresh":
            prefix = "grant_type=refresh_token&" + (f"resource={RESOURCE}&" if peer else "") + "refresh_token="
            return {"BENCH_METHOD": "POST", "BENCH_PATH": side.paths["token"], "BENCH_AUTH": self.auth,
                    "BENCH_POOL": kw["pool"], "BENCH_POOL_PREFIX": prefix}
        raise ValueError(case)

    def check(self, side, spec, expect, body_override=None):
        """One request of the case, verified, before the load."""
        body = body_override if body_override is not None else spec.get("BENCH_BODY")
        status, data = call(side.port, spec["BENCH_METHOD"], spec["BENCH_PATH"], body=body,
                            auth=spec.get("BENCH_AUTH"))
        if status != 200 or expect not in data:
            raise RuntimeError(f"sanity check failed at {side.name} {spec['BENCH_PATH']}: {status} {data[:300]}")

    def dpop_proofs(self, side, count, alg="ES256"):
        """Issue 15: `count` DPoP proofs (RFC 9449 §4.2) of one `alg` key (ES256, EdDSA or PS256) for POST /token at
        the broker, each with its own jti and a fresh iat: made right before the run that spends them (single
        use, iat window 60 s)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        def b64(b):
            return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

        if alg == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
            nums = key.public_key().public_numbers()
            jwk = {"kty": "EC", "crv": "P-256", "x": b64(nums.x.to_bytes(32, "big")),
                   "y": b64(nums.y.to_bytes(32, "big"))}

            def sign(msg):
                r, s_ = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
                return r.to_bytes(32, "big") + s_.to_bytes(32, "big")
        elif alg == "EdDSA":
            key = ed25519.Ed25519PrivateKey.generate()
            from cryptography.hazmat.primitives import serialization
            raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
            sign = key.sign
        elif alg == "PS256":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            nums = key.public_key().public_numbers()
            jwk = {"kty": "RSA", "n": b64(nums.n.to_bytes(256, "big")), "e": b64(nums.e.to_bytes(3, "big"))}
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

            def sign(msg):
                return key.sign(msg, pss, hashes.SHA256())
        else:
            raise ValueError(f"no DPoP proofs of {alg} in the benchmark")
        head = b64(json.dumps({"typ": "dpop+jwt", "alg": alg, "jwk": jwk}, separators=(",", ":")).encode())
        htu = f"http://127.0.0.1:{side.port}{side.paths['token']}"
        path = os.path.join(self.work, f"dpop-{side.name}.txt")
        t0 = time.monotonic()
        with open(path, "w") as f:
            for _ in range(count):
                claims = {"jti": secrets.token_urlsafe(16), "htm": "POST", "htu": htu, "iat": int(time.time())}
                body = b64(json.dumps(claims, separators=(",", ":")).encode())
                f.write(f"{head}.{body}.{b64(sign(f'{head}.{body}'.encode()))}\n")
        log(f"  made {count} {alg} DPoP proofs in {time.monotonic() - t0:.1f} s")
        return path

    def dpop_case(self, broker, duration):
        """Issue 15: client_credentials with a DPoP proof (a DPoP-bound access token: proof verified, jti stored)
        against the same request without one, interleaved on the broker; the ratio is the cost of the binding.
        One case per proof algorithm of --dpop-algs (the first one is `cc_dpop`, the others `cc_dpop_<alg>`)."""
        algs = [a for a in self.a.dpop_algs.split(",") if a]
        runs = {"broker_unbound": [], **{alg: [] for alg in algs}}
        plain = self.spec(broker, "cc")
        size = self.a.pool_broker
        for _ in range(self.a.runs):
            unbound = self.wrk(broker, plain, duration, "client_credentials unbound")
            runs["broker_unbound"].append(unbound)
            # Enough proofs for the run even at the unbound rate (a bound token is never cheaper), so that the
            # pool does not end the run early.
            size = max(size, int(unbound["rps"] * duration * 1.2))
            for alg in algs:
                # Python signs RSA-PSS at ≈ 3,000/s: a PS256 pool is capped (a pool that runs out ends the run's
                # measured time there, see case.lua), the others are made for the whole run.
                pool = self.dpop_proofs(broker, (min(size, 60_000) if alg == "PS256" else size) + 1, alg)
                with open(pool) as f:
                    first = f.readline().strip()
                status, data = call(broker.port, "POST", plain["BENCH_PATH"], body=plain["BENCH_BODY"],
                                    auth=plain["BENCH_AUTH"], headers={"DPoP": first})
                if status != 200 or '"DPoP"' not in data:
                    raise RuntimeError(f"DPoP sanity check failed ({alg}): {status} {data[:300]}")
                spec = dict(plain, BENCH_POOL=pool, BENCH_POOL_HEADER="DPoP")
                runs[alg].append(self.wrk(broker, spec, duration, f"client_credentials DPoP {alg}"))
        for i, alg in enumerate(algs):
            key = "cc_dpop" if i == 0 else f"cc_dpop_{alg.lower()}"
            self.results["cases"][key] = {"label": f"client_credentials DPoP-bound ({alg} proofs)", "tool": "wrk",
                                          "runs": {"broker": runs[alg]}, "loadavg": loadavg(), "alg": alg}
        self.results["cases"]["cc_unbound"] = {"label": "client_credentials unbound (same runs)", "tool": "wrk",
                                               "runs": {"broker": runs["broker_unbound"]}, "loadavg": loadavg()}

    def case(self, key, sides, specs, expect, duration, label, warmup=True):
        runs = {s.name: [] for s in sides}
        for s in sides:
            self.check(s, specs[s.name], expect)
            if warmup and self.a.warmup > 0:
                self.wrk(s, specs[s.name], self.a.warmup, label + " (warm-up)", measured=False)
        for _ in range(self.a.runs):
            for s in sides:
                runs[s.name].append(self.wrk(s, specs[s.name], duration, label))
        self.results["cases"][key] = {"label": label, "tool": "wrk", "runs": runs, "loadavg": loadavg()}
        return runs

    def refresh_case(self, key, sides, duration, label, tag, first_pool=None):
        """Refresh with rotation: every request spends a fresh pre-issued token. Pools are issued per run; the
        first run's size comes from --pool-*, later runs from the rate just measured (x1.6)."""
        runs = {s.name: [] for s in sides}
        sizes = {s.name: (first_pool or {}).get(s.name) or (self.a.pool_broker if s.name == "broker"
                                                             else self.a.pool_peer) for s in sides}
        for r in range(self.a.runs):
            for s in sides:
                pool, check, _ = self.mint(s, sizes[s.name], f"{tag}-{r}")
                spec = self.spec(s, "refresh", pool=pool)
                self.check(s, spec, "refresh_token",
                           body_override=spec["BENCH_POOL_PREFIX"] + check)
                res = self.wrk(s, spec, duration, label)
                res["pool"] = sizes[s.name]
                runs[s.name].append(res)
                sizes[s.name] = max(sizes[s.name], int(res["rps"] * duration * 1.6) + 4 * self.a.connections)
        self.results["cases"][key] = {"label": label, "tool": "wrk", "runs": runs, "loadavg": loadavg()}
        return runs

    def login_case(self, key, sides, duration, label):
        runs = {s.name: [] for s in sides}
        for _ in range(self.a.runs):
            for s in sides:
                busy_before = self.wait_quiet(label)
                meter = CpuMeter(s.pid, self.pg_pids if s.name == "broker" else None)
                r = self.driver(s, ["--mode", "run", "--duration", str(duration), "--concurrency",
                                    str(self.a.login_concurrency), "--user-prefix", "login"],
                                timeout=duration + 600)
                res = {"rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "requests": r["logins"],
                       "errors": r["errors"], "seconds": r["seconds"], "raw": r, "cpu": meter.done(r["logins"]),
                       "busy_before": busy_before}
                log(f"  {label:<28} {s.name:<6} {res['rps']:>9.0f} logins/s  p50 {res['p50_ms']:.2f} ms  "
                    f"p99 {res['p99_ms']:.2f} ms  errors {r['errors']}, {res['cpu']['server_cpu_us_per_req']} µs CPU/login "
                    "(includes the sign-ins of the virtual users)"
                    + (f" ({r['first_error']})" if r["errors"] else ""))
                runs[s.name].append(res)
        self.results["cases"][key] = {"label": label, "tool": "driver.mjs", "runs": runs, "loadavg": loadavg()}
        return runs

    def memory(self, phase, when, sides):
        for s in sides:
            kib = rss_kib(s.pid)
            self.results["memory"].setdefault(phase, {}).setdefault(s.name, {})[when] = kib
            log(f"  RSS {s.name} {when}: {kib / 1024:.1f} MiB")

    # -- phases ---------------------------------------------------------------------------------------------
    def prepared_broker(self, phase, alg, at_alg=None):
        """A broker on a migrated database with keys of `alg` (first start migrates, then it is restarted)."""
        port = free_port()
        url = self.db_url("bk_" + "".join(ch for ch in phase.lower() if ch.isalnum()))
        config = self.broker_config(phase, port, url, alg, at_alg)
        b, secs = self.start_broker(phase, config, port)
        self.results["startup"].setdefault(phase, {})["broker_first_start_s"] = secs
        self.procs.stop(b.proc)
        return port, url, config

    def timed_starts(self, phase, start, n):
        times = []
        for _ in range(n):
            side, secs = start()
            times.append(secs)
            self.procs.stop(side.proc)
            time.sleep(0.3)
        return times

    def phase_es256(self):
        a = self.a
        log("phase ES256: broker and peer with ES256 keys")
        port, url, config = self.prepared_broker("ES256", "ES256")
        self.es256 = (port, url, config)
        bt = self.timed_starts("ES256", lambda: self.start_broker("ES256", config, port), a.startups)
        peer_port = free_port()
        pt = self.timed_starts("ES256", lambda: self.start_peer("ES256", peer_port), a.startups)
        self.results["startup"]["ES256"].update({"broker_s": bt, "peer_s": pt})
        log(f"  start-up to ready: broker {[round(t * 1000, 1) for t in bt]} ms, "
            f"peer {[round(t * 1000, 1) for t in pt]} ms")
        broker, _ = self.start_broker("ES256", config, port)
        peer, _ = self.start_peer("ES256", peer_port)
        sides = [broker, peer]
        self.broker_es = broker
        time.sleep(1.0)
        self.memory("ES256", "idle", sides)

        d = a.duration
        self.case("ceiling", [broker], {"broker": self.spec(broker, "ceiling")}, '"ok"', d,
                  "ceiling GET /healthz")
        self.case("cc_es256", sides, {s.name: self.spec(s, "cc") for s in sides}, "access_token", d,
                  "client_credentials ES256")
        self.truncate_logs()
        if not a.skip_dpop:
            self.dpop_case(broker, d)
            self.truncate_logs()
        if a.skip_static:
            self.refresh_or_not(sides, d)
            return
        # introspection: one live access token of a user, from the code flow (see driver.mjs / peer.mjs)
        tokens = {}
        for s in sides:
            _, _, at = self.mint(s, 1, "introspect")
            tokens[s.name] = at
        self.introspect_tokens = tokens
        self.case("introspect", sides, {s.name: self.spec(s, "introspect", token=tokens[s.name]) for s in sides},
                  '"active":true', d, "introspection (live AT)")
        self.truncate_logs()
        self.case("discovery", sides, {s.name: self.spec(s, "discovery") for s in sides}, '"issuer"', d,
                  "discovery")
        self.case("jwks", sides, {s.name: self.spec(s, "jwks") for s in sides}, '"keys"', d, "JWKS")
        self.truncate_logs()
        self.refresh_or_not(sides, d)

    def refresh_or_not(self, sides, d):
        broker, peer = sides
        if not self.a.skip_refresh:
            self.refresh_case("refresh", sides, d, "refresh_token (rotation)", "refresh")
            self.truncate_logs()
        self.memory("ES256", "after_load", sides)
        self.procs.stop(peer.proc)
        self.procs.stop(broker.proc)

    def phase_eddsa(self):
        log("phase EdDSA: client_credentials")
        port, url, config = self.prepared_broker("EdDSA", "EdDSA")
        broker, _ = self.start_broker("EdDSA", config, port)
        peer, _ = self.start_peer("EdDSA", free_port())
        sides = [broker, peer]
        self.case("cc_eddsa", sides, {s.name: self.spec(s, "cc") for s in sides}, "access_token", self.a.duration,
                  "client_credentials EdDSA")
        self.truncate_logs()
        self.procs.stop(peer.proc)
        self.procs.stop(broker.proc)

    def phase_rs256(self):
        log("phase RS256: authorization-code round trip (existing session, remembered consent)")
        port, url, config = self.prepared_broker("RS256", "RS256")
        broker, _ = self.start_broker("RS256", config, port)
        peer, _ = self.start_peer("RS256", free_port())
        sides = [broker, peer]
        time.sleep(1.0)
        self.memory("RS256", "idle", sides)
        self.login_case("login", sides, self.a.duration, "code round trip RS256")
        self.truncate_logs()
        self.memory("RS256", "after_load", sides)
        self.procs.stop(peer.proc)
        self.procs.stop(broker.proc)

    def phase_rs256_es256_at(self):
        log("phase RS256+ES256: the same round trip with RS256 ID tokens and ES256 access tokens "
            "(broker tokens.access_token_alg; peer: the resource server's JWT alg)")
        port, url, config = self.prepared_broker("RS256-ES256AT", "RS256", "ES256")
        broker, _ = self.start_broker("RS256-ES256AT", config, port)
        peer, _ = self.start_peer("RS256", free_port(), "ES256")
        sides = [broker, peer]
        self.login_case("login_es256at", sides, self.a.duration, "code round trip RS256 ID+ES256 AT")
        self.truncate_logs()
        self.memory("RS256-ES256AT", "after_load", sides)
        self.procs.stop(peer.proc)
        self.procs.stop(broker.proc)

    def phase_scale(self):
        n = self.a.scale
        port, url, config = self.es256
        log(f"phase scale: seeding {n} users, identities, grants and live refresh tokens")
        t0 = time.monotonic()
        env = dict(self.env)
        env["BK_BIN"] = self.a.bin
        env["BK_SEED_THROWAWAY"] = "1"  # the benchmark's own database, made for this run
        rc, out, err = self.procs.run(["bash", os.path.join(HERE, "seed.sh"), url, str(n)], timeout=3600, env=env)
        if rc != 0:
            raise RuntimeError(f"seed.sh failed: {err[-2000:]}")
        seed_secs = time.monotonic() - t0
        log(f"  {out.strip()} (seed.sh total {seed_secs:.1f} s)")
        self.results["scale"] = {"rows": n, "seed_seconds": round(seed_secs, 1)}
        broker, secs = self.start_broker("ES256-scale", config, port)
        self.results["startup"]["scale_broker_s"] = secs
        log(f"  broker start-up to ready on the seeded database: {secs * 1000:.1f} ms")
        sides = [broker]
        d = self.a.duration
        _, _, at = self.mint(broker, 1, "scale-introspect")
        self.case("scale_introspect", sides, {"broker": self.spec(broker, "introspect", token=at)},
                  '"active":true', d, f"introspection @{n} rows")
        self.truncate_logs()
        base = best(self.results["cases"]["refresh"]["runs"]["broker"])
        first = {"broker": int(base["rps"] * d * 1.6) + 4 * self.a.connections}
        self.refresh_case("scale_refresh", sides, d, f"refresh_token @{n} rows", "scale-refresh", first_pool=first)
        self.truncate_logs()
        self.procs.stop(broker.proc)

    def run(self):
        a = self.a
        self.results["meta"] = meta(a)
        log(f"work dir {self.work}; load average {loadavg()}")
        if a.postgres:
            self.start_postgres()
        try:
            self.phase_es256()
            if not a.skip_eddsa:
                self.phase_eddsa()
            if not a.skip_login:
                self.phase_rs256()
                if a.access_token_alg_case:
                    self.phase_rs256_es256_at()
            if a.scale > 0:
                self.phase_scale()
        finally:
            self.procs.stop_all()
            self.stop_postgres()
        self.results["meta"]["loadavg_end"] = loadavg()
        self.results["meta"]["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
        return self.results


# ---------------------------------------------------------------------------------------------------------------
# report

def best(runs):
    """The run with the highest throughput (the machine is shared: the best run is the least disturbed one)."""
    return max(runs, key=lambda r: r["rps"]) if runs else None


def meta(a):
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    with open(os.path.join(HERE, "node_modules", "oidc-provider", "package.json")) as f:
        op_version = json.load(f)["version"]
    return {
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "backend": "postgres" if a.postgres else "sqlite",
        "commit": cmd(["git", "rev-parse", "--short", "HEAD"]),
        "dirty": bool(cmd(["git", "status", "--porcelain", "--untracked-files=no"])),
        "cpus": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "node": cmd(["node", "--version"]), "oidc_provider": op_version,
        "wrk": cmd(["sh", "-c", "wrk --version 2>&1 | head -n 1"]).split(" [")[0],
        "duration_s": a.duration, "runs": a.runs, "warmup_s": a.warmup, "connections": a.connections,
        "threads": a.threads, "login_concurrency": a.login_concurrency, "log_level": a.log_level,
        "quiet_wait_s": a.quiet_wait, "quiet_threshold": a.quiet_threshold,
        "loadavg_start": loadavg(),
    }


def cpu_per_req(runs):
    """Mean server CPU µs per request over the runs (None when not measured)."""
    v = [r["cpu"]["server_cpu_us_per_req"] for r in runs or [] if r.get("cpu") and r["cpu"]["server_cpu_us_per_req"]]
    return sum(v) / len(v) if v else None


def others_cpu(runs):
    """CPU-seconds per second used by other processes during the runs (0 = quiet machine, 2 = both cores)."""
    v = [r["cpu"]["other_cpu_s"] / r["cpu"]["wall_s"] for r in runs or [] if r.get("cpu") and r["cpu"]["wall_s"]]
    return max(v) if v else None


def fmt_rps(x):
    return "-" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:,.1f}")


def fmt_ms(x):
    return "-" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.1f}")


def build_report(res):
    cases = res["cases"]
    t = TARGETS
    ceiling = best(cases["ceiling"]["runs"]["broker"])["rps"] if "ceiling" in cases else None
    ceiling_cpu = cpu_per_req(cases["ceiling"]["runs"]["broker"]) if "ceiling" in cases else None
    rows, verdicts = [], []

    def row(key, target_text=None, judge=None):
        if key not in cases:
            return
        c = cases[key]
        b = best(c["runs"].get("broker", []))
        p = best(c["runs"].get("peer", []))
        ratio = b["rps"] / p["rps"] if b and p and p["rps"] else None
        frac = b["rps"] / ceiling if b and ceiling and key != "ceiling" else None
        ok = judge(b, p, ratio, frac) if judge else None
        bc, pc = cpu_per_req(c["runs"].get("broker")), cpu_per_req(c["runs"].get("peer"))
        rows.append({
            "broker_cpu_us": bc, "peer_cpu_us": pc,
            "cost_ratio": pc / bc if bc and pc else None,
            "of_ceiling_by_cpu": ceiling_cpu / bc if bc and ceiling_cpu and key != "ceiling" else None,
            "others_cpu_broker": others_cpu(c["runs"].get("broker")), "others_cpu_peer": others_cpu(c["runs"].get("peer")),
            "case": c["label"], "key": key, "tool": c["tool"],
            "broker_rps": b["rps"] if b else None, "broker_p50_ms": b["p50_ms"] if b else None,
            "broker_p99_ms": b["p99_ms"] if b else None,
            "peer_rps": p["rps"] if p else None, "peer_p50_ms": p["p50_ms"] if p else None,
            "peer_p99_ms": p["p99_ms"] if p else None,
            "ratio": ratio, "of_ceiling": frac, "target": target_text, "met": ok,
            "errors": {s: sum(r["errors"] for r in runs) for s, runs in c["runs"].items()},
        })
        if target_text:
            got = []
            if "peer" in target_text and ratio is not None:
                got.append(f"{ratio:.2f}× peer")
            if "ceiling" in target_text and frac is not None:
                got.append(f"{frac * 100:.0f}% of ceiling")
            if "logins" in target_text and b is not None:
                got.append(f"{b['rps']:,.0f} logins/s")
            verdicts.append((c["label"], target_text, ok, ", ".join(got)))

    sqlite = res["meta"]["backend"] == "sqlite"
    row("ceiling")
    row("cc_es256", "≥6× peer, ≥60% ceiling",
        lambda b, p, r, f: r is not None and f is not None and r >= t["cc_ratio"] and f >= t["cc_ceiling"])
    row("cc_eddsa", "≥6× peer, ≥60% ceiling",
        lambda b, p, r, f: r is not None and f is not None and r >= t["cc_ratio"] and f >= t["cc_ceiling"])
    backend = res["meta"]["backend"]
    refresh_ratio, logins = t["refresh_ratio"][backend], t["logins"][backend]
    if sqlite:
        row("refresh", f"≥{refresh_ratio:.0f}× peer", lambda b, p, r, f: r is not None and r >= refresh_ratio)
    else:
        row("refresh", f"≥{refresh_ratio:.0f}× peer, p99 ≤ peer's",
            lambda b, p, r, f: r is not None and r >= refresh_ratio and b["p99_ms"] <= p["p99_ms"])
    dpop_keys = [k for k in cases if k == "cc_dpop" or k.startswith("cc_dpop_")]
    for key in dpop_keys if "cc_unbound" in cases else []:
        d_runs, u_runs = cases[key]["runs"]["broker"], cases["cc_unbound"]["runs"]["broker"]
        dr, ur = best(d_runs)["rps"], best(u_runs)["rps"]
        dc, uc = cpu_per_req(d_runs), cpu_per_req(u_runs)
        ratio = ur / dr if dr else None
        by_cpu = dc / uc if dc and uc else None
        alg = cases[key].get("alg", "ES256")
        verdicts.append((f"client_credentials DPoP-bound ({alg} proofs) vs unbound", "≤1.6× slower",
                         ratio is not None and ratio <= t["dpop_ratio"],
                         f"{ratio:.2f}× by req/s ({dr:,.0f} vs {ur:,.0f})"
                         + (f", {by_cpu:.2f}× by CPU/request ({dc} vs {uc} µs)" if by_cpu else "")))
    for key in dpop_keys:
        row(key)
    row("cc_unbound")
    row("introspect", "≥5× peer", lambda b, p, r, f: r is not None and r >= t["introspect_ratio"])
    row("discovery", "≥70% ceiling", lambda b, p, r, f: f is not None and f >= t["static_ceiling"])
    row("jwks", "≥70% ceiling", lambda b, p, r, f: f is not None and f >= t["static_ceiling"])
    row("login", f"≥{logins:,.0f} logins/s (issue 17 sets it for the next row)",
        lambda b, p, r, f: b is not None and b["rps"] >= logins)
    row("login_es256at", f"≥{logins:,.0f} logins/s", lambda b, p, r, f: b is not None and b["rps"] >= logins)
    scale = []
    for key, base_key in (("scale_refresh", "refresh"), ("scale_introspect", "introspect")):
        if key in cases and base_key in cases:
            big = best(cases[key]["runs"]["broker"])
            small = best(cases[base_key]["runs"]["broker"])
            ratio = big["rps"] / small["rps"] if small["rps"] else None
            ok = ratio is not None and ratio >= t["scale"]
            bc, sc = cpu_per_req(cases[key]["runs"]["broker"]), cpu_per_req(cases[base_key]["runs"]["broker"])
            scale.append({"case": cases[key]["label"], "rps": big["rps"], "p50_ms": big["p50_ms"],
                          "p99_ms": big["p99_ms"], "base_rps": small["rps"], "ratio": ratio, "met": ok,
                          "cpu_us": bc, "base_cpu_us": sc, "ratio_by_cpu": sc / bc if bc and sc else None})
            verdicts.append((cases[key]["label"], f"≥{t['scale'] * 100:.0f}% of the base figure", ok,
                             f"{ratio * 100:.0f}% (by CPU per request {sc / bc * 100:.0f}%)" if bc and sc
                             else f"{ratio * 100:.0f}%"))
    mem = res["memory"]
    mem_rows = []
    for phase, sides in mem.items():
        for side, v in sides.items():
            mem_rows.append({"phase": phase, "side": side, "idle_mib": v.get("idle", 0) / 1024 if "idle" in v else None,
                             "after_load_mib": v["after_load"] / 1024 if "after_load" in v else None})
    b_idle = max((r["idle_mib"] for r in mem_rows if r["side"] == "broker" and r["idle_mib"] is not None), default=None)
    b_load = max((r["after_load_mib"] for r in mem_rows if r["side"] == "broker" and r["after_load_mib"] is not None),
                 default=None)
    if b_idle is not None:
        verdicts.append(("broker idle RSS", "≤20 MiB", b_idle <= t["rss_idle_mib"], f"{b_idle:.1f} MiB"))
    if b_load is not None:
        verdicts.append(("broker RSS after load", "≤64 MiB", b_load <= t["rss_load_mib"], f"{b_load:.1f} MiB"))
    st = res["startup"].get("ES256", {})
    startup = None
    if st.get("broker_s"):
        bs = sorted(st["broker_s"])
        ps = sorted(st.get("peer_s") or [0])
        startup = {"broker_median_ms": bs[len(bs) // 2] * 1000, "broker_all_ms": [x * 1000 for x in st["broker_s"]],
                   "peer_median_ms": ps[len(ps) // 2] * 1000, "peer_all_ms": [x * 1000 for x in st.get("peer_s", [])]}
        verdicts.append(("broker start-up to /readyz", "≤100 ms", startup["broker_median_ms"] <= t["startup_ms"],
                         f"median {startup['broker_median_ms']:.1f} ms, worst {max(startup['broker_all_ms']):.1f} ms"))
    return {"rows": rows, "scale": scale, "memory": mem_rows, "startup": startup, "verdicts": verdicts,
            "ceiling_rps": ceiling}


def render(res, rep):
    m = res["meta"]
    out = []
    w = out.append
    w("")
    w(f"Bridgekeeper vs oidc-provider {m['oidc_provider']} (Node {m['node']}) — backend {m['backend']}, commit "
      f"{m['commit']}{' (dirty tree)' if m['dirty'] else ''}, {m['cpus']} CPUs ({m['cpu']})")
    w(f"wrk: {m['threads']} thread(s), {m['connections']} connections, {m['duration_s']} s per run, {m['runs']} runs "
      f"per side (best shown), {m['warmup_s']} s warm-up; 127.0.0.1 only; broker log_level={m['log_level']}; "
      f"load average {m['loadavg_start']} at start, {m.get('loadavg_end', '?')} at end")
    starts = [r.get("busy_before") for c in res["cases"].values() for runs in c["runs"].values() for r in runs
              if r.get("busy_before") is not None]
    if starts:
        w(f"before each measured run the benchmark waited up to {m.get('quiet_wait_s')} s for other processes to use "
          f"≤{m.get('quiet_threshold')} CPUs; CPUs busy with other work at the start of the runs: median "
          f"{sorted(starts)[len(starts) // 2]:.2f}, worst {max(starts):.2f}")
    w("")
    hdr = (f"{'case':<32}{'broker req/s':>13}{'p50 ms':>8}{'p99 ms':>8} |{'peer req/s':>11}{'p50 ms':>8}"
           f"{'p99 ms':>8} |{'broker/peer':>12}{'of ceiling':>11} | target")
    w(hdr)
    w("-" * len(hdr) + "----------------------------")
    for r in rep["rows"]:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        frac = "-" if r["of_ceiling"] is None else f"{r['of_ceiling'] * 100:.0f}%"
        tgt = "" if not r["target"] else f"{r['target']}: {'MET' if r['met'] else 'missed'}"
        errs = ", ".join(f"{s} {n} errors" for s, n in r["errors"].items() if n)
        name = r["case"] + (" *" if r["tool"] != "wrk" else "")
        w(f"{name:<32}{fmt_rps(r['broker_rps']):>13}{fmt_ms(r['broker_p50_ms']):>8}{fmt_ms(r['broker_p99_ms']):>8} |"
          f"{fmt_rps(r['peer_rps']):>11}{fmt_ms(r['peer_p50_ms']):>8}{fmt_ms(r['peer_p99_ms']):>8} |{ratio:>12}"
          f"{frac:>11} | {tgt}" + (f"  [{errs}]" if errs else ""))
    for s in rep["scale"]:
        w(f"{s['case']:<32}{fmt_rps(s['rps']):>13}{fmt_ms(s['p50_ms']):>8}{fmt_ms(s['p99_ms']):>8} |"
          f"{'':>11}{'':>8}{'':>8} |{'':>12}{'':>11} | {s['ratio'] * 100:.0f}% of {fmt_rps(s['base_rps'])} "
          f"(≥{TARGETS['scale'] * 100:.0f}%: {'MET' if s['met'] else 'missed'})")
    w("")
    w("server CPU per request (µs; mean of the runs; much less disturbed by other load on the machine than req/s"
      + ("; broker figures include the PostgreSQL server's processes" if m["backend"] == "postgres" else "") + "):")
    hdr2 = (f"{'case':<32}{'broker µs':>10}{'peer µs':>10}{'peer/broker':>13}{'ceiling/case':>14}"
            f"{'others CPU b/p':>18}")
    w(hdr2)
    w("-" * len(hdr2))
    f1 = lambda x: "-" if x is None else f"{x:,.0f}"  # noqa: E731
    for r in rep["rows"]:
        cr = "-" if r["cost_ratio"] is None else f"{r['cost_ratio']:.2f}×"
        oc = "-" if r["of_ceiling_by_cpu"] is None else f"{r['of_ceiling_by_cpu'] * 100:.0f}%"
        ob = "-" if r["others_cpu_broker"] is None else f"{r['others_cpu_broker']:.2f}"
        op = "-" if r["others_cpu_peer"] is None else f"{r['others_cpu_peer']:.2f}"
        w(f"{r['case']:<32}{f1(r['broker_cpu_us']):>10}{f1(r['peer_cpu_us']):>10}{cr:>13}{oc:>14}{ob + ' / ' + op:>18}")
    for s in rep["scale"]:
        rc = "-" if s["ratio_by_cpu"] is None else f"{s['ratio_by_cpu'] * 100:.0f}% of base by CPU"
        w(f"{s['case']:<32}{f1(s['cpu_us']):>10}{'':>10}{'':>13}{'':>14}   {rc}")
    w("  ('ceiling/case' = /healthz CPU per request / the case's; 'others CPU' = CPU-seconds per second used by "
      "other processes on the machine during the runs, worst run, broker / peer: 0 = quiet, 2 = both cores)")
    w("")
    if rep["startup"]:
        st = rep["startup"]
        w(f"start-up to ready (migrated database, median of {len(st['broker_all_ms'])}): broker "
          f"{st['broker_median_ms']:.1f} ms to /readyz {[round(x, 1) for x in st['broker_all_ms']]}, peer "
          f"{st['peer_median_ms']:.1f} ms to discovery {[round(x, 1) for x in st['peer_all_ms']]}")
    for r in rep["memory"]:
        idle = "-" if r["idle_mib"] is None else f"{r['idle_mib']:.1f} MiB"
        after = "-" if r["after_load_mib"] is None else f"{r['after_load_mib']:.1f} MiB"
        w(f"RSS {r['phase']:<6} {r['side']:<6} idle {idle:>10}   after the load {after:>10}")
    w("")
    w("targets (issues 6, 15 and 17):")
    for label, target, ok, got in rep["verdicts"]:
        w(f"  {'MET   ' if ok else 'MISSED'}  {label}: {target} — measured {got}")
    w("")
    w("notes:")
    for n in notes(res):
        w(f"  - {n}")
    return "\n".join(out)


def notes(res):
    m = res["meta"]
    n = [
        "peer = oidc-provider with its default in-memory adapter (MemoryAdapter; its 1,000-entry LRU store swapped "
        "for an unbounded Map so that pre-issued tokens are not evicted): it persists nothing, the broker writes "
        f"every token to {m['backend']}.",
        "same client (client_secret_basic), same grants, JWT access tokens (typ at+jwt) with the same algorithm on "
        "both sides (peer: RFC 8707 resource indicator, accessTokenFormat 'jwt'); refresh tokens rotate on both.",
        "introspection: the broker introspects its JWT access token of a user (signature, deny-list, grant and "
        "user checks); oidc-provider does not store JWT access tokens and cannot introspect them, so the peer "
        "introspects its opaque (stored) access token of a user.",
        "oidc-provider runs in one Node.js process, so it uses one core; the broker uses both (2 actix workers + "
        "the blocking pool for the database). Where the other core is busy with other work on this shared "
        "machine, the req/s ratio moves; the server-CPU-per-request table does not.",
        "rate_limits.requests_per_second / request_burst and anonymous_state_per_minute / _burst raised for the "
        "benchmark (all load comes from 127.0.0.1); the limiters still run on every request.",
        "ceiling = GET /healthz of the same release binary (trivial JSON through the same middleware); 'of "
        "ceiling' = broker req/s / ceiling req/s.",
        "* code round trip = bench/driver.mjs (Node, keep-alive, "
        f"{m['login_concurrency']} virtual users each with a signed-in session and remembered consent): GET "
        "authorize -> code -> POST token (PKCE S256), one login each; not wrk.",
    ]
    if m["backend"] == "postgres":
        n.append("PostgreSQL: a private cluster started by the benchmark (initdb, durable defaults: fsync and "
                 "synchronous_commit on, shared_buffers 256MB); the broker's CPU per request includes the cluster's "
                 "processes, its RSS does not.")
    pools = res.get("pools", {})
    if pools:
        parts = []
        for side, ps in pools.items():
            rt = [p for p in ps if "refresh" in p["tag"]]
            if rt:
                parts.append(f"{side}: {', '.join(str(p['tokens']) for p in rt)}")
        n.append("refresh_token: every request spends a distinct unused refresh token, pre-issued before each run "
                 "through the code flow (one pool per run; sizes " + "; ".join(parts) + "); wrk consumes them in "
                 "order.")
    short = []
    for key in ("refresh", "scale_refresh"):
        for side, runs in res["cases"].get(key, {}).get("runs", {}).items():
            for r in runs:
                if r["raw"].get("pool_exhausted") and r["seconds"] < 0.97 * res["meta"]["duration_s"]:
                    short.append(f"{key} {side} {r['seconds']:.1f} s")
    if short:
        n.append("pool exhausted before the end of the run (the run ended early; its rate is still right): "
                 + ", ".join(short) + ".")
    if "scale" in res:
        n.append(f"scale: {res['scale']['rows']:,} users + identities + grants + live refresh tokens seeded by "
                 f"bench/seed.sh in {res['scale']['seed_seconds']} s; base figure = the ES256 phase (its database "
                 "then held only the benchmark's own rows).")
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--postgres", action="store_true", help="broker on PostgreSQL (a private cluster) instead of SQLite")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    ap.add_argument("--runs", type=int, default=2, help="measured runs per case and side (default 2)")
    ap.add_argument("--warmup", type=int, default=2, help="unrecorded warm-up seconds per case and side (default 2)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: leaves the cores to the servers)")
    ap.add_argument("--login-concurrency", type=int, default=16, help="virtual users of the code round trip")
    ap.add_argument("--pool-broker", type=int, default=40000, help="refresh tokens pre-issued for the first run")
    ap.add_argument("--pool-peer", type=int, default=12000, help="refresh tokens pre-issued for the peer's first run")
    ap.add_argument("--scale", type=int, default=1_000_000, help="rows for the scale phase (0 skips it)")
    ap.add_argument("--startups", type=int, default=5, help="timed start-ups per side")
    ap.add_argument("--quiet-wait", type=float, default=30,
                    help="before each measured run, wait up to this many seconds for other processes on the "
                         "machine to calm down (default 30; 0 disables)")
    ap.add_argument("--quiet-threshold", type=float, default=0.4,
                    help="CPUs in use by others that count as quiet (default 0.4)")
    ap.add_argument("--log-level", default="info", help="broker log_level (default: info, the shipped default)")
    ap.add_argument("--skip-eddsa", action="store_true")
    ap.add_argument("--skip-dpop", action="store_true", help="skip the DPoP-bound client_credentials case (issue 15)")
    ap.add_argument("--db-pool-size", type=int, default=0,
                    help="the broker's [database] pool_size (default: the shipped default)")
    ap.add_argument("--dpop-algs", default="ES256,EdDSA,PS256",
                    help="proof algorithms of the DPoP case, comma-separated (ES256, EdDSA, PS256)")
    ap.add_argument("--skip-login", action="store_true")
    ap.add_argument("--skip-static", action="store_true", help="skip introspection, discovery and JWKS")
    ap.add_argument("--skip-refresh", action="store_true", help="skip the refresh_token case")
    ap.add_argument("--perf", default="", help="perf record the broker (and PostgreSQL) during the measured runs "
                    "whose label starts with this (e.g. 'client_credentials DPoP'); files under --out")
    ap.add_argument("--no-access-token-alg-case", dest="access_token_alg_case", action="store_false",
                    help="skip the round trip with ES256 access tokens (needs a broker with tokens.access_token_alg)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()

    b = Bench(a)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        res = b.run()
    finally:
        b.procs.stop_all()
        b.stop_postgres()
    rep = build_report(res)
    res["report"] = rep
    text = render(res, rep)
    print(text)
    os.makedirs(a.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(a.out, f"{stamp}-{res['meta']['backend']}.json")
    res["table"] = text.splitlines()
    with open(path, "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(a.out, f"{stamp}-{res['meta']['backend']}.txt"), "w") as f:
        f.write(text + "\n")
    print(f"\nsaved {os.path.relpath(path, REPO)} (and .txt)")


if __name__ == "__main__":
    main()
