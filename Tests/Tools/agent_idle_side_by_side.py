#!/usr/bin/env python3
"""Side by side: one server, one real agent from each of two binaries (BASE NEW WINDOW_S WORK_DIR);
idle CPU and context switches of each agent over the same window."""
import json, os, subprocess, sys, time, shutil, signal, glob
base, new, window, work = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
shutil.rmtree(work, ignore_errors=True); os.makedirs(work)
procs = []
def start(name, args):
    p = subprocess.Popen(args, stdout=open(f"{work}/{name}.log", "w"), stderr=subprocess.STDOUT); procs.append(p); return p
try:
    start("server", [base, "server", "--plain", "--data-dir", f"{work}/data", "--log-level", "warning", "--agent-listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
    ready = f"{work}/data/server.json"
    while not os.path.exists(ready): time.sleep(0.1)
    info = json.load(open(ready)); url = info.get("agent_url") or info.get("agentUrl")
    tok = subprocess.run([base, "enroll-token", "create", "--data-dir", f"{work}/data", "--uses", "2"], capture_output=True, text=True, check=True).stdout.strip()
    agents = {l: start(f"agent-{l}", [b, "agent", "--server", url, "--allow-plain", "--state-dir", f"{work}/state-{l}", "--name", l, "--enroll-token", tok, "--log-level", "warning"])
              for l, b in (("base", base), ("new", new))}
    time.sleep(20)
    def sample(pid):
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        cpu = (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
        cs = 0
        for t in glob.glob(f"/proc/{pid}/task/*/status"):
            for line in open(t):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")): cs += int(line.split()[1])
        return cpu, cs
    before = {l: sample(p.pid) for l, p in agents.items()}
    t0 = time.time(); time.sleep(window); dt = time.time() - t0
    after = {l: sample(p.pid) for l, p in agents.items()}
    out = {l: {"cpu_ms_per_min": 60e3 * (after[l][0] - before[l][0]) / dt, "context_switches_per_s": (after[l][1] - before[l][1]) / dt} for l in agents}
    out["ratio_new_over_base"] = {k: out["new"][k] / max(out["base"][k], 1e-9) for k in out["base"]}
    print(json.dumps(out, indent=1))
finally:
    for p in reversed(procs): p.send_signal(signal.SIGTERM)
    for p in procs:
        try: p.wait(timeout=20)
        except Exception: p.kill()
