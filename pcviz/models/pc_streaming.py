"""What the predictive-coding families stream: the four quantities per layer, the
scalars (energies, error norms, precisions, accuracy), on the device or, for many
frames at once, on the host from the frames' own arrays.

A mixin of :class:`pcviz.models.pc.PCModel`.
"""

from __future__ import annotations

import numpy as np
import torch

from pcviz.models.pc_twin import TWIN_NOTES, TWIN_SCALARS


#: what ``batch_accuracy`` is, by mode (the frame spec's note: the plot's title, the
#: recording's description of the scalar)
BATCH_ACCURACY_NOTES = {
    "discriminative": "fraction of the batch whose label layer's prediction from above peaks at its label, this"
                      " step (while learning the label is clamped, and a large γ pulls that prediction toward it)",
    "supervised": "fraction of the batch whose label layer's activity peaks at its label, this step (1 while the"
                  " label is clamped)",
}


class PCStreaming:
    """Frame tensors and scalars of a PC model (see the module docstring)."""

    def frame_tensors(self) -> list[dict[str, torch.Tensor]]:
        out = []
        for l in range(self.L + 1):
            out.append({
                "activity": self.x[l],
                "prediction": self.pred[l],
                "error": self.err[l],
                "precision": self.effective_precision(l).expand(self.batch_size, self.sizes[l]),
            })
        if self.config.sample_window:  # Monte Carlo PC: the samples' spread (pcviz.models.pc_sampling)
            for layer, extra in zip(out, self.sample_quantities()):
                layer.update(extra)
        return out

    def scalar_tensors(self, index: int | None) -> dict[str, torch.Tensor]:
        E = self.energies()  # (L+1, B)
        e = E.mean(1) if index is None else E[:, index]
        out = {f"energy/layer_{l}": e[l] for l in range(self.L + 1)}
        out["energy/total"] = e.sum()
        for l in range(self.L + 1):
            err = self.err[l] if index is None else self.err[l][index : index + 1]
            out[f"error_norm/layer_{l}"] = err.norm(dim=1).mean()
            out[f"precision/layer_{l}"] = self.effective_precision(l).mean()
        if self.streams_bp_cosine:
            for l in range(self.L):
                out[f"bp_cosine/layer_{l}"] = self.bp_cosine[l]
        if self.twin is not None:  # per frame, held between measurements
            out.update(zip(TWIN_SCALARS, self.twin.values))
        if self.label_layer is not None:  # the batch's, whichever item is shown
            out["batch_accuracy"] = self.batch_accuracy()
        if self.config.sample_window:
            out.update(self.sample_scalars(index))
        return out

    def label_guess(self) -> torch.Tensor:
        """(B,) the net's guess of each item's class: the argmax of the label layer's
        prediction from above in discriminative mode (the label layer at the bottom
        holds the answer while learning, so its activity would read 100%), of the
        label layer's activity in supervised mode (the label at the top)."""
        ll = self.label_layer
        return (self.pred[ll] if ll < self.L else self.x[ll]).argmax(1)

    def batch_accuracy(self) -> torch.Tensor:
        """0-d: the fraction of the presented batch whose guess is its label (NaN for
        unlabelled data)."""
        if self._data_labels is None:
            return torch.tensor(float("nan"), device=self.device, dtype=self.dtype)
        return (self.label_guess() == self._data_labels).to(self.dtype).mean()

    def energies(self) -> torch.Tensor:
        """(L+1, B) energy per layer and sample."""
        cfg = self.config
        out = []
        for l in range(self.L + 1):
            e = 0.5 * (self.perr[l] * self.err[l]).sum(1)  # (B,)
            logp = torch.log(self.precision(l)).expand(self.sizes[l])  # (n_l,)
            e = e - 0.5 * logp.sum()
            if cfg.prior_at(l) > 0:
                x = self.x[l]
                if cfg.prior == "gaussian":
                    rho = 0.5 * x * x
                elif cfg.prior == "l1":
                    rho = x.abs()
                else:
                    rho = torch.log1p(x * x)
                e = e + cfg.prior_at(l) * rho.sum(1)
            out.append(e)
        return torch.stack(out)

    def energy(self) -> torch.Tensor:
        """(B,) total energy F per sample."""
        return self.energies().sum(0)

    def scalar_notes(self) -> dict[str, str]:
        notes = self.sample_notes() if self.config.sample_window else {}
        if self.twin is not None:
            notes.update({name: TWIN_NOTES[name.split("/")[0]] for name in TWIN_SCALARS})
        if self.label_layer is not None:
            notes["batch_accuracy"] = BATCH_ACCURACY_NOTES[self.config.mode]
        return notes

    def layer_energies(self) -> torch.Tensor:
        return self.energies().mean(1)

    def frame_rows(self, index: int | None) -> list[torch.Tensor]:
        if type(self).frame_tensors is not PCStreaming.frame_tensors or self.config.sample_window:
            return super().frame_rows(index)
        self.complete_deferred()  # the cached views below are read after this call
        key = (index, self.batch_size, self._peff, self.x[0])
        old = self._rows_key
        # identity of the buffers (held by the key, so never reused): views stay valid
        # while the buffers and precisions do
        if old is None or old[0] != index or old[1] != self.batch_size or old[2] is not key[2] or old[3] is not key[3]:
            rows = []
            for l in range(self.L + 1):
                prec = self._peff[l].expand(self.sizes[l])  # (n_l,)
                if index is None:
                    rows += [self.x[l], self.pred[l], self.err[l], prec.expand(self.batch_size, -1)]
                else:
                    rows += [self.x[l][index], self.pred[l][index], self.err[l][index], prec]
            self._rows, self._rows_key = rows, key
        return self._rows

    def host_scalar_inputs(self) -> list[torch.Tensor] | None:
        if type(self).frame_tensors is not PCStreaming.frame_tensors or self.config.sample_window:
            return None  # a subclass streams other shapes, or the sample window's: use the device path
        if self._stale:
            self.forward()  # the parameters moved at the end of the hold
        if self._logdet is None or self._logdet_key is not self._peff:
            ld = [-0.5 * torch.log(self.precision(l)).expand(self.sizes[l]).sum() for l in range(self.L + 1)]
            self._logdet = torch.stack(ld)  # (L+1,): −½ log|Π_l| (learned, without lesion gains)
            self._logdet_key = self._peff
            self._logdet_list = [self._logdet]
            if self.streams_bp_cosine:
                self._logdet_list.append(self.bp_cosine)  # (L,), refreshed in place each hold
            if self.twin is not None:
                self._logdet_list.append(self.twin.values)  # (4,), refreshed in place
            if self.label_layer is not None:
                self._accuracy = torch.empty(1, device=self.device, dtype=self.dtype)
                self._logdet_list.append(self._accuracy)  # (1,), refreshed below for every frame
        if self.label_layer is not None:
            self._accuracy.copy_(self.batch_accuracy())  # in place: cached row views see it
        return self._logdet_list

    def host_scalars(self, layers, inputs, labels, batch):
        """scalar_tensors' energies, error norms, precisions and accuracy from the
        host copies of a frame (or many frames) — numpy, vectorised."""
        cfg = self.config
        logdet = inputs[0]  # (..., L+1)
        if batch:
            logdet = logdet[..., None, :]  # broadcast over the batch axis
        out, total = {}, 0.0
        norms, precs = {}, {}
        for l, q in enumerate(layers):
            err, prec = q["error"], q["precision"]
            e = 0.5 * np.einsum("...i,...i->...", prec * err, err) + logdet[..., l]
            if cfg.prior_at(l) > 0:
                x = q["activity"]
                rho = 0.5 * x * x if cfg.prior == "gaussian" else (np.abs(x) if cfg.prior == "l1" else np.log1p(x * x))
                e = e + cfg.prior_at(l) * rho.sum(-1)
            norms[l] = np.sqrt(np.einsum("...i,...i->...", err, err))
            precs[l] = prec.mean(-1)
            out[f"energy/layer_{l}"] = e
            total = total + e
        out["energy/total"] = total
        for l in range(len(layers)):
            out[f"error_norm/layer_{l}"] = norms[l]
            out[f"precision/layer_{l}"] = precs[l]
        if self.streams_bp_cosine:  # per frame, not per sample: broadcast over the batch axis
            bp = inputs[1][..., None, :] if batch else inputs[1]
            for l in range(self.L):
                out[f"bp_cosine/layer_{l}"] = bp[..., l]
        if self.twin is not None:
            tw = inputs[1 + self.streams_bp_cosine]
            tw = tw[..., None, :] if batch else tw
            for i, name in enumerate(TWIN_SCALARS):
                out[name] = tw[..., i]
        if self.label_layer is not None:  # per frame, the batch's: broadcast over the batch axis
            acc = inputs[-1][..., None, 0] if batch else inputs[-1][..., 0]
            out["batch_accuracy"] = acc
        if batch:
            out = {k: v.mean(-1) for k, v in out.items()}
        return {k: np.asarray(v, np.float32) for k, v in out.items()}
