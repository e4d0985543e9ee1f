#!/usr/bin/env bash
# Installs the build and test dependencies from Debian's archive (Debian 12).
set -euo pipefail
pkgs=(cmake ninja-build g++ pkg-config python3 libuv1-dev libmosquitto-dev mosquitto
      mosquitto-clients libtomlplusplus-dev libsystemd-dev nlohmann-json3-dev libcli11-dev
      libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
      libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libopencv-dnn-dev
      libopencv-ml-dev libopencv-videoio-dev zlib1g-dev libssl-dev openssl systemd python3-onnx
      libjpeg-dev         # video frames travel upstream as JPEG (agent/pipeline/jpeg_codec)
      libopencv-video-dev # fusion-track's optical flow (calcOpticalFlowPyrLK)
      dataset-fashion-mnist libsqlite3-dev
      opencv-doc # tierd-videogen's backgrounds, vtest.avi (docs/video.md)
      # bench/scheduler/report.py draws the stream plot (bench/results/scheduler_stream.png)
      python3-matplotlib
      # scripts/run-video.sh draws its annotated frames with OpenCV's Python binding
      python3-opencv
      # the edge's fine-tuning job (tools/adapt: finetune.py, finetune_job.py) and its
      # test adapt.edge_keeps_samples_for_finetuning; the adaptation benchmarks
      python3-torch
      # tools/compress/nas_search: NSGA-II of the architecture search (issue 19)
      libpagmo-dev
      # the Debian packages (packaging/build-debs.sh) and their checks
      dpkg-dev debhelper lintian adduser
      # the sanitizer and fuzzing build (scripts/test-sanitizers.sh): clang 14, libFuzzer
      clang libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
