#!/usr/bin/python3
"""Write split-execution sub-models for the model zoo and list them in the manifest.

For every [[model]] in models/manifest.toml: find the candidate cut points of its ONNX
graph, write a head (nodes [0, k)) and a tail (nodes [k, n)) ONNX model per cut under
models/split/, check both through OpenCV DNN in C++ (tools/zoo/split_check: tail(head(x))
against full(x) on the first 256 test images), and record the cuts that pass as
[[model.cut]] entries in the manifest (replacing earlier ones). Normally the last step of
tools/zoo/build.sh; see tools/zoo/README.md, "Split sub-models".

  split.py --split-check BIN [--keep-run-interiors] [--keep-work]

Which cuts: exactly one non-constant tensor crosses from the head to the tail; the cut
sits right after a Relu, an Add not followed by a Relu, a pooling node, a Flatten, a
Concat or a CHW Reshape; of cuts with only data movement (Flatten, Reshape, Transpose)
between them the first that OpenCV runs is kept; and a cut between two identical blocks
whose neighbouring cuts carry as many elements is dropped (the run's ends are kept), which
keeps models/ under its 30 MB budget. Nothing under models/ changes if the result would
exceed the budget.

Run with Debian's interpreter (/usr/bin/python3: python3-onnx 1.12, and python3-torch
because it reuses zoo.py's helpers).
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib

import onnx
import onnx.checker
import onnx.shape_inference
import onnx.utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402  (helpers and the manifest's header text)

SPLIT_DIR = os.path.join(zoo.MODELS_DIR, "split")
SAMPLE = zoo.SAMPLE  # test images compared, tail(head(x)) vs full(x): 256
MAX_DIFF = 1e-4     # a cut with a larger max |logit difference| is dropped
BUDGET = 30 * 1000 * 1000  # bytes under models/, the video detectors (det-*.onnx) apart

# A cut is kept only right after one of these nodes (its output is the crossing tensor).
MEANINGFUL = {"Relu", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten",
              "Concat", "Reshape"}
# Nodes that only move or relabel data: two cuts separated by nothing else carry the same
# elements, so only the first of them is kept (the next one if OpenCV rejects the first).
DATA_MOVEMENT = {"Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity",
                 "Constant"}


def per_image_shapes(model):
    """Shape without the batch axis of every tensor, from ONNX shape inference on a copy
    whose batch axis is fixed to 1 (constant Reshape targets then resolve their -1)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in list(m.graph.input) + list(m.graph.output):
        dim0 = vi.type.tensor_type.shape.dim[0]
        dim0.Clear()
        dim0.dim_value = 1
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True, data_prop=True)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims) and dims[0].dim_value == 1:
            shapes[vi.name] = [d.dim_value for d in dims[1:]]
    return shapes


def find_cuts(model, shapes):
    """Candidate cuts as dicts (layer, tensor, op): the positions k in the graph's node
    order (topological, as exported) where exactly one non-constant tensor made by nodes
    [0, k) or the graph input is read by nodes [k, n), right after a meaningful node that
    made it."""
    g = model.graph
    nodes = list(g.node)
    n = len(nodes)
    constants = {i.name for i in g.initializer}
    constants |= {o for nd in nodes if nd.op_type == "Constant" for o in nd.output}
    produced_at = {}
    for i, nd in enumerate(nodes):
        for o in nd.output:
            produced_at[o] = i
    for i, nd in enumerate(nodes):  # the order must be topological
        for t in nd.input:
            if t and t in produced_at and produced_at[t] >= i:
                raise SystemExit(f"node {i} ({nd.op_type}) reads {t} before it is made")
    consumers = {}
    for i, nd in enumerate(nodes):
        for t in nd.input:
            consumers.setdefault(t, []).append(i)
    graph_inputs = {vi.name for vi in g.input} - constants
    graph_outputs = {vi.name for vi in g.output}

    def last_use(t):
        return max(consumers.get(t, [-1]) + ([n] if t in graph_outputs else []))

    cuts = []
    for k in range(1, n):
        crossing = sorted(
            t for t in set(produced_at) | graph_inputs
            if t not in constants and produced_at.get(t, -1) < k and last_use(t) >= k)
        if len(crossing) != 1:
            continue
        t = crossing[0]
        prod = produced_at.get(t, -1)
        if prod != k - 1:
            continue  # the tensor was made earlier: that cut is (or was) listed already
        op = nodes[prod].op_type
        if op not in MEANINGFUL:
            continue
        if op == "Add" and any(nodes[c].op_type == "Relu" for c in consumers.get(t, [])):
            continue  # the Relu after it is the cut
        if op == "Reshape" and len(shapes.get(t, [])) != 3:
            continue  # e.g. the 5-D middle of a channel shuffle: keep CHW tensors only
        cuts.append({"layer": k, "tensor": t, "op": op})
    return nodes, cuts


def group_equivalent(nodes, cuts, shapes):
    """Gives each cut a group id; consecutive cuts with the same number of elements and
    only data-movement nodes between them share one."""
    group = -1
    for i, c in enumerate(cuts):
        c["shape"] = shapes.get(c["tensor"])
        c["elements"] = math.prod(c["shape"]) if c["shape"] is not None else None
        prev = cuts[i - 1] if i else None
        if (prev is not None and c["elements"] is not None
                and prev["elements"] == c["elements"]
                and all(nd.op_type in DATA_MOVEMENT for nd in nodes[prev["layer"]:c["layer"]])):
            c["group"] = group
        else:
            group += 1
            c["group"] = group


def set_batch_shape(vi, shape):
    """vi's shape becomes ["batch", *shape]."""
    tshape = vi.type.tensor_type.shape
    tshape.Clear()
    d = tshape.dim.add()
    d.dim_param = "batch"
    for v in shape:
        tshape.dim.add().dim_value = v


def write_submodels(model, name, cut, outdir):
    """Writes NAME.head<k>.onnx and NAME.tail<k>.onnx into outdir (onnx.utils.Extractor)."""
    ex = onnx.utils.Extractor(model)
    inp, out = model.graph.input[0].name, model.graph.output[0].name
    paths = {}
    for part, ins, outs in (("head", [inp], [cut["tensor"]]), ("tail", [cut["tensor"]], [out])):
        sub = ex.extract_model(ins, outs)
        if part == "head":
            set_batch_shape(sub.graph.output[0], cut["shape"])
        else:
            set_batch_shape(sub.graph.input[0], cut["shape"])
        # Intermediate shapes came from shape inference (the original files have none).
        del sub.graph.value_info[:]
        sub.graph.name = f"{name}-{part}{cut['layer']}"
        sub.producer_name = "tierd tools/zoo/split.py"
        onnx.checker.check_model(sub, full_check=True)
        path = os.path.join(outdir, f"{name}.{part}{cut['layer']}.onnx")
        onnx.save(sub, path)
        onnx.checker.check_model(path)
        paths[part] = path
    return paths


def run_split_check(binary, manifest, full, cuts):
    cmd = [binary, "--limit", str(SAMPLE), "--threads", str(zoo.THREADS),
           "--data", os.environ.get("TIERD_FMNIST_DIR", manifest["dataset_dir"]),
           "--scale", repr(manifest["scale"]), "--mean", repr(manifest["mean"]), "--full", full]
    for c in cuts:
        cmd += ["--cut", str(c["layer"]), c["paths"]["head"], c["paths"]["tail"], c["tensor"]]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"split_check failed ({proc.returncode}): {proc.stderr.strip()}")
    return {r["id"]: r for r in json.loads(proc.stdout)["cuts"]}


def choose(name, cuts, results):
    """Per group the first cut that OpenCV runs within MAX_DIFF with the same argmax and
    the expected shape; prints why each other cut is not kept."""
    kept, done = [], set()
    for c in cuts:
        r = results[str(c["layer"])]
        why = None
        if c["group"] in done:
            why = f"same elements as the kept cut {kept[-1]['layer']} (only data movement between)"
        elif c["shape"] is None:
            why = "shape inference gives no per-image shape"
        elif not r["ok"]:
            why = f"OpenCV cannot run it: {r['error']}"
        elif r["max_diff"] > MAX_DIFF:
            why = f"max diff {r['max_diff']:.3g} > {MAX_DIFF:g}"
        elif r["argmax_mismatch"]:
            why = f"argmax differs on {r['argmax_mismatch']} images"
        elif r["head_shape"] != c["shape"]:
            why = f"OpenCV head shape {r['head_shape']} != ONNX shape {c['shape']}"
        line = (f"  {name} k={c['layer']:3d} {c['op']:17s} {c['tensor']} "
                f"{c['shape']} ({c['elements']} elements)")
        if why:
            print(f"{line}: dropped: {why}")
            continue
        c["max_diff"] = r["max_diff"]
        kept.append(c)
        done.add(c["group"])
        print(f"{line}: kept, max diff {r['max_diff']:.3g}")
    return kept


def cut_entry(name, c):
    head = f"split/{name}.head{c['layer']}.onnx"
    tail = f"split/{name}.tail{c['layer']}.onnx"
    return [
        "[[model.cut]]",
        f"layer = {c['layer']}",
        f"tensor = {zoo.fmt(c['tensor'])}",
        f"shape = {zoo.fmt(c['shape'])}",
        f"elements = {c['elements']}",
        f"head = {zoo.fmt(head)}",
        f"head_sha256 = {zoo.fmt(zoo.sha256(os.path.join(zoo.MODELS_DIR, head)))}",
        f"tail = {zoo.fmt(tail)}",
        f"tail_sha256 = {zoo.fmt(zoo.sha256(os.path.join(zoo.MODELS_DIR, tail)))}",
        f"max_diff = {float('%.3g' % c['max_diff'])!r}",
    ]


def rewrite_manifest(path, cuts_by_model):
    """Replaces the [[model.cut]] tables of the listed models (a model whose cuts are not
    listed keeps its tables) and the header's cut comment (zoo.CUT_COMMENT)."""
    text = open(path).read()
    starts = [m.start() for m in re.finditer(r"^\[\[model\]\]\s*$", text, re.M)]
    if not starts:
        sys.exit(f"{path}: no [[model]] tables")
    header, blocks = text[:starts[0]], [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]

    # Header: drop an old copy of the cut comment, then add it after the leading comments.
    lines = header.split("\n")
    old = [i for i, line in enumerate(lines) if line.startswith("# [[model.cut]]")]
    if old:
        i = old[0]
        j = i
        while j < len(lines) and lines[j].startswith("#"):
            j += 1
        if i > 0 and lines[i - 1] == "#":
            i -= 1
        del lines[i:j]
    end = 0
    while end < len(lines) and lines[end].startswith("#"):
        end += 1
    lines[end:end] = zoo.CUT_COMMENT
    header = "\n".join(lines)

    out = [header]
    for block in blocks:
        m = re.search(r'^name\s*=\s*"([^"]*)"\s*$', block, re.M)
        name = m.group(1) if m else None
        if name in cuts_by_model:
            c = re.search(r"^\[\[model\.cut\]\]\s*$", block, re.M)
            body = (block[:c.start()] if c else block).rstrip("\n") + "\n"
            for entry in cuts_by_model[name]:
                body += "\n" + "\n".join(entry) + "\n"
            block = body + "\n"
        out.append(block)
    new = "".join(out)
    tomllib.loads(new)  # must still parse
    with open(path, "w") as f:
        f.write(new)


def segment_signature(model, a, b):
    """What nodes [a, b) compute, independent of names: per node its op type, attributes,
    the shapes of its initializer inputs and, for tensor inputs, which earlier node of the
    segment made them (or "outside")."""
    inits = {i.name: tuple(i.dims) for i in model.graph.initializer}
    nodes = list(model.graph.node)[a:b]
    made = {o: j for j, nd in enumerate(nodes) for o in nd.output}
    sig = []
    for nd in nodes:
        ins = tuple(("w", inits[t]) if t in inits else ("t", made.get(t, "outside"))
                    for t in nd.input)
        attrs = tuple(sorted((at.name, at.SerializeToString()) for at in nd.attribute))
        sig.append((nd.op_type, ins, attrs))
    return tuple(sig)


def drop_run_interiors(model, name, kept):
    """Drops a kept cut whose two neighbouring kept cuts carry as many elements as it does
    and are separated from it by identical blocks (same ops, attributes and weight shapes):
    in the zoo, the cuts between the residual blocks of one stage. Those cuts send the
    same bytes, and with identical blocks a latency model that adds per-layer costs is
    linear along the run, so one of its ends is always at least as good; each dropped cut
    saves a head+tail pair (about the size of the whole model) of the 30 MB budget."""
    out = []
    for i, c in enumerate(kept):
        if 0 < i < len(kept) - 1:
            p, q = kept[i - 1], kept[i + 1]
            if (p["elements"] == c["elements"] == q["elements"]
                    and segment_signature(model, p["layer"], c["layer"])
                    == segment_signature(model, c["layer"], q["layer"])):
                print(f"  {name} k={c['layer']:3d}: dropped: the blocks {p['layer']}..{c['layer']} "
                      f"and {c['layer']}..{q['layer']} are identical and all three cuts carry "
                      f"{c['elements']} elements (the run's ends are kept)")
                continue
        out.append(c)
    return out


def dir_bytes(path):
    """Bytes under `path`, the video detectors (det-*.onnx) and the compressed variants
    (compressed/: tools/compress/ship.py) apart: each has its own budget."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files if not f.startswith("det-")
               and os.path.relpath(d, path).split(os.sep)[0] != "compressed")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split-check", required=True, help="the split_check binary (tools/zoo)")
    ap.add_argument("--keep-run-interiors", action="store_true",
                    help="keep the cuts between identical blocks too (over budget for this zoo)")
    ap.add_argument("--keep-work", action="store_true",
                    help="keep the candidate files (printed work directory)")
    args = ap.parse_args()

    manifest_path = os.path.join(zoo.MODELS_DIR, "manifest.toml")
    with open(manifest_path, "rb") as f:
        manifest = tomllib.load(f)
    os.makedirs(zoo.WORK_DIR, exist_ok=True)
    work = tempfile.mkdtemp(prefix="split-", dir=zoo.WORK_DIR)
    try:
        plan = []  # (name, kept cuts)
        for m in manifest["model"]:
            name = m["name"]
            full = os.path.join(zoo.MODELS_DIR, m["file"])
            model = onnx.load(full)
            shapes = per_image_shapes(model)
            nodes, cuts = find_cuts(model, shapes)
            group_equivalent(nodes, cuts, shapes)
            for c in cuts:
                c["paths"] = (write_submodels(model, name, c, work)
                              if c["shape"] is not None else None)
            testable = [c for c in cuts if c["paths"]]
            results = run_split_check(args.split_check, manifest, full, testable) if testable else {}
            for c in cuts:
                results.setdefault(str(c["layer"]), {"ok": False, "error": "not written"})
            print(f"{name}: {len(nodes)} nodes, {len(cuts)} candidate cuts")
            kept = choose(name, cuts, results)
            if not args.keep_run_interiors:
                kept = drop_run_interiors(model, name, kept)
            plan.append((name, kept))

        # The budget, before anything under models/ changes.
        os.makedirs(SPLIT_DIR, exist_ok=True)
        names = {name for name, _ in plan}
        pattern = re.compile(r"(.+)\.(head|tail)\d+\.onnx$")
        stale = [f for f in os.listdir(SPLIT_DIR)
                 if pattern.match(f) and pattern.match(f).group(1) in names]
        new_bytes = sum(os.path.getsize(c["paths"][p]) for _, kept in plan for c in kept
                        for p in ("head", "tail"))
        total = (dir_bytes(zoo.MODELS_DIR) + new_bytes
                 - sum(os.path.getsize(os.path.join(SPLIT_DIR, f)) for f in stale))
        if total >= BUDGET:
            sys.exit(f"models/ would hold {total} bytes: over the {BUDGET / 1e6:.0f} MB budget; "
                     "nothing changed")

        for f in stale:
            os.remove(os.path.join(SPLIT_DIR, f))
        for _, kept in plan:
            for c in kept:
                for part in ("head", "tail"):
                    shutil.copyfile(c["paths"][part],
                                    os.path.join(SPLIT_DIR, os.path.basename(c["paths"][part])))
        rewrite_manifest(manifest_path, {name: [cut_entry(name, c) for c in kept]
                                         for name, kept in plan})
    finally:
        if args.keep_work:
            print(f"candidate files kept in {work}")
        else:
            shutil.rmtree(work)

    print("\nkept cuts (layer: elements, max diff):")
    for name, kept in plan:
        print(f"  {name:14s} " + ", ".join(f"{c['layer']}: {c['elements']} ({c['max_diff']:.2g})"
                                         for c in kept))
    print(f"wrote {sum(len(k) for _, k in plan)} cuts: models/split/ "
          f"({dir_bytes(SPLIT_DIR) / 1e6:.2f} MB) and the [[model.cut]] tables of "
          f"models/manifest.toml; models/ holds {dir_bytes(zoo.MODELS_DIR) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
