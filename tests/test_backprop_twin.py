"""The backprop twin of discriminative PC (``model.backprop_twin``, preset
``digits-discriminative``): it starts from PC's weights, learns from exactly PC's
batches, and is plain SGD on ½ γ ‖y − ŷ‖². Checked against a feed-forward net and an
SGD loop written here with autograd, fed by a second stream drawn independently with
the engine's seed; and PC itself stays close to that independent backprop run when
the output precision γ is small against the hidden ones (Whittington & Bogacz 2017),
and visibly further from it when they are equal."""

import numpy as np
import pytest
import torch

from pcviz.config import ConfigError
from pcviz.data import SampleStream
from pcviz.models.pc_twin import TWIN_SCALARS
from pcviz.sim import Engine, load_preset
from pcviz.sim import commands as C

SMALL = ["data.batch_size=8", "model.heldout_every=2"]


def engine(*sets: str) -> Engine:
    return Engine(load_preset("digits-discriminative", [*SMALL, *sets]), "cpu")


def independent_backprop(e: Engine, Ws, bs, holds: int, gamma: float, lr: float):
    """SGD by hand on the batches a fresh stream with the engine's seed draws: the MLP
    input (64) → tanh → tanh → linear (10), loss ½ γ ‖onehot − ŷ‖², batch mean."""
    cfg = e.config
    stream = SampleStream(e.dataset, cfg.data.batch_size, cfg.data.hold_steps, shuffle=cfg.data.shuffle,
                          seed=cfg.engine.seed, noise=cfg.data.noise)
    Ws = [w.detach().clone().double().requires_grad_(True) for w in Ws]
    bs = [b.detach().clone().double().requires_grad_(True) for b in bs]
    acts = [lambda a: a, torch.tanh, torch.tanh]
    for _ in range(holds):
        batch = stream.next_batch()
        h = torch.from_numpy(batch.x).double()
        for l in (2, 1, 0):
            h = acts[l](h @ Ws[l].T + bs[l])
        y = torch.nn.functional.one_hot(torch.from_numpy(batch.labels), 10).double()
        loss = 0.5 * gamma * ((y - h) ** 2).sum(1).mean()
        grads = torch.autograd.grad(loss, Ws + bs)
        with torch.no_grad():
            for p, g in zip(Ws + bs, grads):
                p -= lr * g
    return [w.detach() for w in Ws], [b.detach() for b in bs]


def rel(a, b) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def test_the_twin_starts_from_pcs_weights_and_learns_from_its_batches():
    e = engine()
    m = e.model
    W0 = [w.clone() for w in m.W]
    b0 = [b.clone() for b in m.b[:3]]
    for mine, pcs in zip(m.twin.W + m.twin.b, W0 + b0):
        assert torch.equal(mine.detach(), pcs)
    holds = 6
    e.run_steps(holds * e.config.data.hold_steps)
    assert m.twin.steps == holds
    Wi, bi = independent_backprop(e, W0, b0, holds, gamma=1.0, lr=e.config.model.lr_weights)
    for mine, want in zip(m.twin.W + m.twin.b, Wi + bi):
        assert rel(mine.detach(), want) < 1e-5  # float32 against float64
    # its last batch is the stream's last: the engine's input and one-hot label
    x, y = m.twin.last_batch
    batch = e.stream.current
    np.testing.assert_array_equal(x.numpy(), batch.x)
    np.testing.assert_array_equal(y.argmax(1).numpy(), batch.labels)


def test_pc_follows_backprop_at_small_output_precision_and_parts_from_it_at_equal_precision():
    """γ / Π_hidden = 1e-3 (the preset): after 6 holds PC's weights have moved where an
    independent backprop run's did, within 5% of that displacement (what is left is
    inference not quite settled in a hold of 40 steps: the deepest layer's update is
    0.5% short, and the 0.2% of γ / Π_hidden itself); at γ = Π_hidden (the learning
    rate scaled to keep the same step) they are more than ten times further apart."""
    dist = {}
    for label_precision, lr in ((1.0, 0.1), (1000.0, 0.0001)):
        e = engine(f"model.label_precision={label_precision}", f"model.lr_weights={lr}")
        m = e.model
        W0, b0 = [w.clone() for w in m.W], [b.clone() for b in m.b[:3]]
        e.run_steps(6 * e.config.data.hold_steps)
        Wi, bi = independent_backprop(e, W0, b0, 6, gamma=label_precision, lr=lr)
        # distance travelled by backprop, and PC's distance from where backprop went
        moved = max(rel(wi, w0) for wi, w0 in zip(Wi, W0))
        dist[label_precision] = max(float((w.double() - wi).norm() / (wi - w0.double()).norm())
                                    for w, wi, w0 in zip(m.W, Wi, W0))
        assert moved > 1e-3  # the weights did move
    assert dist[1.0] < 0.05, dist
    assert dist[1000.0] > 10 * dist[1.0], dist


def test_pcs_heldout_accuracy_is_what_its_own_inference_answers():
    """The twin reads PC's held-out accuracy off the feed-forward pass of PC's weights;
    PC's inference with the label free must end there."""
    e = engine()
    e.run_steps(20 * e.config.data.hold_steps)
    m = e.model
    m.twin.measure()
    streamed = float(m.twin.values[0])
    x = torch.from_numpy(e.test_data.x)
    labels = torch.from_numpy(e.test_data.labels)
    m.set_batch(x, labels, learning=False)
    for _ in range(e.config.data.hold_steps):
        m.step(learning=False)
    inferred = float((m.x[0].argmax(1) == labels).float().mean())
    assert inferred == pytest.approx(streamed, abs=1e-9)
    assert streamed > 0.5  # it learned something in 20 holds (chance is 0.1)


def test_the_twin_streams_and_records_its_scalars(tmp_path, capsys):
    import h5py

    from pcviz.cli import main
    from pcviz.io import open_recording

    e = engine()
    assert set(TWIN_SCALARS) <= set(e.spec.scalars)
    assert all(name in e.spec.scalar_notes for name in TWIN_SCALARS)
    e.run_steps(4 * e.config.data.hold_steps)
    for batch in (False, True):
        f = e.snapshot(batch=batch)
        for i, name in enumerate(TWIN_SCALARS):
            assert f.scalars[name] == pytest.approx(float(e.model.twin.values[i]), abs=1e-6)
    out = tmp_path / "twin.h5"
    rc = main(["record", "--preset", "digits-discriminative", "--steps", "120", "--out", str(out), "--device", "cpu",
               *[a for s in SMALL for a in ("--set", s)]])
    assert rc == 0, capsys.readouterr().err
    rec = open_recording(out)
    try:
        acc = np.asarray(rec.scalar("heldout_accuracy/backprop"))
        loss = np.asarray(rec.scalar("train_loss/pc"))
    finally:
        rec.close()
    assert np.isfinite(acc).all() and ((acc >= 0) & (acc <= 1)).all()
    assert np.isfinite(loss[e.config.data.hold_steps:]).all()  # measured from the first learning hold on
    with h5py.File(out, "r") as f:
        assert "held-out" in f["scalars/heldout_accuracy/pc"].attrs["description"]


def test_accuracy_in_discriminative_mode_is_the_nets_guess_not_the_clamped_label():
    """While learning, the label layer holds the answer; ``batch_accuracy`` reads the
    label layer's prediction from above, the guess of the feed-forward net, over the
    whole batch whichever item is shown."""
    e = engine("data.batch_size=32")
    e.run_steps(3)
    m = e.model
    h = m.x[3]  # the digit at the top, through the MLP: tanh, tanh, linear
    for l, f in ((2, torch.tanh), (1, torch.tanh), (0, lambda a: a)):
        h = f(h @ m.W[l].T + m.b[l])
    guess = h.argmax(1)
    want = float((guess == m._data_labels).float().mean())
    assert want < 0.5  # random weights: about chance, not the clamped label's 100%
    assert e.snapshot(batch=True).scalars["batch_accuracy"] == pytest.approx(want, abs=1e-6)
    assert float(m.scalar_tensors(None)["batch_accuracy"]) == pytest.approx(want, abs=1e-6)
    # the frames the window and the recorder take show one item; their accuracy is still the batch's
    for index in (0, 5):
        assert float(m.scalar_tensors(index)["batch_accuracy"]) == pytest.approx(want, abs=1e-6)
    e.handler.apply(C.SetDisplayIndex(5))  # as the engine applies a command, between steps
    assert e.snapshot().display_index == 5
    assert e.snapshot().scalars["batch_accuracy"] == pytest.approx(want, abs=1e-6)
    assert 0 < want < 1  # not a single item's 0 or 1


def test_output_precision_setting_and_refusals():
    e = engine()
    assert float(e.model.precision(0)) == pytest.approx(1.0)  # label_precision
    assert float(e.model.precision(1)) == pytest.approx(1000.0)  # precision_init
    e.handler.set_param("model.label_precision", 1000.0)
    assert float(e.model.precision(0)) == pytest.approx(1000.0)
    with pytest.raises(ConfigError, match="backprop_twin"):
        load_preset("digits-discriminative", ["model.mode='supervised'", "model.sizes=[64, 32, 10]"])
    with pytest.raises(ConfigError, match="prior_strength = 0.1"):  # PC's inference would not end at the MLP's pass
        load_preset("digits-discriminative", ["model.prior_strength=0.1"])
    with pytest.raises(ConfigError, match="restart"):
        e.handler.set_param("model.backprop_twin", False)


def test_the_preset_schedules_the_output_precision_rise():
    cfg = load_preset("digits-discriminative")
    assert cfg.model.backprop_twin and cfg.model.mode == "discriminative" and cfg.engine.learning
    assert cfg.model.label_precision / cfg.model.precision_init == pytest.approx(1e-3)
    got = {(s.step, s.fields["name"], s.fields["value"]) for s in cfg.interventions}
    assert got == {(36000, "model.label_precision", 10000.0), (36000, "model.lr_weights", 0.00001)}


def test_recorded_batch_accuracy_is_the_batchs_whichever_item_is_shown(tmp_path):
    """A recording of the shown item (the window's and ``pcviz record``'s default) keeps
    the batch's accuracy, computed here from a whole-batch recording of the same steps:
    the label layer's recorded prediction of every item against the dataset's labels
    of the recorded sample indices. Its description in the file says what it is."""
    import h5py

    from pcviz.io import Recorder, open_recording

    e = engine("data.batch_size=16", "engine.display_index=3", "data.hold_steps=4")
    shown = Recorder(e, tmp_path / "shown.h5").start()
    whole = Recorder(e, tmp_path / "whole.h5", batch=True).start()
    e.run_steps(24)  # six learning holds: the guesses change
    shown.stop(), whole.stop()
    with open_recording(tmp_path / "shown.h5") as a, open_recording(tmp_path / "whole.h5") as b:
        np.testing.assert_array_equal(a.steps, b.steps)
        pred = b.quantity(0, "prediction")  # (T, B, 10): the label layer's prediction from above
        with h5py.File(tmp_path / "whole.h5", "r") as f:
            samples = f["time/samples"][:]  # (T, B)
        want = (pred.argmax(-1) == e.dataset.labels[samples]).mean(-1)  # (T,)
        got = a.scalar("batch_accuracy")
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert ((want > 0) & (want < 1)).any()  # a batch's fraction, not one item's 0 or 1
        np.testing.assert_allclose(b.scalar("batch_accuracy"), want, atol=1e-6)
    with h5py.File(tmp_path / "shown.h5", "r") as f:
        assert "accuracy" not in f["scalars"]
        assert f["scalars/batch_accuracy"].attrs["description"].startswith(
            "fraction of the batch whose label layer's prediction from above peaks at its label")


def test_a_checkpoint_keeps_the_twin_and_the_comparison_goes_on_from_it(tmp_path):
    """Saved with its twin, a checkpoint brings back the twin's own weights (SGD by hand
    on the same batches says what they must be), and both nets learn on from there."""
    from pcviz.sim.checkpoint import read_checkpoint

    a = engine()
    W0 = [w.clone() for w in a.model.W]
    b0 = [b.clone() for b in a.model.b[:3]]
    a.run_steps(4 * a.config.data.hold_steps)
    path = tmp_path / "disc.pt"
    a.handler.apply(C.SaveCheckpoint(str(path)))
    saved = read_checkpoint(path)["tensors"]
    assert {f"twin.{n}.{l}" for n in "Wb" for l in range(3)} <= saved.keys()
    Wi, bi = independent_backprop(a, W0, b0, 4, gamma=1.0, lr=a.config.model.lr_weights)

    b = engine()
    b.handler.apply(C.LoadCheckpoint(str(path)))
    twin, pc = b.model.twin, b.model
    for mine, want in zip(twin.W + twin.b, Wi + bi):
        assert rel(mine.detach(), want) < 1e-6  # float32 against float64: 5e-8 measured
    # not restarted from PC's weights, which backprop's are close to at γ/Π = 1e-3 (2e-4 apart), not equal
    assert min(rel(tw.detach(), w) for tw, w in zip(twin.W, pc.W)) > 1e-4
    assert all(torch.equal(x, y) for x, y in zip(pc.W, a.model.W))
    # held-out accuracy measured at once, of the loaded twin
    x, labels = twin._heldout
    want_acc = float((twin.predict(x).argmax(1) == labels).float().mean())
    assert float(twin.values[1]) == pytest.approx(want_acc)
    # learning goes on from the twin's saved weights: two holds on the fresh stream's batches
    b.run_steps(2 * b.config.data.hold_steps)
    Wj, bj = independent_backprop(b, Wi, bi, 2, gamma=1.0, lr=b.config.model.lr_weights)
    for mine, want in zip(twin.W + twin.b, Wj + bj):
        assert rel(mine.detach(), want) < 1e-6  # float32 against float64: 5e-8 measured


def test_a_checkpoint_without_a_twin_restarts_it_from_pcs_weights(tmp_path):
    a = engine()
    a.run_steps(3 * a.config.data.hold_steps)
    path = tmp_path / "old.pt"
    a.handler.apply(C.SaveCheckpoint(str(path)))
    payload = torch.load(path, map_location="cpu", weights_only=True)  # as an older pcviz wrote it
    payload["tensors"] = {k: v for k, v in payload["tensors"].items() if not k.startswith("twin.")}
    torch.save(payload, path)
    b = engine()
    b.handler.apply(C.LoadCheckpoint(str(path)))
    assert not [ev for ev in b.events.since(0)[0] if ev.kind == "error"]
    m = b.model
    for mine, pcs in zip(m.twin.W + m.twin.b, m.W + m.b[:3]):
        assert torch.equal(mine.detach(), pcs)
    # half a twin is refused, naming what is missing
    payload["tensors"]["twin.W.0"] = a.model.twin.W[0].detach().clone()
    torch.save(payload, path)
    c = engine()
    c.handler.apply(C.LoadCheckpoint(str(path)))
    errors = [ev for ev in c.events.since(0)[0] if ev.kind == "error"]
    assert errors and "twin.W.1" in errors[0].payload["message"]
