#!/usr/bin/python3
"""A DNS server that never answers: binds 127.0.0.1:53 (UDP and TCP), reads every query
and says nothing, so a resolver that asks it waits out its whole timeout. Each time a
query arrives it rewrites COUNT_FILE with the number of queries so far, so the benchmark
can show the agent really asked. Runs until killed. Needs to bind port 53: run it as root
inside the network namespace the benchmark made (bench/loop_lag/run.sh).
Usage: silent_dns.py COUNT_FILE
"""
import selectors
import socket
import sys


def main(count_file):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", 53))
    tcp.listen(16)
    held = []  # accepted TCP connections, kept open and unanswered
    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ)
    sel.register(tcp, selectors.EVENT_READ)
    queries = 0
    with open(count_file, "w") as f:
        f.write("0\n")
    while True:
        for key, _ in sel.select():
            if key.fileobj is udp:
                udp.recvfrom(4096)
            else:
                conn, _ = tcp.accept()
                held.append(conn)
            queries += 1
            with open(count_file, "w") as f:
                f.write(f"{queries}\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: silent_dns.py COUNT_FILE")
    main(sys.argv[1])
