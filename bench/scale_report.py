#!/usr/bin/env python3
"""Issue 13's targets from a bench/run-scale.sh result file, as Markdown.

    bench/scale_report.py OUT_JSONL

Raw data per entry is the vector (4 bytes a dimension), the response and the
query text, whose length the loadgen's generator fixes: "synthetic question
<i> about topic <cluster>" (clusters 0..99, 1.9 digits on average).
"""
import json
import statistics
import sys


def digits_mean(n):
    total = 0
    lo, d = 0, 1
    while lo < n:
        hi = min(n, 10**d)
        total += (hi - lo) * d
        lo, d = hi, d + 1
    return total / n


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    script = [r for r in rows if r.get("tool") == "script"]
    gen = [r for r in rows if r.get("tool") == "loadgen"]
    inproc = [r for r in rows if r.get("tool") == "inproc"]
    first = lambda xs, **kw: next((x for x in xs if all(x.get(k) == v for k, v in kw.items())), None)
    base = first(script, event="baseline")
    counters = [r for r in script if r.get("event") == "counters"]
    fills = [r for r in gen if r.get("mode") == "fill"]
    meta = first(script, event="meta") or {}
    if not base or not counters:
        sys.exit("no fill in " + path)
    last = counters[-1]
    n = last["entries_after"]
    dim, response = 384, 256
    text = len("synthetic question ") + digits_mean(n) + len(" about topic ") + 1.9
    raw = dim * 4 + response + text
    out = []
    p = out.append
    p(f"Entries: {n:,} x {dim} float32, {response}-byte responses; {meta.get('date', '?')}, "
      f"commit {meta.get('commit', '?')}, {meta.get('cores', '?')} cores; raw data {raw:,.0f} B per entry.")
    p("")
    p("| after | entries | insert rate /s | written per insert | VmRSS growth per entry | RssAnon | RssFile | VmHWM MiB |")
    p("|---|---|---|---|---|---|---|---|")
    for f, c in zip(fills, counters):
        e = c["entries_after"]
        grow = (c["rss_kib"] - base["rss_kib"]) * 1024 / e
        anon = (c["rss_anon_kib"] - base["rss_anon_kib"]) * 1024 / e
        file_ = (c["rss_file_kib"] - base["rss_file_kib"]) * 1024 / e
        p(f"| fill | {e:,} | {f['throughput_rps']:,.0f} | {f.get('server_write_bytes_per_request', 0):,.0f} B | "
          f"{grow:,.0f} B ({grow / raw:.2f}x raw) | {anon:,.0f} B | {file_:,.0f} B | {c['hwm_kib'] / 1024:,.0f} |")
    p("")
    growth = (last["rss_kib"] - base["rss_kib"]) * 1024
    anon = (last["rss_anon_kib"] - base["rss_anon_kib"]) * 1024
    record = last["wal_record_bytes"] / max(1, last["wal_records"])
    written = (last["write_bytes"] - base["write_bytes"]) / n
    tail = first(inproc, mode="insert-tail")
    last_fill = fills[-1]
    med = lambda xs: statistics.median(xs) if xs else float("nan")
    q50 = med([r["p50_us"] for r in gen if r.get("label") == "query-hit"])
    h50 = med([r["p50_us"] for r in gen if r.get("label") == "health"])
    s50 = med([r["p50_us"] for r in inproc if r.get("mode") == "search-hit"])
    ready = {r["label"]: r for r in gen if r.get("mode") == "wait-ready"}
    checks = [r for r in gen if str(r.get("label", "")).startswith("check-")]

    def verdict(ok):
        return "**met**" if ok else "**not met**"

    p("| target | measured | verdict |")
    p("|---|---|---|")
    p(f"| memory: VmRSS growth <= 1.3x raw | {growth / n:,.0f} B per entry = {growth / n / raw:.2f}x "
      f"(RssAnon alone {anon / n:,.0f} B = {anon / n / raw:.2f}x) | {verdict(growth / n / raw <= 1.3)} |")
    if tail:
        ratio = last_fill["throughput_rps"] / tail["throughput_rps"]
        p(f"| insert rate, last chunk >= 80% of in-process hnswlib at the same size | "
          f"{last_fill['throughput_rps']:,.0f}/s vs {tail['throughput_rps']:,.0f}/s = {ratio:.0%} | "
          f"{verdict(ratio >= 0.8)} |")
    else:
        p(f"| insert rate, last chunk >= 80% of in-process | {last_fill['throughput_rps']:,.0f}/s; "
          "no in-process floor in this run | - |")
    p(f"| bytes written per insert <= 4x the log record | {written:,.0f} B over the fill vs a "
      f"{record:,.0f} B record = {written / record:.1f}x (last chunk "
      f"{last_fill.get('server_write_bytes_per_request', 0) / record:.1f}x) | {verdict(written / record <= 4)} |")
    for label, name in (("restart-kill9", "kill -9"), ("restart-clean", "clean stop")):
        r = ready.get(label)
        if not r:
            continue
        tag = label.split("-")[1]
        cs = [c for c in checks if c["label"].endswith("-" + tag)]
        bad = sum(c.get("errors", 0) + c.get("mismatches", 0) for c in cs)
        miss = sum(c.get("recall_misses", 0) for c in cs)
        asked = sum(c.get("requests", 0) for c in cs)
        ok = r["ready_ms"] >= 0 and r["ready_ms"] <= 5000 and r.get("entry_count_ok", False) and bad == 0
        p(f"| restart after {name} <= 5 s, every entry answerable | /health 200 with {r['entry_count']:,} "
          f"entries after {r['ready_ms'] / 1000:.2f} s; sample of {asked:,} queries: {bad} wrong, "
          f"{miss} near-duplicate misses | {verdict(ok)} |")
    if s50 == s50:
        floor = h50 + s50
        p(f"| query-hit p50 at c=1 <= 1.5x (HTTP floor + in-process search) | {q50:.0f} us vs "
          f"{h50:.0f} + {s50:.0f} us = {q50 / floor:.2f}x | {verdict(q50 / floor <= 1.5)} |")
    else:
        p(f"| query-hit p50 at c=1 | {q50:.0f} us (HTTP floor {h50:.0f} us); no in-process search | - |")
    for r in script:
        if r.get("event") == "recovery" and r.get("label", "").startswith("restart"):
            p(f"\n{r['label']}: {r['text']} (VmRSS {r['rss_kib'] / 1024:,.0f} MiB)")
        if r.get("event") == "backlog":
            p(f"\n{r['label']}: {r['text']}")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
