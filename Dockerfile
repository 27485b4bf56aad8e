# Stride: the chat API, widget and demo page, with the index built into the image.
#   docker build -t stride .
#   docker run --rm -p 8000:8000 stride
# Nothing is downloaded at run time: the model ships in a pip package and the index is
# built here, at image build time.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

# libgomp: OpenMP runtime used by FAISS and torch on CPU.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin stride
WORKDIR /app

# CPU-only torch first, from PyTorch's CPU index: the PyPI wheel of the same version is the
# multi-GB CUDA build. The project install below then finds torch==2.13.0 already satisfied.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# The project. constraints.txt (the full resolved, pinned set) is used when present;
# the glob keeps the COPY valid without it.
COPY pyproject.toml README.md constraints.tx[t] ./
COPY stride.py ./
COPY index/ ./index/
COPY service/ ./service/
COPY eval/ ./eval/
COPY corpus/ ./corpus/
RUN if [ -f constraints.txt ]; then pip install -c constraints.txt -e .; else pip install -e .; fi \
    && python -c "import torch, sys; sys.exit(0 if torch.version.cuda is None else 'CUDA torch installed')"

# Build the index now, as the user that serves it (a stale or missing index is refused
# at start-up: --no-build below).
RUN mkdir -p /app/var && chown -R stride:stride /app
USER stride
RUN stride index build && stride index check

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
CMD ["stride", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-build"]
