"""The hierarchical VAEs as the engine drives them: frames, scalars, interventions,
traversals, prior samples, checkpoints and configs."""

import numpy as np
import pytest
import torch

from pcviz.config import ConfigError
from pcviz.models import DataInfo, ModelError, build_model
from pcviz.models.lvae import BVAEConfig, LVAEConfig
from pcviz.models.vae_parts import precision_merge
from pcviz.sim import Engine, load_preset
from pcviz.sim import commands as C
from pcviz.sim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

KINDS = ["lvae", "bvae"]



def _engine(kind, *overrides, checkpoint=True):
    extra = [] if checkpoint else ["engine.checkpoint=''"]
    cfg = load_preset(f"digits-{kind}", ["engine.device=cpu", "data.batch_size=8", *extra, *overrides])
    return Engine(cfg, device="cpu")


@pytest.fixture(scope="module", params=KINDS)
def shipped(request):
    """The shipped preset and checkpoint, learning off, one batch held."""
    e = _engine(request.param, "engine.learning=false", "data.hold_steps=1000")
    e.run_steps(1)
    return e


@pytest.fixture
def trained(shipped):
    shipped.model.clear_interventions()
    yield shipped
    shipped.model.clear_interventions()


def _small(kind, **kw):
    cls = LVAEConfig if kind == "lvae" else BVAEConfig
    return build_model(cls(latents=[6, 4, 2], hidden=16, **kw), DataInfo(64, (8, 8)), seed=0)


# ------------------------------------------------------------------ frames
def test_frames_carry_the_common_quantities_and_the_merge(trained):
    m = trained.model
    frame = trained.snapshot(batch=True)
    assert [l.name for l in trained.spec.layers] == ["input", "z1", "z2", "z3"]
    for l, layer in enumerate(frame.layers):
        for q in ("activity", "prediction", "error", "precision"):
            assert q in layer and np.isfinite(layer[q]).all(), (l, q)
        np.testing.assert_allclose(layer["error"], layer["activity"] - layer["prediction"], atol=1e-6)
        assert (layer["precision"] >= 0).all()
        if l == 0:
            assert layer["activity"].shape == (8, 64)
            assert ((layer["prediction"] >= 0) & (layer["prediction"] <= 1)).all()  # Bernoulli means
            continue
        for q in ("bu_mean", "bu_precision", "bu_weight", "z", "kl"):
            assert layer[q].shape == (8, m.sizes[l]), (l, q)
        w = layer["bu_weight"]
        assert ((w >= 0) & (w <= 1)).all()
        np.testing.assert_allclose(w, layer["bu_precision"] / (layer["bu_precision"] + layer["precision"]),
                                   rtol=1e-5, atol=1e-6)
        # posterior mean = the precision-weighted merge of the streamed bottom-up
        # estimate and prior (exactly for lvae; for bvae by the implied factor's definition)
        mu, _ = precision_merge(*(torch.from_numpy(layer[k]).double()
                                  for k in ("bu_mean", "bu_precision", "prediction", "precision")))
        informative = w > 1e-3
        np.testing.assert_allclose(mu.numpy()[informative], layer["activity"][informative], rtol=1e-4, atol=1e-4)


def test_scalars_add_up(trained):
    s = trained.snapshot().scalars
    L = trained.model.L
    kl = sum(s[f"kl/level_{l}"] for l in range(1, L + 1))
    assert s["elbo"] == pytest.approx(s["recon"] - kl, abs=1e-4)
    assert s["energy/total"] == pytest.approx(-s["elbo"], abs=1e-4)
    assert s["energy/layer_0"] == pytest.approx(-s["recon"], abs=1e-5)
    for l in range(1, L + 1):
        assert s[f"energy/layer_{l}"] == pytest.approx(s[f"kl/level_{l}"])
        assert s[f"active_units/level_{l}"] >= 1  # the shipped models keep every level in use
        assert s[f"collapsed/level_{l}"] == 0
    e = trained.model.layer_energies()
    assert e.shape == (L + 1,) and bool(torch.isfinite(e).all())


def test_learning_off_draws_from_a_fixed_posterior(trained):
    m = trained.model
    before = {k: v.clone() for k, v in m.state_tensors().items()}
    a = [{k: v.clone() for k, v in d.items()} for d in m.frame_tensors()]
    trained.run_steps(1)
    b = m.frame_tensors()
    top = m.L
    torch.testing.assert_close(a[top]["activity"], b[top]["activity"])  # q(z_L | x) depends on x only
    assert not torch.equal(a[top]["z"], b[top]["z"])  # a new draw
    for k, v in m.state_tensors().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("kind", KINDS)
def test_learning_steps_change_weights_and_count_warmup(kind):
    m = _small(kind, warmup="shared", warmup_steps=10)
    x = torch.rand(8, 64)
    m.set_batch(x, None, True)
    w0 = {k: v.clone() for k, v in m.weight_tensors().items()}
    for _ in range(3):
        m.step(True)
    assert m.opt_steps == 3
    assert m.scalar_tensors(None)["kl_weight/level_1"] == pytest.approx(0.3)
    assert any(not torch.equal(v, w0[k]) for k, v in m.weight_tensors().items())


# ----------------------------------------------------------- interventions
def _recon(m, seed):
    m.manual_seed(seed)
    m.step(False)
    return m.frame_tensors()[0]["prediction"].clone()


def test_clamping_a_top_unit_changes_the_reconstruction_and_release_restores(trained):
    m = trained.model
    top = m.L
    unit = int(m.posterior_means()[top - 1].var(0).argmax())  # the top unit the data uses most
    free = _recon(m, 7)
    m.clamp(top, [unit], 3.0)
    clamped = _recon(m, 7)
    layer = m.frame_tensors()[top]
    assert bool((layer["z"][:, unit] == 3.0).all()) and bool((layer["activity"][:, unit] == 3.0).all())
    assert float(layer["kl"][:, unit].abs().max()) == 0.0  # a clamped unit carries no KL
    assert float((clamped - free).abs().max()) > 0.1
    m.release(top, [unit])
    torch.testing.assert_close(_recon(m, 7), free)


def test_engine_commands_reach_the_model(trained):
    trained.submit(C.Clamp(2, (0, 1), -1.5, duration=2))
    trained.run_steps(1)
    z = trained.model.frame_tensors()[2]["z"]
    assert bool((z[:, :2] == -1.5).all())
    trained.run_steps(2)  # the clamp expires
    assert not bool((trained.model.frame_tensors()[2]["z"][:, :2] == -1.5).any())
    trained.submit(C.Occlude(region=(0, 0, 2, 8)))
    trained.run_steps(1)
    assert float(trained.model.frame_tensors()[0]["precision"][:, :16].abs().max()) == 0.0
    kinds = [ev.kind for ev in trained.events.all()]
    assert "clamp" in kinds and "occlude" in kinds and "error" not in kinds


def test_occluded_pixels_leave_the_likelihood_and_are_filled_in(trained):
    m = trained.model
    region = [r * 8 + c for r in range(4) for c in range(8)]  # the top half
    m.occlude(region)
    m.step(False)
    prev = m.frame_tensors()[0]["prediction"].clone()
    m.step(False)
    f0 = m.frame_tensors()[0]
    torch.testing.assert_close(f0["activity"][:, region], prev[:, region])  # filled by the last reconstruction
    assert float(f0["precision"][:, region].abs().max()) == 0.0
    m.occlude(list(range(64)))
    m.step(False)
    assert float(m.scalar_tensors(None)["recon"]) == 0.0  # nothing left to explain
    m.unocclude()
    m.step(False)
    torch.testing.assert_close(m.frame_tensors()[0]["activity"], m._x)


def test_lesioning_the_prior_precision_leaves_the_bottom_up_estimate():
    m = _small("lvae")
    m.set_batch(torch.rand(4, 64), None, False)
    m.lesion(2, 0.0)
    layer = m.frame_tensors()[2]
    torch.testing.assert_close(layer["activity"], layer["bu_mean"])
    torch.testing.assert_close(layer["bu_weight"], torch.ones_like(layer["bu_weight"]))
    m.clear_interventions()
    assert float(m.frame_tensors()[2]["bu_weight"].max()) < 1.0
    with pytest.raises(ModelError, match="no bottom-up precision|not supported"):
        _small("bvae").lesion(1, 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_interventions_say_what_is_wrong(kind):
    m = _small(kind)
    with pytest.raises(ModelError, match="label"):
        m.set_label(3)
    with pytest.raises(ModelError, match="level 0 is the input"):
        m.clamp(0, [1], 1.0)
    with pytest.raises(ModelError, match="out of range"):
        m.clamp(4, [0], 1.0)
    with pytest.raises(ModelError, match="unit 9 out of range"):
        m.clamp(2, [9], 1.0)
    with pytest.raises(ModelError, match="levels are 1..3"):
        m.traverse(0, 0, [0.0])
    with pytest.raises(ModelError, match="at least 1"):
        m.sample_prior(1, 0)


# ------------------------------------------------- traversal and prior samples
def test_traversal_holds_the_rest_at_the_posterior_mean(trained):
    m = trained.model
    top = m.L
    mean = m.posterior_means()[top - 1][2]  # (n_L,)
    # setting any unit to its own posterior mean is the same image
    a = m.traverse(top, 0, [float(mean[0])], index=2)
    b = m.traverse(top, 1, [float(mean[1])], index=2)
    assert a.shape == (1, 8, 8)
    torch.testing.assert_close(a, b)
    unit = int(m.posterior_means()[top - 1].var(0).argmax())
    strip = m.traverse(top, unit, torch.linspace(-3, 3, 7), index=2)
    assert strip.shape == (7, 8, 8) and float(strip.min()) >= 0 and float(strip.max()) <= 1
    assert float((strip[0] - strip[-1]).abs().max()) > 0.2  # the unit the data uses changes the image


def test_prior_samples_from_the_top_follow_n01_and_lower_levels_keep_the_levels_above(trained):
    m = trained.model
    g = torch.Generator().manual_seed(0)
    images, z = m.sample_prior(m.L, 4000, generator=g, return_latents=True)
    assert images.shape == (4000, 8, 8)
    top = z[-1]  # (n, n_L)
    assert float(top.mean(0).abs().max()) < 4 / np.sqrt(4000) * 1.5
    assert float((top.var(0) - 1).abs().max()) < 0.1
    images, z = m.sample_prior(1, 16, index=3, generator=g, return_latents=True)
    for level in range(2, m.L + 1):
        zl = z[level - 1]
        assert torch.equal(zl, zl[:1].expand_as(zl)), level  # held, not sampled
    torch.testing.assert_close(z[-1][0], m.posterior_means()[-1][3])
    assert float(z[0].std(0).min()) > 0  # level 1 is sampled
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    torch.testing.assert_close(m.sample_prior(2, 3, generator=g1), m.sample_prior(2, 3, generator=g2))


# ------------------------------------------------------- checkpoints & config
@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip(kind, tmp_path):
    m = _small(kind)
    m.set_batch(torch.rand(4, 64), None, True)
    m.step(True)
    path = save_checkpoint(m, tmp_path / "c.pt")
    other = _small(kind)
    load_checkpoint(other, path)
    for k, v in m.state_tensors().items():
        torch.testing.assert_close(other.state_tensors()[k], v)
    assert other.opt_steps == 1
    cls = LVAEConfig if kind == "lvae" else BVAEConfig
    wider = build_model(cls(latents=[6, 4, 2], hidden=17), DataInfo(64, (8, 8)))
    with pytest.raises(CheckpointError, match="hidden"):
        load_checkpoint(wider, path)


def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match="free_bits"):
        load_preset("digits-lvae", ["model.free_bits=[0.1, 0.2]"])
    with pytest.raises(ConfigError, match="model.warmup"):
        load_preset("digits-lvae", ["model.warmup=sometimes"])
    with pytest.raises(ConfigError, match="latents"):
        load_preset("digits-bvae", ["model.latents=[]"])
    cfg = load_preset("digits-lvae", ["model.free_bits=[0.1, 0.2, 0.3]"])
    assert cfg.model.free_bits_per_level() == [0.1, 0.2, 0.3]


def test_live_parameters_and_structural_ones():
    e = _engine("lvae", checkpoint=False)
    e.handler.set_param("model.lr", 0.01)
    assert e.model.opt.param_groups[0]["lr"] == 0.01
    with pytest.raises(ConfigError, match="architecture"):
        e.handler.set_param("model.latents", [4, 2])


@pytest.mark.parametrize("kind", KINDS)
def test_frames_reach_recorders_and_displays(kind):
    e = _engine(kind)
    q = e.subscribe_queue(maxsize=64, every=1, weights_every=2)
    slot = e.subscribe_latest(with_basis=True)
    e.run_steps(4)
    frames = [q.get_nowait() for _ in range(4)]
    assert [f.step for f in frames] == [1, 2, 3, 4] and q.dropped == 0
    assert any(k.startswith("weights/") for k in frames[1].extras)
    spec = e.spec
    for f in frames:
        assert set(f.scalars) == set(spec.scalars)
        for l, layer in enumerate(f.layers):
            assert {k: v.shape for k, v in layer.items()} == spec.layers[l].quantities
    latest = slot.take()
    assert latest.extras["basis"].shape[1:] == (8, 8)


def test_train_command_writes_a_checkpoint_the_preset_can_load(tmp_path, capsys):
    from pcviz.cli import main

    out = tmp_path / "lvae.pt"
    assert main(["train", "--preset", "digits-lvae", "--out", str(out), "--steps", "20", "--device", "cpu",
                 "--set", "model.hidden=16"]) == 0
    assert "held-out" in capsys.readouterr().out
    e = _engine("lvae", f"engine.checkpoint={out.as_posix()!r}", "model.hidden=16")
    assert e.model.opt_steps == 20
