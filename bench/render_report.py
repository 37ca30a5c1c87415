#!/usr/bin/env python3
"""Renders the single-node section of docs/benchmarks.md from the JSON that
bench/run-single-node.sh writes.

    bench/render_report.py OUT_JSON [--doc docs/benchmarks.md]

Only the text between `<!-- section:single-node -->` and
`<!-- /section:single-node -->` is replaced; every other section of the file
is left as it is. A missing file is created with empty placeholders for the
other sections.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
from collections import defaultdict

SECTION = "single-node"
OTHER_SECTIONS = [
    ("comparison", "Comparison with GPTCache and Redis"),
    ("quality", "Answer quality"),
]

# Targets of the single-node design (see docs/benchmarks.md).
TARGET_QUERY_OVERHEAD = 1.5  # query-hit p50 / (HTTP floor p50 + search p50)
TARGET_INSERT_SHARE = 0.80  # HTTP insert rate / in-process hnswlib insert rate
TARGET_RESTART_S = 5.0  # 100k x 384 entries, start to /health 200


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0, unit=""):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}{unit}"


def fmt_pct2(v):
    return "n/a" if v is None else f"{v:.2f}%"


def pct(v):
    return "n/a" if v is None else f"{v:,.0f}%"


def fmt_us(v):
    """Microseconds, shown as ms above 10 ms so the tables stay narrow."""
    if v is None:
        return "n/a"
    if v >= 10000:
        return f"{v / 1000:,.1f} ms"
    return f"{v:,.0f} us"


class runs:
    """Measurements grouped by what was measured; repeats become lists."""

    def __init__(self, records):
        self.records = records
        self.groups = defaultdict(list)
        for r in records:
            key = (r.get("tool"), r.get("mode"), r.get("label", ""), r.get("dim"), r.get("concurrency"))
            self.groups[key].append(r)

    def find(self, tool, mode, dim=None, concurrency=None, label=None):
        out = []
        for (t, m, l, d, c), rs in self.groups.items():
            if t == tool and m == mode and (dim is None or d == dim) and (
                    concurrency is None or c == concurrency) and (label is None or l == label):
                out.extend(rs)
        return out

    def med(self, field, *args, **kwargs):
        return median([r.get(field) for r in self.find(*args, **kwargs)])

    def dims(self):
        return sorted({r["dim"] for r in self.records if r.get("tool") == "inproc" or
                       (r.get("tool") == "loadgen" and r.get("label") == "fill")})


def spread(rs, field):
    """(max - min) / median of a field over repeats, as a fraction."""
    vals = [r[field] for r in rs if r.get(field) is not None]
    if len(vals) < 2:
        return None
    m = statistics.median(vals)
    return (max(vals) - min(vals)) / m if m else None


def recall_miss_pct(rs):
    """Share of near-duplicate queries answered with a miss (approximate index)."""
    n = sum(r.get("requests", 0) for r in rs)
    m = sum(r.get("recall_misses", 0) for r in rs)
    return 100.0 * m / n if n and any("recall_misses" in r for r in rs) else None


def failures(rs):
    return sum(r.get("errors", 0) + r.get("mismatches", 0) for r in rs) + sum(
        1 for r in rs if r.get("complete") is False)


def verdict(ok):
    if ok is None:
        return "not measured"
    return "met" if ok else "**missed**"


def headline(R, meta):
    lines = ["### Headline ratios", "",
             "Measured in the same run, medians over the repeated rounds.", "",
             "| ratio | dim | measured | target | result |", "|---|---|---|---|---|"]
    for dim in R.dims():
        q = R.med("p50_us", "loadgen", "query-hit", dim, 1)
        h = R.med("p50_us", "loadgen", "health", dim, 1)
        s = R.med("p50_us", "inproc", "search-hit", dim, 1)
        ratio = q / (h + s) if None not in (q, h, s) and h + s > 0 else None
        lines.append(
            f"| query-hit p50 at concurrency 1 / (HTTP floor p50 + in-process search p50) | {dim} | "
            f"{fmt(ratio, 2)}x ({fmt_us(q)} vs {fmt_us(h)} + {fmt_us(s)}) | <= {TARGET_QUERY_OVERHEAD}x | "
            f"{verdict(None if ratio is None else ratio <= TARGET_QUERY_OVERHEAD)} |")
    for dim in R.dims():
        http_rate = R.med("throughput_rps", "loadgen", "fill", dim, 50, label="fill")
        floor = R.med("throughput_rps", "inproc", "insert", dim)
        share = http_rate / floor if None not in (http_rate, floor) and floor else None
        lines.append(
            f"| durable insert rate at concurrency 50 / in-process hnswlib insert rate (1 thread) | {dim} | "
            f"{pct(None if share is None else share * 100)} ({fmt(http_rate)}/s vs {fmt(floor)}/s) | "
            f">= {TARGET_INSERT_SHARE * 100:.0f}% | {verdict(None if share is None else share >= TARGET_INSERT_SHARE)} |")
    for dim in R.dims():
        # The server spreads a namespace's inserts over one thread per core,
        # so the parallel build is the like-for-like context for the row above.
        http_rate = R.med("throughput_rps", "loadgen", "fill", dim, 50, label="fill")
        par = R.find("inproc", "insert-parallel", dim)
        if not par:
            continue
        floor = median([r["throughput_rps"] for r in par])
        share = http_rate / floor if None not in (http_rate, floor) and floor else None
        lines.append(
            f"| durable insert rate at concurrency 50 / in-process hnswlib parallel build "
            f"({par[0].get('insert_threads')} threads) | {dim} | "
            f"{pct(None if share is None else share * 100)} ({fmt(http_rate)}/s vs {fmt(floor)}/s) | "
            "none (context) | - |")
    for dim in R.dims():
        http_rate = R.med("throughput_rps", "loadgen", "query-hit", dim, 50)
        par = R.find("inproc", "search-hit-parallel", dim)
        floor = median([r["throughput_rps"] for r in par])
        share = http_rate / floor if None not in (http_rate, floor) and floor else None
        threads = par[0].get("search_threads") if par else "?"
        lines.append(
            f"| query-hit rate at concurrency 50 / in-process search rate ({threads} threads) | {dim} | "
            f"{pct(None if share is None else share * 100)} ({fmt(http_rate)}/s vs {fmt(floor)}/s) | "
            "none (context) | - |")
    for dim in R.dims():
        server = recall_miss_pct(R.find("loadgen", "query-hit", dim))
        floor = recall_miss_pct(R.find("inproc", "search-hit", dim))
        lines.append(f"| near-duplicates answered with a miss: server / in-process hnswlib (ef_search=32) | {dim} | "
                     f"{fmt_pct2(server)} / {fmt_pct2(floor)} | same as the floor | "
                     f"{verdict(None if None in (server, floor) else server <= floor * 1.5 + 0.1)} |")
    stops = {r["label"]: r for r in R.records if r.get("event") == "stop"}
    for kind in ("kill9", "clean"):
        rs = R.find("loadgen", "wait-ready", label=f"restart-{kind}-384")
        ms = median([r.get("ready_ms") for r in rs])
        n = rs[0].get("entry_count") if rs else None
        ok = None if ms is None or ms < 0 else ms / 1000 <= TARGET_RESTART_S
        what = "kill -9" if kind == "kill9" else "clean (SIGTERM)"
        stop = stops.get(f"384-{kind}")
        note = ""
        if kind == "clean" and stop and stop.get("exit_code") != 0:
            note = " (the SIGTERM shutdown hung and was killed: see Problems)"
        lines.append(f"| restart after {what}, start to /health 200{note} | 384 ({fmt(n)} entries) | "
                     f"{fmt(None if ms is None else ms / 1000, 2)} s | <= {TARGET_RESTART_S:.0f} s | {verdict(ok)} |")
    cores = meta.get("cores", 2)
    for dim in R.dims():
        cpu = R.med("server_cpu_pct", "loadgen", "query-hit", dim, 50)
        client = R.med("loadgen_cpu_pct", "loadgen", "query-hit", dim, 50)
        lines += ["", f"Server CPU during the concurrency-50 query-hit run ({dim} dims): **{pct(cpu)}** of "
                      f"{cores * 100}% ({cores} cores; {cores * 100}% = every core busy); the load generator "
                      f"itself used {pct(client)} of a core on the same machine."]
    return lines


def query_table(R, dim):
    lines = [f"#### {dim} dimensions", "",
             "| mode | concurrency | throughput (req/s) | p50 | p95 | p99 | p50 spread | server CPU | errors + mismatches "
             "| recall misses |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for mode in ("query-hit", "query-miss", "exact", "health"):
        for c in (1, 50):
            rs = R.find("loadgen", mode, dim, c)
            if not rs:
                continue
            sp = spread(rs, "p50_us")
            lines.append(
                f"| {mode} | {c} | {fmt(median([r['throughput_rps'] for r in rs]))} | "
                f"{fmt_us(median([r['p50_us'] for r in rs]))} | {fmt_us(median([r['p95_us'] for r in rs]))} | "
                f"{fmt_us(median([r['p99_us'] for r in rs]))} | {pct(None if sp is None else sp * 100)} | "
                f"{pct(median([r.get('server_cpu_pct') for r in rs]))} | {failures(rs)} | "
                f"{fmt_pct2(recall_miss_pct(rs)) if mode == 'query-hit' else '-'} |")
    inproc = [("insert", "insert (1 thread, build)"), ("search-hit", "search, hit set (k=1)"),
              ("search-miss", "search, miss set (k=1)")]
    rows = []
    for mode, name in inproc:
        rs = R.find("inproc", mode, dim)
        if rs:
            rows.append(f"| {name} | {fmt(median([r['throughput_rps'] for r in rs]))} | "
                        f"{fmt_us(median([r['p50_us'] for r in rs]))} | {fmt_us(median([r['p95_us'] for r in rs]))} | "
                        f"{fmt_us(median([r['p99_us'] for r in rs]))} | {failures(rs)} | "
                        f"{fmt_pct2(recall_miss_pct(rs)) if mode == 'search-hit' else '-'} |")
    par = R.find("inproc", "search-hit-parallel", dim)
    if par:
        rows.append(f"| search, hit set, {par[0].get('search_threads')} threads (aggregate) | "
                    f"{fmt(median([r['throughput_rps'] for r in par]))} | | | | | |")
    build = R.find("inproc", "insert-parallel", dim)
    if build:
        rows.append(f"| insert, {build[0].get('insert_threads')} threads (parallel build, aggregate) | "
                    f"{fmt(median([r['throughput_rps'] for r in build]))} | | | | | |")
    if rows:
        simd = R.find("inproc", "insert", dim)[0].get("simd", "?")
        entries = R.find("inproc", "insert", dim)[0].get("entries")
        lines += ["", f"In-process hnswlib floor, {fmt(entries)} entries (kernel: {simd}):", "",
                  "| operation | rate (/s) | p50 | p95 | p99 | mismatches | recall misses |",
                  "|---|---|---|---|---|---|---|"] + rows
    fill = R.find("loadgen", "fill", dim, 50, label="fill")
    if fill:
        f = fill[0]
        lines += ["", f"Fill: {fmt(f['requests'])} durable inserts at concurrency 50: {fmt(f['throughput_rps'])}/s, "
                      f"p50 {fmt_us(f['p50_us'])}, p95 {fmt_us(f['p95_us'])}, p99 {fmt_us(f['p99_us'])}, "
                      f"server CPU {pct(f.get('server_cpu_pct'))}, errors + mismatches {failures(fill)}."]
    return lines + [""]


def sweep_table(R):
    rs = R.find("loadgen", "fill", label="insert-sweep")
    if not rs:
        return []
    lines = ["### Durable insert throughput by concurrency", "",
             "Each level inserts into a fresh namespace of the running node (concurrency 1 does a quarter of "
             "the inserts to stay bounded). A reply means the entry is in the log and fsynced.", "",
             "| dim | concurrency | inserts | inserts/s | p50 | p99 | server CPU | errors + mismatches |",
             "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rs, key=lambda r: (r["dim"], r["concurrency"])):
        lines.append(f"| {r['dim']} | {r['concurrency']} | {fmt(r['requests'])} | {fmt(r['throughput_rps'])} | "
                     f"{fmt_us(r['p50_us'])} | {fmt_us(r['p99_us'])} | {pct(r.get('server_cpu_pct'))} | "
                     f"{failures([r])} |")
    return lines + [""]


def restart_table(R):
    rs = [r for r in R.records if r.get("mode") == "wait-ready" and r.get("label", "").startswith("restart-")]
    stops = {r["label"]: r for r in R.records if r.get("event") == "stop"}
    recoveries = {r["label"]: r.get("text", "") for r in R.records if r.get("event") == "recovery"}
    if not rs:
        return []
    lines = ["### Restart", "",
             "Time from starting the process to the first `GET /health` 200 (polled every 5 ms), with the "
             "entry count /health reports. \"kill -9\" restarts replay the log written since the last snapshot: "
             "its inserts are served at once, from the backlog, and linked into the HNSW graph while the node "
             "serves (the server log column says when that was done, counted from ready); the clean restart "
             "follows a SIGTERM shutdown.", "",
             "| restart | entries | ready | first HTTP answer | shutdown before it | server log |",
             "|---|---|---|---|---|---|"]
    for r in rs:
        label = r["label"][len("restart-"):]
        kind, _, data = label.partition("-")
        stop = stops.get(f"{data}-{kind}")  # run-single-node.sh names both sides this way
        stop_text = "n/a"
        if stop:
            stop_text = f"SIG{stop['signal']}, {fmt(stop['stop_ms'])} ms, exit {stop['exit_code']}"
            if stop["signal"] == "TERM" and stop["exit_code"] != 0:
                stop_text += " (**did not exit cleanly**)"
        ok = "" if r.get("entry_count_ok", True) else " (**count wrong**)"
        log = recoveries.get(r["label"], "")
        lines.append(f"| {kind} ({data}) | {fmt(r.get('entry_count'))}{ok} | {fmt(r['ready_ms'] / 1000, 2)} s | "
                     f"{fmt(r.get('first_answer_ms', 0) / 1000, 2)} s | {stop_text} | {log} |")
    return lines + [""]


def million_table(R):
    rs = R.find("loadgen", "fill", label="fill-1m")
    if not rs:
        return []
    total = sum(r["requests"] for r in rs)
    wall = sum(r["wall_s"] for r in rs)
    rates = [r["throughput_rps"] for r in rs]
    return ["### Large namespace (BENCH_1M)", "",
            f"{fmt(total)} entries of 384 dims into one namespace at concurrency 50, in {len(rs)} runs of up to "
            f"100,000 (the load generator holds a run's bodies in memory): {fmt(total / wall if wall else None)} "
            f"inserts/s overall, {fmt(min(rates))} to {fmt(max(rates))}/s per run, errors + mismatches "
            f"{failures(rs)}. Its restart times are in the table above.", ""]


def noise_notes(R, meta):
    spreads = []
    for key, rs in R.groups.items():
        if len(rs) >= 2 and key[0] in ("loadgen", "inproc"):
            sp = spread(rs, "p50_us")
            if sp is not None:
                spreads.append((sp, key))
    loads = [r["loadavg_1m"] for r in R.records if r.get("loadavg_1m") is not None]
    lines = ["### Noise", ""]
    if spreads:
        worst = max(spreads)
        lines.append(
            f"- Repeated rounds: the p50 of one measurement varied between rounds by a median of "
            f"{statistics.median(s for s, _ in spreads) * 100:.0f}% (max - min over median), worst "
            f"{worst[0] * 100:.0f}% ({worst[1][1]}, {worst[1][3]} dims, concurrency {worst[1][4]}). "
            "Differences smaller than that are not findings.")
    if loads:
        lines.append(f"- 1-minute load average during the measurements: {min(loads):.2f} to {max(loads):.2f} "
                     f"(start {meta.get('loadavg_start')}, end {meta.get('loadavg_end')}); "
                     f"{meta.get('compilers_running_at_start', 0)} compiler processes were running at the start.")
    lines += [
        "- Server and load generator share the same 2 cores, so concurrency-50 numbers include the client's "
        "own CPU use (see `loadgen_cpu_pct` in the JSON); p99 of sub-millisecond operations is dominated by "
        "scheduler preemption on this VM.",
        "- Fill, insert sweep and restart numbers are single runs (each inserts fresh data).", ""]
    return lines


def problems(R, meta):
    out = []
    for (tool, mode, label, dim, c), rs in R.groups.items():
        if tool not in ("loadgen", "inproc") or mode == "wait-ready":
            continue
        errors = sum(r.get("errors", 0) for r in rs)
        wrong = sum(r.get("mismatches", 0) for r in rs)
        timeouts = sum(1 for r in rs if r.get("complete") is False)
        rm = recall_miss_pct(rs)
        if errors or wrong or timeouts or (rm is not None and rm > 2.0):
            out.append(f"- {tool} {mode} ({label or '-'}), {dim} dims, concurrency {c}, {len(rs)} round(s): "
                       f"{errors} errors, {wrong} wrong answers, {timeouts} stopped at the time limit"
                       + (f", {rm:.2f}% recall misses" if rm is not None else ""))
    for r in R.records:
        if r.get("mode") == "wait-ready" and (r.get("ready_ms", 0) < 0 or not r.get("entry_count_ok", True)):
            out.append(f"- {r.get('label')}: ready {r.get('ready_ms')} ms, /health entry_count "
                       f"{r.get('entry_count')}")
        if r.get("event") == "stop" and r.get("signal") == "TERM" and r.get("exit_code") != 0:
            out.append(f"- SIGTERM shutdown ({r['label']}) did not finish: killed after {r['stop_ms']} ms "
                       f"(exit {r['exit_code']})")
    if meta.get("uncommitted_server_files"):
        out.append(f"- The server was built from a working tree with {meta['uncommitted_server_files']} "
                   f"uncommitted server files on top of {meta.get('commit')}.")
    if not out:
        return []
    return ["### Problems seen in this run", ""] + out + [""]


def render_section(data):
    meta, R = data["meta"], runs(data["runs"])
    date = datetime.datetime.fromtimestamp(meta["started_unix"], datetime.timezone.utc)
    lines = [
        "## Single node", "",
        "_Generated by `bench/render_report.py` from the output of `bench/run-single-node.sh`; "
        "edit those, not this section._", "",
        "### How it was run", "",
        "```sh",
        "cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DFERRO_TESTS=OFF",
        "cmake --build build-bench --target ferrocache ferrocache-loadgen ferrocache-bench-inproc -j2",
        "bench/run-single-node.sh build-bench bench-results.json",
        "bench/render_report.py bench-results.json",
        "```", "",
        f"- Settings: `{meta['settings']}` (`BENCH_*` variables, see the script's header).",
        f"- Machine: {meta['cpu_model']}, {meta['cores']} cores, {meta['mem_gib']} GiB RAM, Linux {meta['kernel']}.",
        f"- Date: {date:%Y-%m-%d %H:%M} UTC; checkout at commit {meta['commit']}, server binary built "
        f"{meta.get('server_binary_built', '?')}; script wall time {meta['wall_s']} s.",
        "- Workload: seeded synthetic embeddings (100 gaussian cluster centres; each entry is its centre plus "
        "noise, normalised; entries of one cluster have cosine ~0.64). Hit queries are a stored entry plus "
        "small noise (cosine >= 0.95 with it) and must return that entry; miss queries are random directions "
        "(cosine < 0.3 with every centre); exact queries send a stored entry's text (case and spacing changed) "
        "with an unrelated vector. Every response is checked; the tables count errors and wrong answers.",
        "- Server defaults: M=16, ef_construction=200, ef_search=32, threshold 0.92; 256-byte responses. "
        "The in-process floor is stock hnswlib 0.6.2 with the same parameters, capacity preallocated, one "
        "thread (plus a parallel build with one thread per core, for context). The server differs from it on "
        "purpose: its level-0 search prefetches whole vectors, its graph memory asks for huge pages, and a "
        "namespace applies a run of durable inserts on one thread per core (index/README.md).",
        "",
    ]
    lines += headline(R, meta) + [""]
    lines += ["### Latency and throughput", "",
              "Closed loop: each connection sends its next request when the previous answer is in. "
              "Medians over the repeated rounds; \"p50 spread\" is (max - min) / median of the rounds' p50.", ""]
    for dim in R.dims():
        lines += query_table(R, dim)
    lines += sweep_table(R) + restart_table(R) + million_table(R) + noise_notes(R, meta) + problems(R, meta)
    return "\n".join(lines).rstrip() + "\n"


def skeleton():
    parts = ["# Benchmarks", "",
             "Each section below is maintained separately, between `<!-- section:NAME -->` and "
             "`<!-- /section:NAME -->` markers; tools that regenerate one section leave the others alone.", "",
             f"<!-- section:{SECTION} -->", f"<!-- /section:{SECTION} -->", ""]
    for name, title in OTHER_SECTIONS:
        parts += [f"<!-- section:{name} -->", f"## {title}", "", "_Not written yet._", f"<!-- /section:{name} -->", ""]
    return "\n".join(parts)


def replace_section(doc, name, body):
    begin, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    i, j = doc.find(begin), doc.find(end)
    if i < 0 or j < 0 or j < i:
        return doc.rstrip() + f"\n\n{begin}\n{body}{end}\n"
    return doc[:i + len(begin)] + "\n" + body + doc[j:]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_json")
    ap.add_argument("--doc", default=os.path.join(here, "..", "docs", "benchmarks.md"))
    a = ap.parse_args()
    with open(a.out_json) as f:
        data = json.load(f)
    doc = open(a.doc).read() if os.path.exists(a.doc) else skeleton()
    doc = replace_section(doc, SECTION, render_section(data))
    with open(a.doc, "w") as f:
        f.write(doc)
    print(f"wrote the {SECTION} section of {os.path.normpath(a.doc)}", file=sys.stderr)


if __name__ == "__main__":
    main()
