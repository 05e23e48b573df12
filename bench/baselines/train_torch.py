"""PyTorch baseline of the training benchmark (bench/train.bench.ts).

    python3 train_torch.py SPEC_JSON

SPEC_JSON is {"cases": [CASE, ...]}; every case is timed in this process, one call at a time with
time.perf_counter, and reported as the median over `steps` calls after `warmup` untimed ones:

  {"name", "kind": "mlp_step", "sizes": [in, h1, ..., classes], "batch", "lr", "threads", "steps", "warmup",
   "masked_layers": [i, ...], "density"}
      One training step of an MLP of nn.Linear layers with ReLU between them, as a user writes it:
      opt.zero_grad(set_to_none=True); loss = CrossEntropyLoss(model(x), y); loss.backward();
      opt.step(); loss.item(). SGD at lr, momentum 0.9. Layers listed in masked_layers get a
      constant fan-in mask (k = int(in * density) per row, random) applied the way
      torch.nn.utils.prune and ASP-style fine-tuning do it: F.linear(x, weight * mask, bias), a
      dense product on a dense tensor holding zeros.
  {"name", "kind": "linear_forward", "in", "out", "batch", "threads", "steps", "warmup", "density"}
      F.linear(x, W, b) under torch.no_grad() on a dense [out, in] W with a constant fan-in pattern
      of non-zeros (the layer the condensed kernel runs, stored dense), x [batch, in] as nn.Linear
      gets it. At batch 1 also torch.addmv(b, W, x[0]), reported as name + "_addmv": the same
      product as a matrix-vector one, ~10x faster here than F.linear's [1, in] x [in, out] matrix
      product (OpenBLAS sgemm packs the whole weight every call; F.linear of a 1-D x takes the
      same path).
  {"name", "kind": "resnet18_step", "width", "classes", "batch", "lr", "threads", "steps", "warmup"}
      One training step (as mlp_step) of torchvision's ResNet-18 layout on 3x32x32 inputs with every
      Conv+BatchNorm pair fused into a Conv with bias, as scripts/fixtures/make_train_fixtures.py
      exports it: the graph the engine trains from the ONNX file.

torch.set_num_threads(threads) per case, and the same for OpenBLAS when torch's BLAS is OpenBLAS
(Debian's torch: BLAS_INFO=generic, libblas.so.3 = openblas-pthread, whose own thread count
torch.set_num_threads leaves alone). Inputs are N(0, 1) / labels uniform, seeded. Prints one JSON
line: {"torch": version, "blas": OpenBLAS config or null, "results": {name: {"median_ms", "min_ms", "steps"}}}.
"""
import ctypes
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def openblas():
    """The OpenBLAS library torch's libblas.so.3 resolves to, or None."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_config.restype = ctypes.c_char_p
        return lib
    except (OSError, AttributeError):
        return None


OPENBLAS = openblas()


def set_threads(n):
    torch.set_num_threads(n)
    if OPENBLAS is not None:
        OPENBLAS.openblas_set_num_threads(n)


def fan_in_mask(out_f, in_f, density, gen):
    """1.0 at k = int(in_f * density) random inputs of every row, else 0.0."""
    k = int(in_f * density)
    index = torch.rand(out_f, in_f, generator=gen).argsort(dim=1)[:, :k]
    return torch.zeros(out_f, in_f).scatter_(1, index, 1.0)


class MaskedLinear(torch.nn.Linear):
    """nn.Linear whose forward multiplies the weight by a fixed 0/1 mask (prune / ASP style)."""

    def __init__(self, in_f, out_f, mask):
        super().__init__(in_f, out_f)
        self.register_buffer("mask", mask)
        with torch.no_grad():
            self.weight.mul_(mask)

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


def mlp(sizes, masked_layers, density, gen):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(MaskedLinear(a, b, fan_in_mask(b, a, density, gen)) if i in masked_layers else torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class FusedBasicBlock(torch.nn.Module):
    """torchvision's BasicBlock with each BatchNorm folded into the Conv before it (bias=True)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1)
        self.downsample = torch.nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.conv1(x))
        return F.relu(self.conv2(out) + identity)


class FusedResNet18(torch.nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, width, 7, 2, 3)
        self.maxpool = torch.nn.MaxPool2d(3, 2, 1)
        cin, layers = width, []
        for i in range(4):
            cout = width * 2**i
            layers += [FusedBasicBlock(cin, cout, 1 if i == 0 else 2), FusedBasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = torch.nn.Sequential(*layers)
        self.fc = torch.nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(self.maxpool(F.relu(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def timed(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "steps": steps}


def train_step_fn(model, x, y, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def run_case(case, gen):
    """The case's timing(s) by result name."""
    set_threads(case["threads"])
    name = case["name"]
    kind = case["kind"]
    if kind == "mlp_step":
        sizes = case["sizes"]
        model = mlp(sizes, set(case.get("masked_layers", [])), case.get("density", 1.0), gen)
        x = torch.randn(case["batch"], sizes[0], generator=gen)
        y = torch.randint(0, sizes[-1], (case["batch"],), generator=gen)
        return {name: timed(train_step_fn(model, x, y, case["lr"]), case["steps"], case["warmup"])}
    if kind == "resnet18_step":
        model = FusedResNet18(case["width"], case["classes"])
        x = torch.randn(case["batch"], 3, 32, 32, generator=gen)
        y = torch.randint(0, case["classes"], (case["batch"],), generator=gen)
        return {name: timed(train_step_fn(model, x, y, case["lr"]), case["steps"], case["warmup"])}
    if kind == "linear_forward":
        w = torch.randn(case["out"], case["in"], generator=gen) * fan_in_mask(case["out"], case["in"], case["density"], gen)
        b = torch.randn(case["out"], generator=gen)
        x = torch.randn(case["batch"], case["in"], generator=gen)
        calls = {name: lambda: F.linear(x, w, b)}
        if case["batch"] == 1:
            calls[name + "_addmv"] = lambda: torch.addmv(b, w, x[0])
        with torch.no_grad():
            return {key: timed(fn, case["steps"], case["warmup"]) for key, fn in calls.items()}
    raise ValueError(f"unknown case kind {kind}")


def main():
    spec = json.loads(sys.argv[1])
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)  # nn.Linear / nn.Conv2d default initialisation
    results = {}
    for case in spec["cases"]:
        results.update(run_case(case, gen))
    blas = OPENBLAS.openblas_get_config().decode() if OPENBLAS is not None else None
    print(json.dumps({"torch": torch.__version__, "blas": blas, "results": results}))


if __name__ == "__main__":
    main()
