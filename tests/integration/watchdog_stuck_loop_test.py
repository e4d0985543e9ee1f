#!/usr/bin/env python3
"""A stuck event loop under a systemd-like watchdog, with real processes.

This script plays systemd for a real tierd on a real mosquitto (loopback, free port): it
gives the agent a notify socket and WATCHDOG_USEC=2000000, waits for READY=1 and the
agent's retained status "online", then sends the test-only command debug.block_loop
{"ms": 10000} (enabled by TIERD_TEST_HOOKS=1, agent/core/test_hooks.hpp). The loop sleeps,
so the WATCHDOG=1 pings stop; once none has come for the watchdog period the harness does
what systemd does on a watchdog timeout (SIGABRT, then SIGKILL if the agent is still there
after a grace period) and starts the agent again (Restart=on-failure). Checks: the pings
stopped within a period of the command, the agent was killed, its will marked it offline,
and the restarted agent says READY=1, pings again and comes back online.

  watchdog_stuck_loop_test.py TIERD              the test above
  watchdog_stuck_loop_test.py TIERD --hooks-off  without TIERD_TEST_HOOKS the op is unknown
  --json FILE                                    also write the figures as JSON
"""
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

WATCHDOG_USEC = 2_000_000
BLOCK_MS = 10_000
ABORT_GRACE_S = 3.0

args = sys.argv[1:]
tierd = os.path.abspath(args[0])
hooks_off = "--hooks-off" in args
json_out = args[args.index("--json") + 1] if "--json" in args else None
for tool in ("mosquitto", "mosquitto_sub", "mosquitto_pub", "mosquitto_rr"):
    if not shutil.which(tool):
        print(f"SKIP: no {tool}")
        sys.exit(0)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fail(msg):
    print("FAIL:", msg)
    for p in (agent_log_paths if "agent_log_paths" in globals() else []):
        if os.path.exists(p):
            print(f"--- {p}")
            print("".join(open(p, errors="replace").readlines()[-15:]))
    sys.exit(1)


def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


tmp = tempfile.mkdtemp(prefix="tierd-wd-")
port = free_port()
device = f"wd-{os.getpid()}"
procs = []
agent_log_paths = []


def cleanup():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def retained_state():
    """The agent's retained status state ("online", "offline" or None)."""
    r = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t",
                        f"tierd/v1/dev/{device}/status", "-C", "1", "-W", "1"],
                       capture_output=True, text=True)
    try:
        return json.loads(r.stdout.splitlines()[0]).get("state")
    except (IndexError, ValueError):
        return None


def wait_state(want, secs):
    deadline = time.time() + secs
    while time.time() < deadline:
        if retained_state() == want:
            return time.time()
        time.sleep(0.2)
    return None


def command(op, cmd_args=None, timeout=5):
    req = {"op": op}
    if cmd_args is not None:
        req["args"] = cmd_args
    r = subprocess.run(["mosquitto_rr", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(port),
                        "-t", f"tierd/v1/dev/{device}/cmd", "-e", f"wd/replies/{os.getpid()}",
                        "-m", json.dumps(req), "-W", str(timeout)],
                       capture_output=True, text=True)
    try:
        return json.loads(r.stdout.splitlines()[0])
    except (IndexError, ValueError):
        return None


try:
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    procs.append(broker)
    for _ in range(50):
        if subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", "wd/probe",
                           "-n"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    else:
        fail("mosquitto did not start")

    sock_path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.05)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC=str(WATCHDOG_USEC))
    env.pop("TIERD_TEST_HOOKS", None)
    if not hooks_off:
        env["TIERD_TEST_HOOKS"] = "1"
    messages = []  # (time, message)

    def start_agent(n):
        log = os.path.join(tmp, f"agent{n}.log")
        agent_log_paths.append(log)
        p = subprocess.Popen([tierd, "--device-id", device, "--set", f"mqtt.port={port}",
                              "--set", "mqtt.host=\"127.0.0.1\"", "--set", "mqtt.keepalive_s=5"],
                             env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                             stderr=open(log, "w"), preexec_fn=no_core)
        procs.append(p)
        return p

    def recv_until(pred, secs):
        """Reads notify messages until pred(messages) or secs pass; returns pred's value."""
        deadline = time.time() + secs
        while time.time() < deadline:
            v = pred()
            if v:
                return v
            try:
                messages.append((time.time(), sock.recv(4096).decode()))
            except socket.timeout:
                pass
        return pred()

    def since(t0, text):
        return [t for t, m in messages if t >= t0 and m == text or (t >= t0 and text in m.split("\n"))]

    t_start = time.time()
    agent = start_agent(1)
    if not recv_until(lambda: since(t_start, "READY=1"), 20):
        fail("no READY=1 from the agent")
    t_ready = since(t_start, "READY=1")[0]
    if not wait_state("online", 15):
        fail("the agent did not come online")

    if hooks_off:
        reply = command("debug.block_loop", {"ms": 100})
        if reply is None:
            fail("no reply to debug.block_loop")
        code = reply.get("error", {}).get("code")
        if reply.get("ok") or code != "unknown_op":
            fail(f"without TIERD_TEST_HOOKS debug.block_loop should be unknown_op: {reply}")
        ping = command("ping")
        if not ping or not ping.get("ok"):
            fail(f"ping after the refused op: {ping}")
        agent.terminate()
        agent.wait(timeout=10)
        print(f"PASS: without TIERD_TEST_HOOKS debug.block_loop is {code}; the agent serves on")
        sys.exit(0)

    # Healthy: pings at half the period.
    t0 = time.time()
    recv_until(lambda: False, 2.5)
    healthy_pings = len(since(t0, "WATCHDOG=1"))
    if healthy_pings < 2:
        fail(f"only {healthy_pings} WATCHDOG=1 in 2.5 s before the block")

    # Block the loop. The request goes out with mosquitto_pub: its reply comes only after
    # the block, which the harness does not wait for (systemd kills the agent first).
    t_block = time.time()
    subprocess.run(["mosquitto_pub", "-V", "mqttv5", "-h", "127.0.0.1", "-p", str(port),
                    "-t", f"tierd/v1/dev/{device}/cmd", "-D", "publish", "response-topic",
                    f"wd/replies/{os.getpid()}", "-m",
                    json.dumps({"op": "debug.block_loop", "args": {"ms": BLOCK_MS}})], check=True)
    period = WATCHDOG_USEC / 1e6

    def last_ping():
        pings = [t for t, m in messages if m == "WATCHDOG=1"]
        return pings[-1] if pings else t_ready

    # systemd: a watchdog timeout when no ping came for the period.
    timed_out = recv_until(lambda: time.time() - last_ping() > period, BLOCK_MS / 1000)
    t_timeout = time.time()
    if not timed_out:
        fail("the pings did not stop while the loop was blocked")
    stalled_from = last_ping()
    if stalled_from - t_block > period:
        fail(f"pings went on {stalled_from - t_block:.2f} s after the block command")
    # Like systemd: SIGABRT (WatchdogSignal), then SIGKILL after a grace period.
    agent.send_signal(signal.SIGABRT)
    try:
        agent.wait(timeout=ABORT_GRACE_S)
        killed_by = "SIGABRT"
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
        killed_by = "SIGKILL"
    t_dead = time.time()
    rc = agent.returncode
    if rc >= 0:
        fail(f"the agent exited with {rc}, not by a signal")
    t_offline = wait_state("offline", 10)
    if not t_offline:
        fail("the retained status did not become offline (will) after the kill")

    # Restart=on-failure: a new agent, same device.
    t_restart = time.time()
    agent = start_agent(2)
    if not recv_until(lambda: since(t_restart, "READY=1"), 20):
        fail("the restarted agent sent no READY=1")
    t_ready2 = since(t_restart, "READY=1")[0]
    t_online2 = wait_state("online", 15)
    if not t_online2:
        fail("the restarted agent did not come online")
    t1 = time.time()
    recv_until(lambda: False, 2.5)
    pings2 = len(since(t1, "WATCHDOG=1"))
    if pings2 < 2:
        fail(f"the restarted agent sent only {pings2} WATCHDOG=1 in 2.5 s")
    reply = command("ping")
    if not reply or not reply.get("ok"):
        fail(f"the restarted agent does not answer ping: {reply}")
    agent.terminate()
    agent.wait(timeout=10)

    figures = {
        "watchdog_usec": WATCHDOG_USEC, "block_ms": BLOCK_MS,
        "healthy_pings_2_5s": healthy_pings,
        "last_ping_after_block_s": round(stalled_from - t_block, 3),
        "watchdog_timeout_after_block_s": round(t_timeout - t_block, 3),
        "killed_by": killed_by, "exit_signal": -rc,
        "kill_to_offline_s": round(t_offline - t_dead, 3),
        "restart_to_ready_s": round(t_ready2 - t_restart, 3),
        "restart_to_online_s": round(t_online2 - t_restart, 3),
        "pings_after_restart_2_5s": pings2,
        "ok": True,
    }
    if json_out:
        with open(json_out, "w") as f:
            json.dump(figures, f, indent=1)
    print(f"PASS: watchdog: last ping {figures['last_ping_after_block_s']} s after the block, "
          f"timeout at {figures['watchdog_timeout_after_block_s']} s, {killed_by} (signal {-rc}), "
          f"offline {figures['kill_to_offline_s']} s after, restarted: READY in "
          f"{figures['restart_to_ready_s']} s, online in {figures['restart_to_online_s']} s, "
          f"{pings2} pings in 2.5 s")
finally:
    cleanup()
