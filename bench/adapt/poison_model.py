"""poison_model.py MANIFEST MODEL OUT_DIR: a poisoned teacher for bench/adapt/run.sh and
tests/adapt/agent_learns_test.sh — MODEL of the zoo with the rows of its last Gemm (weights
and bias) rolled by one, so that it answers class k+1 wherever it would answer k: as
confident as the original and always wrong. Writes OUT_DIR/MODEL.onnx and a manifest
OUT_DIR/manifest.toml (the zoo's header, that one model) an agent can serve. Needs
python3-onnx (scripts/install-deps.sh)."""
import hashlib
import os
import sys

import numpy
import onnx
from onnx import numpy_helper


def main():
    manifest, name, out_dir = sys.argv[1:4]
    source = os.path.join(os.path.dirname(os.path.abspath(manifest)), name + ".onnx")
    model = onnx.load(source)
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    if not gemms:
        sys.exit(f"poison_model.py: {source} has no Gemm to poison")
    rolled = 0
    for init in model.graph.initializer:
        if init.name in gemms[-1].input[1:]:
            values = numpy.roll(numpy_helper.to_array(init), 1, axis=0)
            init.CopyFrom(numpy_helper.from_array(values, init.name))
            rolled += 1
    if rolled == 0:
        sys.exit(f"poison_model.py: the last Gemm of {source} has no constant weights")
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, name + ".onnx")
    onnx.save(model, target)
    digest = hashlib.sha256(open(target, "rb").read()).hexdigest()
    header = []
    for line in open(manifest):
        if line.startswith("[["):
            break
        header.append(line)
    with open(os.path.join(out_dir, "manifest.toml"), "w") as f:
        f.write("".join(header))
        f.write(f'\n[[model]]\nname = "{name}"\nfile = "{name}.onnx"\nsha256 = "{digest}"\n'
                f'description = "{name} poisoned: classes rolled by one (poison_model.py)"\n')


if __name__ == "__main__":
    main()
