"""Reference trajectories from PyTorch's torch.optim, the convention `code/optimizers.py` follows.

Run `python tests/torch_reference.py` (needs `pip install torch`) to print the golden values pasted
into `test_golden.py`; `test_golden.py` also compares against torch live when torch is importable.
The gradient comes from torch's autograd of the surface written in torch, not from our module.
"""
import numpy as np

CASES = {
    # name: (our optimizer name, our hyperparameters, torch class name, torch keyword arguments)
    "gd": ("gd", dict(lr=0.2), "SGD", dict(lr=0.2)),
    "momentum": ("momentum", dict(lr=0.05, momentum=0.8), "SGD", dict(lr=0.05, momentum=0.8)),
    "nesterov": ("nesterov", dict(lr=0.05, momentum=0.8), "SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    "adagrad": ("adagrad", dict(lr=0.5, lr_decay=0.1, initial_accumulator_value=0.2),
                "Adagrad", dict(lr=0.5, lr_decay=0.1, initial_accumulator_value=0.2)),
    "rmsprop": ("rmsprop", dict(lr=0.05, alpha=0.9), "RMSprop", dict(lr=0.05, alpha=0.9)),
    "adadelta": ("adadelta", dict(lr=2.0, rho=0.8, eps=1e-4), "Adadelta", dict(lr=2.0, rho=0.8, eps=1e-4)),
    "adam": ("adam", dict(lr=0.1, beta1=0.8, beta2=0.99), "Adam", dict(lr=0.1, betas=(0.8, 0.99))),
    "adam_l2": ("adam", dict(lr=0.1, weight_decay=0.5), "Adam", dict(lr=0.1, weight_decay=0.5)),
    "adamax": ("adamax", dict(lr=0.1, beta1=0.8), "Adamax", dict(lr=0.1, betas=(0.8, 0.999))),
    "nadam": ("nadam", dict(lr=0.1, momentum_decay=0.05), "NAdam", dict(lr=0.1, momentum_decay=0.05)),
    "amsgrad": ("amsgrad", dict(lr=0.1, beta2=0.9), "Adam", dict(lr=0.1, betas=(0.9, 0.9), amsgrad=True)),
    "adamw": ("adamw", dict(lr=0.1, weight_decay=0.5), "AdamW", dict(lr=0.1, weight_decay=0.5)),
}
START = {"valley": (-9.0, 2.0), "rosenbrock": (-1.5, 2.5)}
STEPS = 8


def hyperparameters(case, surface):
    """Our keyword arguments and torch's; plain SGD steps on Rosenbrock get a 200x smaller lr to stay finite."""
    _, ours, _, theirs = CASES[case]
    if surface == "rosenbrock" and CASES[case][2] == "SGD":
        ours, theirs = {**ours, "lr": ours["lr"] / 200}, {**theirs, "lr": theirs["lr"] / 200}
    return ours, theirs


def torch_path(case, surface, steps=STEPS):
    import torch

    torch.set_default_dtype(torch.float64)  # else NAdam keeps its mu_product in float32
    cls = CASES[case][2]
    kwargs = hyperparameters(case, surface)[1]
    p = torch.tensor(START[surface], dtype=torch.float64, requires_grad=True)
    opt = getattr(torch.optim, cls)([p], **kwargs)
    out = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        x, y = p[0], p[1]
        loss = 0.1 * x ** 2 + 2 * y ** 2 if surface == "valley" else (1 - x) ** 2 + 100 * (y - x ** 2) ** 2
        loss.backward()
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


if __name__ == "__main__":
    import torch

    print(f"# made by tests/torch_reference.py with torch {torch.__version__}, float64, {STEPS} steps")
    print("GOLDEN = {")
    for case in CASES:
        for surface in START:
            rows = ", ".join(f"({float(a)!r}, {float(b)!r})" for a, b in torch_path(case, surface))
            print(f"    ({case!r}, {surface!r}): [{rows}],")
    print("}")
