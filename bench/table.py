"""The benchmark table of docs/performance.md, in Markdown, from result files of bench.py (one per backend).

    python3 bench/table.py bench/results/STAMP-sqlite.json bench/results/STAMP-postgres.json

`bash bench/run.sh --both` runs both backends and ends with this table.
"""
import json
import sys


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main(paths):
    out = ["| backend | case | broker req/s | p99 ms | peer req/s | p99 ms | ratio | broker µs/req | peer µs/req "
           "| target |", "|---|---|---|---|---|---|---|---|---|---|"]
    metas = []
    for path in paths:
        with open(path) as f:
            res = json.load(f)
        m, rep = res["meta"], res["report"]
        metas.append(f"{m['backend']}: commit {m['commit']}{' (dirty)' if m['dirty'] else ''}, load average "
                     f"{m['loadavg_start']} at start")
        for r in rep["rows"]:
            target = "" if not r["target"] else f"{r['target']}: {'**met**' if r['met'] else 'missed'}"
            out.append(f"| {m['backend']} | {r['case']} | {fmt(r['broker_rps'], ',.0f')} | "
                       f"{fmt(r['broker_p99_ms'], '.1f')} | {fmt(r['peer_rps'], ',.0f')} | "
                       f"{fmt(r['peer_p99_ms'], '.1f')} | {fmt(r['ratio'], '.2f')} | "
                       f"{fmt(r['broker_cpu_us'], ',.0f')} | {fmt(r['peer_cpu_us'], ',.0f')} | {target} |")
        for s in rep["scale"]:
            out.append(f"| {m['backend']} | {s['case']} | {fmt(s['rps'], ',.0f')} | {fmt(s['p99_ms'], '.1f')} | | | "
                       f"{s['ratio'] * 100:.0f}% of base | {fmt(s['cpu_us'], ',.0f')} | | "
                       f"≥90% of base: {'**met**' if s['met'] else 'missed'} |")
        for label, target, ok, got in rep["verdicts"]:
            if label.startswith("client_credentials DPoP"):
                out.append(f"| {m['backend']} | {label} | | | | | {got} | | | {target}: "
                           f"{'**met**' if ok else 'missed'} |")
    print("\n".join(out))
    print()
    print("; ".join(metas))


if __name__ == "__main__":
    main(sys.argv[1:])
