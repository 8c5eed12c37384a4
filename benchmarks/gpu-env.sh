# shellcheck shell=bash
# Source me (`source benchmarks/gpu-env.sh`) before scoring on an NVIDIA GPU with a vigil or
# vigil-harness built with `--features vigil-models/cuda`. It sets:
#
#   ORT_DYLIB_PATH     onnxruntime-gpu's onnxruntime/capi/libonnxruntime.so.1.31.1 (one with
#                      libonnxruntime_providers_cuda.so beside it)
#   LD_LIBRARY_PATH    + the nvidia-* wheels' library folders: site-packages/nvidia/cu13/lib
#                      (CUDA 13 wheels) and site-packages/nvidia/*/lib (cuDNN, older layout)
#   VIGIL_GPU_SITE     + the site-packages folders holding those wheels (vigil-models preloads
#                      the CUDA and cuDNN libraries from there)
#   VIGIL_PEER_PYTHON  the Python used (the peer of `vigil-harness bench score`)
#
# Where it looks, in order: the folders in VIGIL_GPU_SITE (colon-separated; e.g. the folder
# holding an unpacked onnxruntime-gpu wheel's `onnxruntime/`), then where the Python
# (VIGIL_PEER_PYTHON, default python3) finds `onnxruntime` (PYTHONPATH first), then the rest
# of its sys.path (site-packages). An ORT_DYLIB_PATH already set to a CUDA-enabled library
# is kept.
#
# It prints what it found and never exits the calling shell; it returns 1 when no
# CUDA-enabled ONNX Runtime or one of the CUDA libraries was found (scoring with
# `device = "auto"` then falls back to the CPU, `device = "cuda"` fails saying why).

_vigil_gpu_env() {
  local ort_version=1.31.1
  # The libraries ONNX Runtime's CUDA provider needs; the same list as LIBRARIES in
  # models/src/device/libraries.rs (a test there checks this file names each one).
  local libs=(libcudart.so.13 libcublasLt.so.13 libcublas.so.13 libcufft.so.12 libcurand.so.10
    libnvrtc.so.13 libcudnn.so.9 libcudnn_graph.so.9 libcudnn_ops.so.9 libcudnn_heuristic.so.9
    libcudnn_adv.so.9 libcudnn_cnn.so.9 libcudnn_engines_precompiled.so.9
    libcudnn_engines_runtime_compiled.so.9)
  local py="${VIGIL_PEER_PYTHON:-python3}"
  local -a sites=() found=() dirs=() nv_sites=() missing=()
  local s d lib ok=0

  if [ -n "${VIGIL_GPU_SITE:-}" ]; then
    IFS=: read -r -a found <<<"$VIGIL_GPU_SITE"
    sites+=("${found[@]}")
  fi
  if command -v "$py" >/dev/null 2>&1; then
    py="$(command -v "$py")"
    case "$py" in /*) ;; */*) py="$(cd "$(dirname "$py")" && pwd)/$(basename "$py")" ;; esac
    found=()
    while IFS= read -r s; do found+=("$s"); done < <("$py" - 2>/dev/null <<'PY'
import importlib.util, os, sys
spec = importlib.util.find_spec("onnxruntime")
if spec and spec.origin:
    print(os.path.dirname(os.path.dirname(os.path.abspath(spec.origin))))
for p in sys.path:
    if p and os.path.isdir(p):
        print(os.path.abspath(p))
PY
    )
    sites+=("${found[@]}")
  else
    echo "gpu-env: no python '$py' (set VIGIL_PEER_PYTHON); looking in VIGIL_GPU_SITE only" >&2
  fi

  # ONNX Runtime: keep a CUDA-enabled ORT_DYLIB_PATH, else the first CUDA-enabled one found.
  local ort="" cpu_ort=""
  if [ -f "${ORT_DYLIB_PATH:-}" ] && [ -f "$(dirname "$ORT_DYLIB_PATH")/libonnxruntime_providers_cuda.so" ]; then
    ort="$ORT_DYLIB_PATH"
  fi
  for s in "${sites[@]}"; do
    [ -n "$s" ] || continue
    d="$s/onnxruntime/capi"
    if [ -z "$ort" ] && [ -f "$d/libonnxruntime.so.$ort_version" ]; then
      if [ -f "$d/libonnxruntime_providers_cuda.so" ]; then
        ort="$d/libonnxruntime.so.$ort_version"
      elif [ -z "$cpu_ort" ]; then
        cpu_ort="$d/libonnxruntime.so.$ort_version"
      fi
    fi
    for d in "$s/nvidia/cu13/lib" "$s"/nvidia/*/lib; do
      [ -d "$d" ] || continue
      case " ${dirs[*]} " in *" $d "*) continue ;; esac
      dirs+=("$d")
      case " ${nv_sites[*]} " in *" $s "*) ;; *) nv_sites+=("$s") ;; esac
    done
  done

  if [ -n "$ort" ]; then
    export ORT_DYLIB_PATH="$ort"
    echo "gpu-env: ORT_DYLIB_PATH=$ORT_DYLIB_PATH (with the CUDA provider)"
  else
    ok=1
    if [ -n "$cpu_ort" ] && [ -z "${ORT_DYLIB_PATH:-}" ]; then
      export ORT_DYLIB_PATH="$cpu_ort"
    fi
    echo "gpu-env: no onnxruntime-gpu $ort_version found (no libonnxruntime_providers_cuda.so beside" \
      "libonnxruntime.so.$ort_version in: ${sites[*]:-nothing searched}); ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-unset}." \
      "Install onnxruntime-gpu==$ort_version, or put its folder on PYTHONPATH or in VIGIL_GPU_SITE" >&2
  fi

  for lib in "${libs[@]}"; do
    local here=""
    for d in "${dirs[@]}"; do
      if [ -e "$d/$lib" ]; then here="$d"; break; fi
    done
    [ -n "$here" ] || missing+=("$lib")
  done
  if [ ${#dirs[@]} -gt 0 ]; then
    local joined
    joined="$(IFS=:; echo "${dirs[*]}")"
    export LD_LIBRARY_PATH="$joined${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "gpu-env: LD_LIBRARY_PATH += $joined"
  fi
  for s in "${nv_sites[@]}"; do
    case ":${VIGIL_GPU_SITE:-}:" in *":$s:"*) ;; *) VIGIL_GPU_SITE="${VIGIL_GPU_SITE:+$VIGIL_GPU_SITE:}$s" ;; esac
  done
  [ -n "${VIGIL_GPU_SITE:-}" ] && export VIGIL_GPU_SITE
  [ -n "${VIGIL_GPU_SITE:-}" ] && echo "gpu-env: VIGIL_GPU_SITE=$VIGIL_GPU_SITE"
  if [ ${#missing[@]} -gt 0 ]; then
    ok=1
    echo "gpu-env: CUDA libraries not found in the nvidia-* wheels (${dirs[*]:-no nvidia/*/lib folder}):" \
      "${missing[*]}; install nvidia-cuda-runtime nvidia-cublas nvidia-cufft nvidia-curand" \
      "nvidia-cuda-nvrtc nvidia-cudnn-cu13 for this python, or have them on LD_LIBRARY_PATH" >&2
  else
    echo "gpu-env: all ${#libs[@]} CUDA 13 / cuDNN 9 libraries found"
  fi
  if [ -x "$py" ]; then
    export VIGIL_PEER_PYTHON="$py"
    echo "gpu-env: VIGIL_PEER_PYTHON=$VIGIL_PEER_PYTHON"
  fi
  return $ok
}

_vigil_gpu_env
_vigil_gpu_env_status=$?
unset -f _vigil_gpu_env
# shellcheck disable=SC2317  # `return` when sourced, `exit` when run
return $_vigil_gpu_env_status 2>/dev/null || exit $_vigil_gpu_env_status
