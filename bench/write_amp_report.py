#!/usr/bin/env python3
"""Markdown tables from the JSON lines of bench/run-write-amp.sh.

    bench/write_amp_report.py OUT_JSONL

Per policy and chunk of the fill: insert rate, the server's disk writes per
insert (/proc/<pid>/io write_bytes) against the WAL record size
(ferrocache_wal_record_bytes_total / _wal_records_total), and how much of it
was snapshot files; then RSS growth and restart times.
"""
import json
import sys


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def fmt(x, digits=0):
    return f"{x:,.{digits}f}"


def main():
    runs = load(sys.argv[1])
    fills = [r for r in runs if r.get("tool") == "loadgen" and r.get("mode") == "fill"]
    counters = [r for r in runs if r.get("event") == "counters"]
    baselines = {r["label"]: r for r in runs if r.get("event") == "baseline"}
    inproc_tail = next((r for r in runs if r.get("tool") == "inproc" and r.get("mode") == "insert-tail"), None)

    print("| policy | entries after chunk | inserts/s | vs in-process (same tail) | written per insert "
          "| WAL record | written / record | snapshot files per insert | compactions | VmRSS |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    prev = {}
    for fill, c in zip(fills, counters):
        label = c["label"]
        policy = label.split("-", 1)[1]
        p = prev.get(label, {"wal_records": 0, "wal_record_bytes": 0, "snapshot_bytes": 0})
        n = fill["requests"]
        recs = c["wal_records"] - p["wal_records"]
        rec_bytes = (c["wal_record_bytes"] - p["wal_record_bytes"]) / recs if recs else 0
        written = fill.get("server_write_bytes_per_request", float("nan"))
        snap = (c["snapshot_bytes"] - p["snapshot_bytes"]) / n
        vs = ""
        if inproc_tail and c["entries_after"] == inproc_tail["entries"]:
            vs = f"{100 * fill['throughput_rps'] / inproc_tail['throughput_rps']:.0f}% of {fmt(inproc_tail['throughput_rps'])}/s"
        print(f"| {policy} | {fmt(c['entries_after'])} | {fmt(fill['throughput_rps'])} | {vs} | {fmt(written)} B "
              f"| {fmt(rec_bytes)} B | {written / rec_bytes:.2f}x | {fmt(snap)} B | {c['compactions']} "
              f"| {fmt(c['rss_kib'] / 1024)} MiB |")
        prev[label] = c
    print()
    # Whole-fill totals per policy (snapshots written after a chunk ended
    # count in the next chunk, so the total is the fairer figure).
    print("| run | entries | inserts/s overall | written per insert | written / WAL record | snapshot files per insert "
          "| VmRSS growth | per entry |")
    print("|---|---|---|---|---|---|---|---|")
    for label in dict.fromkeys(c["label"] for c in counters):
        cs = [c for c in counters if c["label"] == label]
        fs = [f for f, c in zip(fills, counters) if c["label"] == label]
        base = baselines.get(label.replace("fill-", ""), {})
        last = cs[-1]
        n = sum(f["requests"] for f in fs)
        wall = sum(f["wall_s"] for f in fs)
        written = (last["write_bytes"] - base.get("write_bytes", 0)) / n
        rec = last["wal_record_bytes"] / last["wal_records"]
        if base:
            growth = (last["rss_kib"] - base["rss_kib"]) * 1024
            rss = f"{fmt(growth / 2**20)} MiB | {fmt(growth / n)} B"
        else:  # a run on a restarted server: no baseline of its own
            rss = f"(VmRSS {fmt(last['rss_kib'] / 1024)} MiB) | -"
        print(f"| {label} | {fmt(n)} | {fmt(n / wall)} | {fmt(written)} B | {written / rec:.2f}x "
              f"| {fmt(last['snapshot_bytes'] / n)} B | {rss} |")
    print()
    print("| restart | entries | ready | server log |")
    print("|---|---|---|---|")
    recov = {r["label"]: r for r in runs if r.get("event") == "recovery"}
    for r in runs:
        if r.get("mode") == "wait-ready" and r["label"].startswith("restart"):
            text = recov.get(r["label"], {}).get("text", "")
            print(f"| {r['label']} | {fmt(r.get('entry_count', 0))} | {r.get('ready_ms', -1) / 1000:.2f} s | {text} |")
    disk = [r for r in runs if r.get("event") == "disk"]
    for d in disk:
        print(f"\nData dir after the run ({d['label']}): {fmt(d['data_dir_kib'] / 1024)} MiB.")
    meta = next((r for r in runs if r.get("event") == "meta"), None)
    if meta:
        print(f"\nCommit {meta['commit']} (server built {meta.get('server_built', '?')}), {meta['cpu']}, {meta['cores']} cores, {meta['date']}; {meta['settings']}.")


if __name__ == "__main__":
    main()
