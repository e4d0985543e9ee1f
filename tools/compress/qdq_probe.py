#!/usr/bin/python3
"""Does this machine's OpenCV DNN run an int8 ONNX file? (issue 19: "OpenCV's quantize, or
QDQ ONNX that OpenCV 4.6 runs — measure which is faster".)

Writes three int8 variants of a zoo model with the onnx package and tries each through
cv2.dnn (the same library the agent links), printing one line per variant:

  qdq-weights   each Conv's weight an int8 initializer behind DequantizeLinear (per
                tensor; the file ~4x smaller), activations float
  qdq-full      the same plus QuantizeLinear/DequantizeLinear pairs on every Conv input
                (the QDQ layout onnxruntime's quantizer writes)
  qoperator     one QLinearConv (QuantizeLinear -> QLinearConv -> DequantizeLinear), the
                operator layout

  qdq_probe.py [MODEL.onnx]      (default models/resnet-20.onnx)

Exit status 0 whatever the outcome: the output is the finding. For OpenCV 4.6.0 on Debian
12 all three fail to load (tools/compress/README.md quotes the errors), so tierd's int8 is
cv::dnn::Net::quantize at load time, measured by compress_eval --int8.
"""
import os
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def quantize_weights(model, activations):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes = []
    for n in g.node:
        if n.op_type == "Conv" and n.input[1] in inits:
            w = numpy_helper.to_array(inits[n.input[1]])
            scale = float(np.abs(w).max()) / 127.0 or 1e-8
            q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
            base = n.input[1]
            g.initializer.remove(inits[base])
            g.initializer.extend([numpy_helper.from_array(q, base + "_q"),
                                  numpy_helper.from_array(np.array(scale, np.float32), base + "_s"),
                                  numpy_helper.from_array(np.array(0, np.int8), base + "_z")])
            nodes.append(helper.make_node("DequantizeLinear", [base + "_q", base + "_s", base + "_z"], [base]))
            if activations:
                x = n.input[0]
                g.initializer.extend([numpy_helper.from_array(np.array(0.05, np.float32), x + "_as"),
                                      numpy_helper.from_array(np.array(0, np.int8), x + "_az")])
                nodes.append(helper.make_node("QuantizeLinear", [x, x + "_as", x + "_az"], [x + "_q8"]))
                nodes.append(helper.make_node("DequantizeLinear", [x + "_q8", x + "_as", x + "_az"], [x + "_dq"]))
                n.input[0] = x + "_dq"
        nodes.append(n)
    del g.node[:]
    g.node.extend(nodes)
    return model


def qoperator():
    rng = np.random.RandomState(0)
    w = rng.randn(16, 1, 3, 3).astype(np.float32) * 0.3
    ws = np.abs(w).reshape(16, -1).max(1) / 127
    q = np.round(w / ws[:, None, None, None]).astype(np.int8)
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "xs"), numpy_helper.from_array(np.array(0, np.int8), "xz"),
             numpy_helper.from_array(q, "w"), numpy_helper.from_array(ws.astype(np.float32), "wsc"),
             numpy_helper.from_array(np.zeros(16, np.int8), "wz"),
             numpy_helper.from_array(np.array(0.05, np.float32), "ys"), numpy_helper.from_array(np.array(0, np.int8), "yz"),
             numpy_helper.from_array(np.zeros(16, np.int32), "b")]
    nodes = [helper.make_node("QuantizeLinear", ["input", "xs", "xz"], ["xq"]),
             helper.make_node("QLinearConv", ["xq", "xs", "xz", "w", "wsc", "wz", "ys", "yz", "b"], ["yq"],
                              pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["logits"])]
    g = helper.make_graph(nodes, "qop", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 16, 28, 28])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def try_load(cv2, path, reference):
    try:
        net = cv2.dnn.readNet(path)
        x = np.random.RandomState(1).rand(1, 1, 28, 28).astype(np.float32)
        net.setInput(x)
        out = net.forward()
        t0 = time.time()
        for _ in range(200):
            net.setInput(x)
            net.forward()
        ms = (time.time() - t0) / 200 * 1000
        return f"loads and runs: {ms:.3f} ms per image; output shape {out.shape}" + (
            f", max |diff| vs fp32 {float(np.abs(out - reference).max()):.4f}" if reference is not None and
            reference.shape == out.shape else "")
    except cv2.error as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        return "FAILS: " + " / ".join(lines[-2:])


def main():
    import cv2
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "models", "resnet-20.onnx")
    print(f"OpenCV {cv2.__version__}, onnx {onnx.__version__}, model {src} ({os.path.getsize(src):,} bytes)")
    ref = cv2.dnn.readNet(src)
    x = np.random.RandomState(1).rand(1, 1, 28, 28).astype(np.float32)
    ref.setInput(x)
    reference = ref.forward()
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("qdq-weights", lambda: quantize_weights(onnx.load(src), False)),
                           ("qdq-full", lambda: quantize_weights(onnx.load(src), True)),
                           ("qoperator", qoperator)):
            path = os.path.join(tmp, name + ".onnx")
            onnx.save(make(), path)
            print(f"{name} ({os.path.getsize(path):,} bytes): {try_load(cv2, path, reference)}", flush=True)


if __name__ == "__main__":
    main()
