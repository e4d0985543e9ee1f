"""What compress.py and nas.py share: data splits, the teacher's logits, distillation
training, evaluation and the ONNX export with its check through OpenCV.

Splits: training uses the first 55,000 training images, choices (epochs, the search's
accuracy samples) are made on the last 5,000 ("val"); the 10,000 test images are only
ever measured at the end, in C++ (compress_eval), as the zoo's top-1 is.
"""
import json
import math
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # libgomp spin-waits on a busy machine

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tools", "zoo"))
import zoo  # noqa: E402  (the zoo's data reader, normalisation and architectures)

TRAIN_IMAGES = 55000
THREADS = 2
BATCH = 128
# Distillation (Hinton et al. 2015): loss = alpha * T^2 * KL(teacher_T || student_T)
# + (1 - alpha) * CE(student, label).
KD_T = 4.0
KD_ALPHA = 0.9


def setup(seed):
    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    np.random.seed(seed)


def load_data():
    """(x_train, y_train, x_val, y_val) as normalised float tensors, zoo's normalisation.
    TIERD_COMPRESS_VAL_IMAGES (tests) keeps only the first that many val images."""
    x, y = zoo.load_split("train")
    val = int(os.environ.get("TIERD_COMPRESS_VAL_IMAGES", len(x) - TRAIN_IMAGES))
    return x[:TRAIN_IMAGES], y[:TRAIN_IMAGES], x[TRAIN_IMAGES:TRAIN_IMAGES + val], y[TRAIN_IMAGES:TRAIN_IMAGES + val]


sha256 = zoo.sha256  # a file's hex sha256


def teacher_logits(teacher_onnx, x, cache_dir):
    """The teacher's logits for x, computed through OpenCV DNN (the model as deployed) and
    cached under cache_dir by the teacher file's sha256 and the number of images."""
    import cv2
    key = f"{sha256(teacher_onnx)[:16]}-{len(x)}"
    path = os.path.join(cache_dir, f"teacher-{key}.npy")
    if os.path.exists(path):
        return torch.from_numpy(np.load(path))
    os.makedirs(cache_dir, exist_ok=True)
    cv2.setNumThreads(THREADS)
    net = cv2.dnn.readNet(teacher_onnx)
    out = []
    for i in range(0, len(x), 500):
        net.setInput(x[i:i + 500].numpy())
        out.append(net.forward().copy())
    logits = np.concatenate(out).astype(np.float32)
    np.save(path, logits)
    return torch.from_numpy(logits)


def kd_loss(student, teacher, labels, alpha=KD_ALPHA, temp=KD_T):
    soft = F.kl_div(F.log_softmax(student / temp, 1), F.softmax(teacher / temp, 1),
                    reduction="batchmean") * temp * temp
    return alpha * soft + (1 - alpha) * F.cross_entropy(student, labels)


def evaluate(forward, x, y, batch=1000):
    """Top-1 of forward(x) against y (eval mode is the caller's)."""
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (forward(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def train_kd(model, data, teacher, epochs, lr, seed, log_name, schedule="cosine"):
    """Train `model` on the training split with distillation from `teacher` logits.

    AdamW (weight decay 1e-4); `cosine` decays lr to 0 (fine-tuning a pruned or searched
    net), `onecycle` warms up first (training from scratch). Returns per-epoch val top-1."""
    xtr, ytr, xva, yva = data
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(xtr) / BATCH)
    if schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    history = []
    for ep in range(epochs):
        model.train()
        perm = torch.from_numpy(np.random.RandomState(seed + ep).permutation(len(xtr)))
        t0, total = time.time(), 0.0
        for i in range(0, len(xtr), BATCH):
            idx = perm[i:i + BATCH]
            loss = kd_loss(model(xtr[idx]), teacher[idx], ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        model.eval()
        acc = evaluate(model, xva, yva)
        history.append(acc)
        print(f"  {log_name} epoch {ep + 1}/{epochs}: loss {total / len(xtr):.4f}, val top-1 {acc:.4f} "
              f"({time.time() - t0:.1f} s)", flush=True)
    return history


def export_onnx(model, path, check_x):
    """Export as the zoo does (opset 13, dynamic batch, BN folded in eval mode) and check
    OpenCV's logits against PyTorch's on check_x. Returns the max |difference|."""
    import cv2
    model.eval()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    with torch.no_grad():
        ref = model(check_x).numpy()
    net = cv2.dnn.readNet(path)
    net.setInput(check_x.numpy())
    diff = float(np.abs(net.forward() - ref).max())
    if diff > 1e-3:
        raise SystemExit(f"{path}: OpenCV's logits differ from PyTorch's by {diff}")
    return diff


def write_lineage(path, record):
    with open(path, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


def params_of(model):
    return sum(p.numel() for p in model.parameters())
