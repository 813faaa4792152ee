"""Held-out ELBO and the k = 1000 importance-sampled log-likelihood (nats per image) of
the shipped VAE checkpoints, on the first N held-out digits.

    python benchmarks/trust_vae_nats.py [N]

With a Bernoulli likelihood the held-out digits are binarised once with a fixed seed
(the model's evaluation functions do it), so the numbers are values of a normalised
density over binary images.
"""
import sys

import torch

from pcviz.sim import Engine, load_preset


def main(n: int) -> None:
    for name in ("digits-lvae", "digits-bvae"):
        e = Engine(load_preset(name, ["engine.learning=false"]), "cpu")
        x = torch.from_numpy(e.test_data.x[:n])
        g = torch.Generator().manual_seed(0)
        elbo = float(e.model.elbo(x, n_samples=10, generator=g).mean())
        iwae = float(e.model.importance_log_likelihood(x, 1000, generator=g).mean())
        print(f"{name} ({e.config.model.likelihood}): held-out ELBO {elbo:.2f} nats,"
              f" log p(x) (k = 1000) {iwae:.2f} nats, over {len(x)} held-out digits", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
