"""tierd's two video detectors and their training targets (docs/detectors.md).

Both are one-stage, anchor-free, TTFNet/CenterNet-style: per output cell, a class heatmap
(sigmoid, 10 channels) whose local maxima are object centres, and 4 box channels: raw
log-distances from the cell centre to the box's left, top, right and bottom edges in
units of the stride. Decoding (C++, plugins/inference-opencv/detection_decoder.cpp):

    cx = (j + 0.5) * stride, cy = (i + 0.5) * stride          (input pixels)
    x1 = cx - exp(box[0]) * stride, y1 = cy - exp(box[1]) * stride
    x2 = cx + exp(box[2]) * stride, y2 = cy + exp(box[3]) * stride
    then scale by (frame width / input width, frame height / input height).

Export rules for OpenCV 4.6 (/work/shared/FACTS.md): eval mode, opset 13, plain convs,
BatchNorm (folded), ReLU, Add, nearest 2x upsampling, Sigmoid. Outputs are named
"heatmap" [N, 10, H/s, W/s] and "box" [N, 4, H/s, W/s].
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NUM_CLASSES = 10
FRAME_W, FRAME_H = 640, 360


def conv_bn(cin, cout, k=3, stride=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = conv_bn(c, c)
        self.b = conv_bn(c, c, relu=False)

    def forward(self, x):
        return F.relu(x + self.b(self.a(x)))


def up2(x):
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class Head(nn.Module):
    def __init__(self, cin, mid):
        super().__init__()
        self.hm = nn.Sequential(conv_bn(cin, mid), nn.Conv2d(mid, NUM_CLASSES, 1))
        self.box = nn.Sequential(conv_bn(cin, mid), nn.Conv2d(mid, 4, 1))
        # Focal-loss prior: start every class at p = 0.01 (RetinaNet).
        nn.init.constant_(self.hm[-1].bias, -math.log(99.0))
        nn.init.constant_(self.box[-1].bias, 0.5)

    def forward(self, x):
        return torch.sigmoid(self.hm(x)), self.box(x)


class DetLight(nn.Module):
    """End device: 320x176 input, stride 8 output (40x22), ~0.2 GFLOPs.

    `widths` (tools/compress/detector_prune.py's pruned variants) gives the channel count
    of each of the net's channel groups, keys as in LIGHT_WIDTHS; the default is det-light.
    "p8" is the stride-8 stream that s8's output and lat16's output add into."""

    input_size = (320, 176)
    stride = 8
    LIGHT_WIDTHS = {"s2": 16, "s4a": 32, "s4b": 32, "s8a": 64, "p8": 64, "s16a": 96,
                    "s16b": 96, "fuse8": 64, "head": 48}

    def __init__(self, widths=None):
        super().__init__()
        c = dict(self.LIGHT_WIDTHS, **(widths or {}))
        self.widths = c
        self.s2 = conv_bn(3, c["s2"], stride=2)                                       # 160x88
        self.s4 = nn.Sequential(conv_bn(c["s2"], c["s4a"], stride=2),
                                conv_bn(c["s4a"], c["s4b"]))                          # 80x44
        self.s8 = nn.Sequential(conv_bn(c["s4b"], c["s8a"], stride=2),
                                conv_bn(c["s8a"], c["p8"]))                           # 40x22
        self.s16 = nn.Sequential(conv_bn(c["p8"], c["s16a"], stride=2),
                                 conv_bn(c["s16a"], c["s16b"]))                       # 20x11
        self.lat16 = conv_bn(c["s16b"], c["p8"], k=1)
        self.fuse8 = conv_bn(c["p8"], c["fuse8"])
        self.head = Head(c["fuse8"], c["head"])

    def forward(self, x):
        c8 = self.s8(self.s4(self.s2(x)))
        c16 = self.s16(c8)
        p8 = self.fuse8(c8 + up2(self.lat16(c16)))
        return self.head(p8)


class DetHeavy(nn.Module):
    """Edge/cloud: 640x352 input, stride 4 output (160x88), residual backbone, FPN."""

    input_size = (640, 352)
    stride = 4

    def __init__(self):
        super().__init__()
        self.s2 = conv_bn(3, 16, stride=2)                                    # 320x176
        self.s4 = nn.Sequential(conv_bn(16, 32, stride=2), conv_bn(32, 32))     # 160x88
        self.s8 = nn.Sequential(conv_bn(32, 64, stride=2), Residual(64))        # 80x44
        self.s16 = nn.Sequential(conv_bn(64, 128, stride=2), Residual(128))     # 40x22
        self.s32 = nn.Sequential(conv_bn(128, 160, stride=2), conv_bn(160, 160))  # 20x11
        self.lat32 = conv_bn(160, 64, k=1)
        self.lat16 = conv_bn(128, 64, k=1)
        self.fuse16 = conv_bn(64, 64)
        self.lat8 = conv_bn(64, 64, k=1)
        self.fuse8 = conv_bn(64, 64)
        self.red8 = conv_bn(64, 32, k=1)
        self.lat4 = conv_bn(32, 32, k=1)
        self.head = Head(32, 32)

    def forward(self, x):
        c4 = self.s4(self.s2(x))
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p16 = self.fuse16(self.lat16(c16) + up2(self.lat32(c32)))
        p8 = self.fuse8(self.lat8(c8) + up2(p16))
        p4 = self.lat4(c4) + up2(self.red8(p8))
        return self.head(p4)


NETS = {"det-light": DetLight, "det-heavy": DetHeavy}


# ----------------------------------------------------------------------------- targets
ALPHA = 0.54  # TTFNet: gaussian sigma = ALPHA * side / 6


def encode_targets(boxes_list, in_w, in_h, stride, flips):
    """Training targets for one batch.

    boxes_list: per image, [[x, y, w, h, cls, crowd], ...] in original-frame pixels.
    Returns heatmap [B,10,H,W], heatmap loss weight [B,1,H,W] (0 inside crowd regions
    except at positive peaks), box targets x1,y1,x2,y2 in input pixels [B,4,H,W] and
    regression weights [B,1,H,W] (each object's weights sum to 1).
    """
    gw, gh = in_w // stride, in_h // stride
    sx, sy = in_w / FRAME_W, in_h / FRAME_H
    b = len(boxes_list)
    hm = np.zeros((b, NUM_CLASSES, gh, gw), np.float32)
    hw = np.ones((b, 1, gh, gw), np.float32)
    tb = np.zeros((b, 4, gh, gw), np.float32)
    rw = np.zeros((b, 1, gh, gw), np.float32)
    ys = (np.arange(gh, dtype=np.float32) + 0.5)[:, None]
    xs = (np.arange(gw, dtype=np.float32) + 0.5)[None, :]
    for n, boxes in enumerate(boxes_list):
        items = []
        for x, y, w, h, c, crowd in boxes:
            # inclusive pixel extent [x, x + w - 1] -> continuous [x, x + w)
            x1, y1, x2, y2 = x * sx, y * sy, (x + w) * sx, (y + h) * sy
            if flips[n]:
                x1, x2 = in_w - x2, in_w - x1
            if crowd:
                gx1, gy1 = int(x1 // stride), int(y1 // stride)
                gx2, gy2 = int(math.ceil(x2 / stride)), int(math.ceil(y2 / stride))
                hw[n, 0, max(gy1, 0):gy2, max(gx1, 0):gx2] = 0.0
            else:
                items.append((x1, y1, x2, y2, int(c)))
        # Large first so that small objects overwrite shared regression cells.
        items.sort(key=lambda t: -(t[2] - t[0]) * (t[3] - t[1]))
        for x1, y1, x2, y2, c in items:
            cx, cy = (x1 + x2) / 2 / stride, (y1 + y2) / 2 / stride
            ci, cj = min(int(cy), gh - 1), min(int(cx), gw - 1)
            sgx = max(ALPHA * (x2 - x1) / stride / 6, 0.2)
            sgy = max(ALPHA * (y2 - y1) / stride / 6, 0.2)
            # Gaussian centred on the peak cell's centre so that the peak is exactly 1.
            g = np.exp(-((xs - (cj + 0.5)) ** 2) / (2 * sgx ** 2)
                       - ((ys - (ci + 0.5)) ** 2) / (2 * sgy ** 2)).astype(np.float32)
            g[ci, cj] = 1.0
            np.maximum(hm[n, c], g, out=hm[n, c])
            hw[n, 0, ci, cj] = 1.0
            region = g > 0.1
            area = (x2 - x1) * (y2 - y1)
            wts = np.where(region, g, 0.0)
            wts = wts / wts.sum() * math.log(max(area, 2.0))
            rw[n, 0][region] = wts[region]
            tb[n, 0][region] = x1
            tb[n, 1][region] = y1
            tb[n, 2][region] = x2
            tb[n, 3][region] = y2
    return hm, hw, tb, rw


def decode_boxes(raw, stride):
    """raw [B,4,H,W] -> x1,y1,x2,y2 [B,4,H,W] in input pixels (same as the C++ decoder)."""
    _, _, gh, gw = raw.shape
    ys = (torch.arange(gh, dtype=raw.dtype) + 0.5).view(1, gh, 1) * stride
    xs = (torch.arange(gw, dtype=raw.dtype) + 0.5).view(1, 1, gw) * stride
    d = torch.exp(raw.clamp(max=8.0)) * stride
    return torch.stack([xs - d[:, 0], ys - d[:, 1], xs + d[:, 2], ys + d[:, 3]], 1)


def focal_loss(pred, gt, weight):
    """CenterNet's penalty-reduced focal loss, normalised by the number of peaks."""
    pred = pred.clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    neg = (1 - pos) * weight
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred ** 2 * (1 - gt) ** 4 * neg
    npos = pos.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / npos


def giou_loss(pred, target, weight):
    """GIoU loss over cells with weight > 0, weighted, normalised by the weight sum."""
    mask = weight[:, 0] > 0
    if not mask.any():
        return pred.sum() * 0.0
    p = pred.permute(0, 2, 3, 1)[mask]
    t = target.permute(0, 2, 3, 1)[mask]
    w = weight[:, 0][mask]
    ix1, iy1 = torch.max(p[:, 0], t[:, 0]), torch.max(p[:, 1], t[:, 1])
    ix2, iy2 = torch.min(p[:, 2], t[:, 2]), torch.min(p[:, 3], t[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    ap = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    at = (t[:, 2] - t[:, 0]) * (t[:, 3] - t[:, 1])
    union = ap + at - inter + 1e-6
    iou = inter / union
    ex1, ey1 = torch.min(p[:, 0], t[:, 0]), torch.min(p[:, 1], t[:, 1])
    ex2, ey2 = torch.max(p[:, 2], t[:, 2]), torch.max(p[:, 3], t[:, 3])
    enclose = (ex2 - ex1) * (ey2 - ey1) + 1e-6
    giou = iou - (enclose - union) / enclose
    return ((1 - giou) * w).sum() / (w.sum() + 1e-6)


BOX_WEIGHT = 5.0  # total loss = focal + BOX_WEIGHT x GIoU (docs/detectors.md)


def detection_loss(pred_hm, pred_box, boxes_list, in_w, in_h, stride, flips):
    """The detectors' loss terms for one batch: (focal on the heatmap, GIoU on the boxes),
    targets from `boxes_list` as encode_targets takes them; the loss is focal + BOX_WEIGHT
    x GIoU."""
    hm, hw, tb, rw = encode_targets(boxes_list, in_w, in_h, stride, flips)
    l_hm = focal_loss(pred_hm, torch.from_numpy(hm), torch.from_numpy(hw))
    l_box = giou_loss(decode_boxes(pred_box, stride), torch.from_numpy(tb), torch.from_numpy(rw))
    return l_hm, l_box


def warmup_cosine_lr(base, frac, warm=0.03):
    """The learning rate at `frac` (0..1) of a training budget: linear warm-up from 10% of
    `base` over the first `warm`, then cosine decay to 2% of it at the end."""
    if frac < warm:
        return base * (0.1 + 0.9 * frac / warm)
    return base * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (frac - warm) / (1 - warm))))


def count_flops(model, w, h):
    """2 x multiply-adds of the convolutions for one input image."""
    total = 0

    def hook(m, _inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
        total += 2 * k * out.numel()

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, h, w))
    for x in hs:
        x.remove()
    return total
