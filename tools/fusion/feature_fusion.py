"""Feature-level fusion of a key frame's det-heavy features with det-light's own
(docs/feature-fusion.md): the pieces the data maker, the trainer and the benchmark share.

What travels and what the end computes, per frame t with the newest key frame k <= t:
  key_p8     det-heavy's p8 map of frame k (after fuse8: 64 x 44 x 80, stride 8 of its
             640 x 352 input), quantised to 8 bits per channel (what the upstream sends),
             optionally only the cells inside its own boxes (a mask says which);
  flow       dense optical flow from frame t back to frame k (Farneback, gray, 160 x 88);
  warped     key_p8 resampled where the flow says each cell of frame t came from, plus the
             warped mask as a 65th channel (1 = the upstream sent this cell);
  light_p8   det-light's own p8 map of frame t (64 x 22 x 40, stride 8 of 320 x 176).
The fusion head (FusionHead) maps (light_p8, warped) to a heatmap and boxes on the 80 x 44
grid: stride 4 of det-light's 320 x 176 input, decoded like the detectors' outputs.
"""
import math

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 10
FRAME_W, FRAME_H = 640, 360
LIGHT_IN = (320, 176)
HEAVY_IN = (640, 352)
# OpenCV DNN names of the p8 maps (the same layer name in both detectors).
P8_LAYER = "onnx_node!/fuse8/fuse8.2/Relu"
KEY_C, KEY_H, KEY_W = 64, 44, 80
LIGHT_C, LIGHT_H, LIGHT_W = 64, 22, 40
FLOW_W, FLOW_H = 160, 88
# Fused output grid: stride 4 of det-light's input.
OUT_STRIDE = 4
# Cells of the key map sent with the "regions" compression: inside det-heavy's boxes
# scoring >= this, plus one cell of margin.
REGION_SCORE = 0.1


# ----------------------------------------------------------------------------- detectors
def run_detector(net, frame, size):
    """(heatmap [10,h,w], box [4,h,w], p8 [64,..]) of one BGR frame through OpenCV DNN."""
    net.setInput(cv2.dnn.blobFromImage(frame, 1 / 255.0, size))
    hm, box, p8 = net.forward(["heatmap", "box", P8_LAYER])
    return hm[0], box[0], p8[0]


def decode(hm, box, in_w, in_h, score=0.05, top_k=100, nms=0.5):
    """Boxes in frame pixels from a heatmap and box map, as the C++ decoder does
    (plugins/inference-opencv/detection_decoder.cpp): 3x3 local maxima >= score, box from
    exp(distance) * stride, scaled to the frame, clipped, per-class NMS, best top_k."""
    c, gh, gw = hm.shape
    stride = in_w / gw
    padded = np.pad(hm, ((0, 0), (1, 1), (1, 1)), constant_values=-1.0)
    peak = np.ones_like(hm, bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy == 1 and dx == 1:
                continue
            peak &= hm >= padded[:, dy:dy + gh, dx:dx + gw]
    cls, ii, jj = np.nonzero(peak & (hm >= score))
    sx, sy = FRAME_W / in_w, FRAME_H / in_h
    out = []
    if len(cls) == 0:
        return out
    d = np.exp(np.minimum(box[:, ii, jj], 8.0)) * stride
    cx, cy = (jj + 0.5) * stride, (ii + 0.5) * stride
    x1 = np.clip((cx - d[0]) * sx, 0, FRAME_W)
    y1 = np.clip((cy - d[1]) * sy, 0, FRAME_H)
    x2 = np.clip((cx + d[2]) * sx, 0, FRAME_W)
    y2 = np.clip((cy + d[3]) * sy, 0, FRAME_H)
    scores = hm[cls, ii, jj]
    for k in range(NUM_CLASSES):
        sel = np.nonzero(cls == k)[0]
        if len(sel) == 0:
            continue
        rects = [[float(x1[s]), float(y1[s]), float(x2[s] - x1[s]), float(y2[s] - y1[s])]
                 for s in sel]
        keep = cv2.dnn.NMSBoxes(rects, [float(scores[s]) for s in sel], score, nms)
        for q in np.array(keep).reshape(-1):
            s = sel[int(q)]
            out.append({"bbox": rects[int(q)], "category_id": k + 1, "score": float(scores[s])})
    out.sort(key=lambda b: -b["score"])
    return out[:top_k]


# ----------------------------------------------------------------------------- key features
def quantise_u8(x):
    """Per-channel affine 8 bits (ReLU maps are >= 0): returns (codes uint8 [C,H,W], lo
    float32 [C], scale float32 [C]); x ~ codes * scale + lo."""
    c = x.shape[0]
    lo = x.reshape(c, -1).min(1).astype(np.float32)
    hi = x.reshape(c, -1).max(1).astype(np.float32)
    scale = np.where(hi > lo, (hi - lo) / 255.0, 1.0).astype(np.float32)
    q = np.round((x - lo[:, None, None]) / scale[:, None, None]).clip(0, 255).astype(np.uint8)
    return q, lo, scale


def dequantise_u8(q, lo, scale):
    return q.astype(np.float32) * scale[:, None, None] + lo[:, None, None]


def region_mask(dets, score=REGION_SCORE):
    """[44, 80] float mask of the key map's cells inside `dets` (frame pixels) scoring >=
    score, one cell of margin."""
    mask = np.zeros((KEY_H, KEY_W), np.float32)
    sx, sy = HEAVY_IN[0] / FRAME_W / 8.0, HEAVY_IN[1] / FRAME_H / 8.0
    for d in dets:
        if d["score"] < score:
            continue
        x, y, w, h = d["bbox"]
        x1, y1 = int(x * sx) - 1, int(y * sy) - 1
        x2, y2 = int(math.ceil((x + w) * sx)) + 1, int(math.ceil((y + h) * sy)) + 1
        mask[max(y1, 0):y2, max(x1, 0):x2] = 1.0
    return mask


def small_gray(frame):
    return cv2.cvtColor(cv2.resize(frame, (FLOW_W, FLOW_H), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2GRAY)


def flow_back(current_small, key_small):
    """Dense flow from the current frame to the key frame (FLOW_W x FLOW_H pixels)."""
    return cv2.calcOpticalFlowFarneback(current_small, key_small, None, 0.5, 3, 9, 3, 5,
                                        1.1, 0)


def warp_key(key_map, mask, flow):
    """The key frame's map [C,44,80] and mask [44,80] moved to the current frame: each cell
    samples where the flow says it came from. Returns [C+1,44,80] float32."""
    fx = cv2.resize(flow[..., 0], (KEY_W, KEY_H), interpolation=cv2.INTER_AREA) * (KEY_W / FLOW_W)
    fy = cv2.resize(flow[..., 1], (KEY_W, KEY_H), interpolation=cv2.INTER_AREA) * (KEY_H / FLOW_H)
    gx, gy = np.meshgrid(np.arange(KEY_W, dtype=np.float32), np.arange(KEY_H, dtype=np.float32))
    mx, my = gx + fx, gy + fy
    planes = np.concatenate([key_map, mask[None]], 0)
    # cv2.remap takes up to 4 channels at once: HWC chunks of 4.
    out = np.empty_like(planes)
    for c0 in range(0, planes.shape[0], 4):
        chunk = np.ascontiguousarray(planes[c0:c0 + 4].transpose(1, 2, 0))
        r = cv2.remap(chunk, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[c0:c0 + 4] = r.reshape(KEY_H, KEY_W, -1).transpose(2, 0, 1)
    return out


# ----------------------------------------------------------------------------- the head
class FusionHead(nn.Module):
    """(light_p8 [N,64,22,40], warped key [N,65,44,80]) -> (heatmap [N,10,44,80] sigmoid,
    box [N,4,44,80] log-distances in strides of 4 input pixels). Plain convolutions, ReLU,
    nearest 2x upsampling, concatenation: what OpenCV 4.6's ONNX importer runs."""

    def __init__(self, width=40):
        super().__init__()
        self.light_up = nn.Conv2d(LIGHT_C, width, 1)
        self.key_in = nn.Conv2d(KEY_C + 1, width, 1)
        self.mix1 = nn.Conv2d(2 * width, width, 3, padding=1)
        self.mix2 = nn.Conv2d(width, width, 3, padding=1)
        self.hm = nn.Conv2d(width, NUM_CLASSES, 1)
        self.box = nn.Conv2d(width, 4, 1)
        nn.init.constant_(self.hm.bias, -math.log(99.0))
        nn.init.constant_(self.box.bias, 0.5)

    def forward(self, light_p8, key):
        a = F.interpolate(F.relu(self.light_up(light_p8)), scale_factor=2.0, mode="nearest")
        b = F.relu(self.key_in(key))
        x = F.relu(self.mix1(torch.cat([a, b], 1)))
        x = F.relu(self.mix2(x))
        return torch.sigmoid(self.hm(x)), self.box(x)


def count_flops(head):
    total = 0

    def hook(m, _inp, out):
        nonlocal total
        total += 2 * m.kernel_size[0] * m.kernel_size[1] * m.in_channels * out.numel()

    hs = [m.register_forward_hook(hook) for m in head.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        head(torch.zeros(1, LIGHT_C, LIGHT_H, LIGHT_W), torch.zeros(1, KEY_C + 1, KEY_H, KEY_W))
    for h in hs:
        h.remove()
    return total
