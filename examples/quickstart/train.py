"""Train the quickstart's fraud model: logistic regression, standard library only.

The data is a seeded synthetic card-transaction set (amount, night-time, distance from
home, foreign merchant) whose fraud label follows a known noisy rule, so the trained model
gives real, checkable predictions. Run `python3 train.py` to rewrite model/v1.json and
model/v2.json (v2 trains five times longer with a little L2 regularisation).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

FEATURES = ["amount", "night", "distance_km", "foreign"]


def make_data(n: int, seed: int) -> list[tuple[list[float], int]]:
    """Transactions and their labels; fraud is likelier for large, night-time, far, foreign ones."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        amount = rng.lognormvariate(3.5, 1.0)
        hour = rng.randrange(24)
        distance = rng.expovariate(1 / 20)
        foreign = 1.0 if rng.random() < 0.15 else 0.0
        night = 1.0 if hour < 6 else 0.0
        logit = -3.0 + 0.015 * amount + 1.5 * night + 0.03 * distance + 2.0 * foreign + rng.gauss(0, 0.5)
        label = 1 if rng.random() < 1 / (1 + math.exp(-logit)) else 0
        rows.append(([amount, night, distance, foreign], label))
    return rows


def standardise(rows: list[tuple[list[float], int]]) -> tuple[list[float], list[float]]:
    cols = list(zip(*(x for x, _ in rows), strict=True))
    means = [sum(c) / len(c) for c in cols]
    stds = [max(1e-9, math.sqrt(sum((v - m) ** 2 for v in c) / len(c))) for c, m in zip(cols, means, strict=True)]
    return means, stds


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-max(-60.0, min(60.0, z))))


def train(rows: list[tuple[list[float], int]], epochs: int, lr: float, l2: float) -> dict[str, object]:
    """Batch gradient descent on the log loss of standardised features."""
    means, stds = standardise(rows)
    xs = [[(v - m) / s for v, m, s in zip(x, means, stds, strict=True)] for x, _ in rows]
    ys = [y for _, y in rows]
    w = [0.0] * len(FEATURES)
    b = 0.0
    n = len(xs)
    for _ in range(epochs):
        gw = [0.0] * len(w)
        gb = 0.0
        for x, y in zip(xs, ys, strict=True):
            err = sigmoid(b + sum(wi * xi for wi, xi in zip(w, x, strict=True))) - y
            gb += err
            for i, xi in enumerate(x):
                gw[i] += err * xi
        w = [wi - lr * (g / n + l2 * wi) for wi, g in zip(w, gw, strict=True)]
        b -= lr * gb / n
    return {"features": FEATURES, "mean": means, "std": stds, "weights": w, "bias": b}


def accuracy(model: dict[str, object], rows: list[tuple[list[float], int]]) -> float:
    from serve import Model

    m = Model.from_dict(model)
    return sum((m.probability(x) >= 0.5) == bool(y) for x, y in rows) / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "model", help="where to write the weights")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    data = make_data(3000, seed=7)
    train_rows, test_rows = data[:2400], data[2400:]
    for version, epochs, l2 in (("v1", 60, 0.0), ("v2", 300, 0.001)):
        model = train(train_rows, epochs=epochs, lr=0.5, l2=l2)
        model["version"] = version
        model["test_accuracy"] = round(accuracy(model, test_rows), 4)
        (out / f"{version}.json").write_text(json.dumps(model, indent=2) + "\n")
        print(f"{version}: test accuracy {model['test_accuracy']}")


if __name__ == "__main__":
    main()
