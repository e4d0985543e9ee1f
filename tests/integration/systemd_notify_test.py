#!/usr/bin/env python3
"""tierd speaks sd_notify as systemd would see it: READY=1 after start-up, WATCHDOG=1
pings from the loop while WATCHDOG_USEC is set, STOPPING=1 and exit 0 on SIGTERM.
A real notify socket stands in for systemd's; no broker is needed (the agent keeps
running without one)."""
import os
import socket
import subprocess
import sys
import tempfile
import time

tierd = sys.argv[1]
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
    proc = subprocess.Popen([tierd, "--device-id", "notify-test", "--set", "mqtt.port=1"],
                            env=env, stderr=subprocess.DEVNULL)
    messages = []
    # Start-up (loading the plugins) may take a while on a busy machine: count the pings
    # over 1.5 s from READY=1 on.
    ready_by = time.time() + 15
    while time.time() < ready_by and not any("READY=1" in m for m in messages):
        try:
            messages.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
    deadline = time.time() + 1.5
    while time.time() < deadline:
        try:
            messages.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
    proc.terminate()
    rc = proc.wait(timeout=10)
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except socket.timeout:
        pass

failures = []
if not any("READY=1" in m for m in messages):
    failures.append("no READY=1")
pings = sum(m == "WATCHDOG=1" for m in messages)
if pings < 3:  # 1.5 s at a 100 ms period should give ~15
    failures.append(f"only {pings} WATCHDOG=1 pings")
if not any("STOPPING=1" in m for m in messages):
    failures.append("no STOPPING=1")
if rc != 0:
    failures.append(f"exit code {rc} after SIGTERM")
if failures:
    print("FAIL:", "; ".join(failures), "messages:", messages)
    sys.exit(1)
print(f"PASS: READY, {pings} watchdog pings, STOPPING, exit 0")
