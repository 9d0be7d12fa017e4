#!/usr/bin/env python3
"""Side by side: one server, four fleet-sim processes (N agents and 1 agent from a base and a new
binary); fleet-sim RSS and CPU per agent over the same idle window. Usage: BASE NEW N WINDOW_S WORK_DIR.
The 1-agent processes give the fixed cost, so the marginal figures are per agent alone."""
import json, os, subprocess, sys, time, shutil, signal

base, new, n, window = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
work = sys.argv[5]
shutil.rmtree(work, ignore_errors=True); os.makedirs(work)
procs = []
def start(name, args):
    log = open(f"{work}/{name}.log", "w")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    procs.append(p); return p
try:
    server = start("server", [base, "server", "--plain", "--data-dir", f"{work}/data", "--log-level", "warning",
        "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0",
        "--max-unauthenticated-per-address", "100000", "--max-pending-per-agent", "10000000"])
    ready = f"{work}/data/server.json"
    for _ in range(600):
        if os.path.exists(ready): break
        time.sleep(0.1)
    info = json.load(open(ready))
    agent_url = info.get("agent_url") or info.get("agentUrl")
    tok = subprocess.run([base, "enroll-token", "create", "--data-dir", f"{work}/data", "--uses", str(2 * n + 2), "--expires", "3600"],
                         capture_output=True, text=True, check=True).stdout.strip()
    sims = {}
    sizes = {"base": n, "new": n, "base1": 1, "new1": 1}
    for label, binary in (("base", base), ("new", new), ("base1", base), ("new1", new)):
        sims[label] = start(f"sim-{label}", [binary, "fleet-sim", "--server", agent_url, "--allow-plain", "--agents", str(sizes[label]),
            "--enroll-token", tok, "--state-dir", f"{work}/sim-{label}", "--name-prefix", f"{label}-",
            "--log-level", "warning", "--json", "--status-interval", "2"])
    def last_stats(label):
        lines = [l for l in open(f"{work}/sim-{label}.log") if l.startswith("{")]
        return json.loads(lines[-1])["stats"] if lines else None
    deadline = time.time() + 600
    while time.time() < deadline:
        st = [last_stats(l) for l in sims]
        if all(s and s["downlink_proven"] >= sizes[l] for l, s in zip(sims, st)): break
        time.sleep(1)
    else:
        raise SystemExit(f"fleet did not come up: {[last_stats(l) for l in sims]}")
    time.sleep(10)  # settle: first heartbeats, link reports
    def cpu(pid):
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    def rss(pid):
        for l in open(f"/proc/{pid}/status"):
            if l.startswith("VmRSS:"): return int(l.split()[1]) * 1024
    before = {l: cpu(p.pid) for l, p in sims.items()}
    t0 = time.time(); time.sleep(window); dt = time.time() - t0
    after = {l: cpu(p.pid) for l, p in sims.items()}
    out = {}
    for l, p in sims.items():
        r = rss(p.pid)
        c = (after[l] - before[l]) / dt
        out[l] = {"rss_mib": r / 2**20, "rss_per_agent_kib": r / n / 1024, "cpu_pct": 100 * c, "cpu_us_per_agent_per_s": 1e6 * c / n,
                  "stats": {k: last_stats(l)[k] for k in ("connected", "downlink_proven", "heartbeats_sent", "reconnects", "connect_failures")}}
    for l in ("base", "new"):
        out[l]["marginal_rss_per_agent_kib"] = (out[l]["rss_mib"] - out[l + "1"]["rss_mib"]) * 1024 / (n - 1)
        out[l]["marginal_cpu_us_per_agent_per_s"] = (out[l]["cpu_pct"] - out[l + "1"]["cpu_pct"]) * 1e4 / n
    out["ratio_new_over_base"] = {
        "rss_per_agent": out["new"]["rss_per_agent_kib"] / out["base"]["rss_per_agent_kib"],
        "marginal_rss_per_agent": out["new"]["marginal_rss_per_agent_kib"] / out["base"]["marginal_rss_per_agent_kib"],
        "cpu_per_agent": out["new"]["cpu_pct"] / max(out["base"]["cpu_pct"], 1e-9),
        "marginal_cpu_per_agent": out["new"]["marginal_cpu_us_per_agent_per_s"] / max(out["base"]["marginal_cpu_us_per_agent_per_s"], 1e-9)}
    print(json.dumps(out, indent=1))
finally:
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try: p.wait(timeout=20)
        except Exception: p.kill()
