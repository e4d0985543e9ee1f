#!/usr/bin/python3
"""Write the small ONNX classifier the loop-lag benchmark's edge serves on 640x360 frames.

input [N,3,360,640] float -> Conv(8 filters, 8x8, stride 8) -> Relu -> GlobalAveragePool
-> Flatten -> Gemm -> logits [N,10], opset 13. About 11 MFLOPs per frame: the point is
what the edge's event loop does around 16-frame batches of 691,200-byte requests, not the
model. Weights are fixed numbers (no training): the classes it answers mean nothing.
The batch dimension is symbolic, so one forward pass takes a whole batch. Gemm stores W
transposed (transB=1), as OpenCV 4.6's ONNX importer wants (opencv/opencv#22096).
Usage: make_frame_model.py OUT.onnx
"""
import sys

import onnx
from onnx import TensorProto, helper

HEIGHT, WIDTH, FILTERS, KERNEL, CLASSES = 360, 640, 8, 8, 10


def main(out):
    conv_w = [((i * 7) % 13 - 6) / 100.0 for i in range(FILTERS * 3 * KERNEL * KERNEL)]
    conv_b = [0.0] * FILTERS
    gemm_w = [((i * 5) % 11 - 5) / 10.0 for i in range(CLASSES * FILTERS)]
    gemm_b = [c / 10.0 for c in range(CLASSES)]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "cw", "cb"], ["conv"],
                             kernel_shape=[KERNEL, KERNEL], strides=[KERNEL, KERNEL]),
            helper.make_node("Relu", ["conv"], ["act"]),
            helper.make_node("GlobalAveragePool", ["act"], ["pool"]),
            helper.make_node("Flatten", ["pool"], ["flat"], axis=1),
            helper.make_node("Gemm", ["flat", "gw", "gb"], ["logits"], transB=1),
        ],
        "tierd_bench_frame_classifier",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, HEIGHT, WIDTH])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        initializer=[
            helper.make_tensor("cw", TensorProto.FLOAT, [FILTERS, 3, KERNEL, KERNEL], conv_w),
            helper.make_tensor("cb", TensorProto.FLOAT, [FILTERS], conv_b),
            helper.make_tensor("gw", TensorProto.FLOAT, [CLASSES, FILTERS], gemm_w),
            helper.make_tensor("gb", TensorProto.FLOAT, [CLASSES], gemm_b),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_frame_model.py OUT.onnx")
    main(sys.argv[1])
