#!/usr/bin/env python3
"""Writes the text seeds of fuzz/corpus/ (commands, configs, plugin tables, manifests) and
the small PNG/PGM/PPM/BMP image seeds. The offload request/reply seeds, the JPEG and the
"TDI1" image come from the real codec: fuzz/make_seeds.cpp (build-asan/fuzz/fuzz_make_seeds
fuzz/corpus). Re-run both after changing a format; the output is committed.
Usage: fuzz/make_corpus.py"""
import os
import re
import struct
import zlib

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
corpus = os.path.join(top, "fuzz", "corpus")


def write(harness, name, data):
    d = os.path.join(corpus, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- command: the requests of docs/mqtt.md, and the malformed ones it names ---------
commands = {
    "ping": '{"op": "ping", "args": {}}',
    "ping-noargs": '{"op":"ping"}',
    "status": '{"op": "status"}',
    "get-config": '{"op": "get-config", "args": {}}',
    "set-config": '{"op": "set-config", "args": {"changes": {"telemetry.interval_ms": 500}}}',
    "set-config-many": '{"op":"set-config","args":{"changes":{"mqtt.port":1884,'
    '"agent.groups":["site-3"],"source.rate_hz":2.5,"plugin.scheduler-rule.rule":"always-edge",'
    '"pipeline.local_first":true}}}',
    "set-config-bad": '{"op":"set-config","args":{"changes":{"mqtt.port":"x","nope.key":1,'
    '"..":2,"agent":{"role":"cloud"}}}}',
    "reload": '{"op": "reload"}',
    "hal": '{"op": "hal"}',
    "profile": '{"op": "profile", "args": {"images": "/tmp/t10k-images-idx3-ubyte.gz", "runs": 5}}',
    "policy-set": '{"op":"policy.set","args":{"policy":{"policy":"weighted","w_energy":2}}}',
    "plugins-list": '{"op": "plugins.list"}',
    "plugins-load": '{"op": "plugins.load", "args": {"name": "fusion-passthrough"}}',
    "plugins-unload": '{"op": "plugins.unload", "args": {"name": "fusion-passthrough"}}',
    "unknown-op": '{"op": "x"}',
    "args-not-object": '{"op": "ping", "args": [1, 2]}',
    "op-not-string": '{"op": 7}',
    "not-object": '[{"op": "ping"}]',
    "malformed": '{"op": "ping", ',
    "unicode": '{"op": "set-config", "args": {"changes": {"agent.device_id": "cam-\\u00e9\\ud83d\\ude00"}}}',
}
for name, text in commands.items():
    write("command", name + ".json", text)

# --- peer: other agents' statuses and profiles (fuzz/peer_fuzz.cpp) -----------------
statuses = {
    "status-online": '{"v":1,"state":"online","device_id":"edge-1","role":"edge","version":"0.1.0","groups":[],"plugins":{"loaded":[],"refused":[]}}',
    "status-loading": '{"v":1,"state":"online","device_id":"edge-1","role":"edge","plugins":{"loaded":[],"refused":[],"loading":true}}',
    "status-offline": '{"v":1,"state":"offline","device_id":"edge-1","role":"edge","groups":["site-3"]}',
    "status-bad-types": '{"device_id":"x","state":5,"role":["edge"],"plugins":7}',
}
profiles = {
    "profile": '{"v":1,"device_id":"edge-1","tier":"edge","slowdown":1,"runs":20,"images":65,"models":[{"name":"m","top1":0.92,"input_bytes":784,"full_ms":0.71,"cuts":[{"layer":50,"elements":64,"head_ms":0.70,"tail_ms":0.01,"int8_agreement":1.0}]}]}',
    "profile-no-cuts": '{"tier":"edge","models":[{"name":"m","full_ms":3,"cuts":null},{"name":"n"}]}',
    "profile-bad-model": '{"tier":"edge","models":[5,{"name":"m","cuts":[1]}]}',
    "profile-clear": '',
}
# The harness reads an even first byte as a status, an odd one as a profile.
for prefix, seeds in (("0", statuses), ("1", profiles)):
    for name, text in seeds.items():
        write("peer", name + ".json", prefix + text)

# --- config: the shipped file and variants -----------------------------------------
with open(os.path.join(top, "config", "tierd.toml")) as f:
    full = f.read()
write("config", "tierd.toml", full)
bare = "\n".join(l for l in full.splitlines() if l.strip() and not l.lstrip().startswith("#"))
write("config", "tierd-bare.toml", bare + "\n")
write("config", "empty.toml", "")
write("config", "minimal.toml", '[mqtt]\nhost = "broker.local"\nport = 8883\n')
write("config", "end-topic.toml", '''[agent]
device_id = "cam-17"
role = "end"
groups = ["site-3", "lab"]
[source]
kind = "topic"
limit = 100
rate_hz = 2.5
[pipeline]
local_first = true
emulate_slowdown = 4.0
[offload]
timeout_ms = 250
batch_max = 4
[plugins]
scheduler = "scheduler-mo"
[plugin.scheduler-mo]
policy = "constraints"
deadline_ms = 40.0
''')
write("config", "edge-tls.toml", '''[agent]
role = "edge"
[mqtt]
host = "10.0.0.2"
port = 8883
username = "edge-1"
password = "hunter2"
tls_ca_file = "/etc/tierd/ca.pem"
[spool]
storage = "memory"
when_full = "drop-newest"
max_bytes = 1048576
''')
write("config", "overrides.toml", '''#--set mqtt.port=18830
#--set agent.groups=["a", "b"]
#--set plugin.inference-opencv.backend=opencl
#--set source={kind = "idx", path = "/x"}
[mqtt]
host = "127.0.0.1"
''')
write("config", "bad-types.toml", '''[agent]
role = "fog"
drain_timeout_ms = -5
groups = "site"
[mqtt]
port = 70000
qos = 3.5
[workers]
overflow = 1
[nope]
x = 1
''')
write("config", "dates.toml", '[agent]\ndevice_id = 1979-05-27T07:32:00Z\n[hal]\nroot = { a = [1, 2.5e3, "x", true] }\n')

# --- plugin_config: [plugin.fuzz] tables against the harness's fixed declaration -----
write("plugin_config", "defaults.toml", '''[plugin.fuzz]
model = ""
labels = ""
models = ""
input_width = 224
input_channels = 3
scale = 0.00392156862745098
mean = 0.0
swap_rb = false
backend = "cpu"
token = ""
''')
write("plugin_config", "set.toml", '''[plugin.fuzz]
model = "/etc/hostname"
labels = "labels.txt"
input_width = 28
input_channels = 1
scale = 1e-3
mean = -127.5
swap_rb = true
backend = "opencl"
token = "s3cr3t-fuzz-value"
''')
write("plugin_config", "bad.toml", '''[plugin.fuzz]
model = "/nonexistent/model.onnx"
input_width = 0
input_channels = 4.5
scale = "x"
backend = "tpu"
token = 5
unknown_key = 1
[plugin.other]
token = "s3cr3t-fuzz-value"
input_width = 9000
''')
write("plugin_config", "int-as-double.toml", '[plugin.fuzz]\nscale = 4\nmean = -1e6\ninput_width = 8192\n')
write("plugin_config", "empty.toml", "")

# --- manifest: the real zoo manifest, and a small one with a cut ------------------
with open(os.path.join(top, "models", "manifest.toml")) as f:
    manifest = f.read()
write("manifest", "manifest.toml", manifest)
# The real one without its long comment block and with two models: quicker to mutate.
models = manifest.split("[[model]]")
small = re.sub(r"(?m)^#.*\n", "", models[0]) + "[[model]]" + "[[model]]".join(models[1:3])
write("manifest", "small.toml", small)
write("manifest", "tiny.toml", '''input_shape = [1, 1, 28, 28]
scale = 0.00392156862745098
mean = 0.0
[[model]]
name = "m"
file = "m.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
top1 = 0.9
[[model.cut]]
layer = 3
tensor = "t"
shape = [8, 14, 14]
head = "m.head.onnx"
tail = "m.tail.onnx"
head_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
tail_sha256 = "2222222222222222222222222222222222222222222222222222222222222222"
''')


# --- image: small encoded images as a console would publish them -------------------
def png(width, height, color_type, rows):
    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c))
    raw = b"".join(b"\0" + r for r in rows)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


gray = [bytes((x * 9 + y * 3) & 0xff for x in range(28)) for y in range(28)]
write("image", "gray28.png", png(28, 28, 0, gray))
write("image", "rgb8.png", png(8, 8, 2, [bytes(((x + y) * 30) & 0xff for x in range(24)) for y in range(8)]))
write("image", "rgba4.png", png(4, 4, 6, [bytes(range(16 * y, 16 * y + 16)) for y in range(4)]))
write("image", "gray8.pgm", b"P5\n8 8\n255\n" + bytes(range(64)))
write("image", "gray16.pgm", b"P5\n4 4\n65535\n" + bytes(range(32)))
write("image", "rgb4.ppm", b"P6\n4 4\n255\n" + bytes(range(48)))
write("image", "ascii.pgm", b"P2\n3 2\n15\n0 3 6\n9 12 15\n")
bmp = (b"BM" + struct.pack("<IHHI", 54 + 48, 0, 0, 54)
       + struct.pack("<IiiHHIIiiII", 40, 4, 4, 1, 24, 0, 48, 2835, 2835, 0, 0)
       + bytes((i * 5) & 0xff for i in range(48)))
write("image", "bgr4.bmp", bmp)
