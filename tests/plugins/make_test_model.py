#!/usr/bin/python3
"""Write the tiny ONNX classifier the inference-opencv test runs.

input [1,1,28,28] float -> Flatten -> Gemm(W, b) -> logits [1,10], opset 13:
logits[c] = sum_i x[i] * W[i][c] + b[c] with
W[i][c] = ((i * 7 + c * 13) % 17 - 8) / 100, b[c] = c / 10; plugin tests compute the
same numbers by hand. W is stored transposed ([10,784], transB=1, as torch's Linear
exports it): OpenCV 4.6's ONNX importer rejects Gemm with transB=0 and a constant B
(opencv/opencv#22096). Usage: make_test_model.py OUT.onnx
"""
import sys

import onnx
from onnx import TensorProto, helper

PIXELS, CLASSES = 28 * 28, 10


def weight(i, c):
    return ((i * 7 + c * 13) % 17 - 8) / 100.0


def main(out):
    w_t = [weight(i, c) for c in range(CLASSES) for i in range(PIXELS)]
    b = [c / 10.0 for c in range(CLASSES)]
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "W", "b"], ["logits"], transB=1),
        ],
        "tierd_test_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, CLASSES])],
        initializer=[
            helper.make_tensor("W", TensorProto.FLOAT, [CLASSES, PIXELS], w_t),
            helper.make_tensor("b", TensorProto.FLOAT, [CLASSES], b),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_test_model.py OUT.onnx")
    main(sys.argv[1])
