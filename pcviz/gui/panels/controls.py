"""Run controls: preset and device, play/pause, step, step one hold, reset, speed,
inference step dt, steps per hold T, learning and its rates, precision learning,
the VAEs' posterior mode (one draw per step, or refine), the hybrid family's forward
gain and early stop, which batch item is shown, and the display rate. Every change goes to the engine
as a typed command; the widgets follow the engine's config back, whatever changed it
(the source's ``config_changed``: a control, a script, the Python API, a schedule), and
setting a widget from the config sends nothing back; a refused value springs back. A
setting that does nothing under the model's configuration (the config's
``inert_settings``) is shown disabled, its tooltip saying why."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from PyQt6 import QtCore, QtGui, QtWidgets

from pcviz.gui.sources.frame_source import FrameSource
from pcviz.models.hybrid_pc import HybridPCConfig
from pcviz.models.pc_config import PCConfig, PCDynamicsConfig
from pcviz.models.vae_refine import RefineConfig
from pcviz.sim import commands as C
from pcviz.sim.presets import PresetEntry

_FOCUS_NONE = QtCore.Qt.FocusPolicy.NoFocus


def field_meta(obj: Any, name: str) -> dict[str, Any]:
    for f in dataclasses.fields(obj):
        if f.name == name:
            return dict(f.metadata)
    return {}


class RateSpinBox(QtWidgets.QDoubleSpinBox):
    """A spin box for rates and precisions that span decades (1e-5 to 1e4): shown with
    four significant digits (a fixed number of decimals showed 1e-6 as 0), typed as
    any float ("1e-5", "0.00001"); it keeps twelve decimals internally."""

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setStepType(QtWidgets.QAbstractSpinBox.StepType.AdaptiveDecimalStepType)

    def textFromValue(self, value: float) -> str:
        return f"{value:.4g}"

    def stepBy(self, steps: int) -> None:  # noqa: N802 (Qt's name)
        """A tenth of the value's decade per step (Qt's adaptive step); from 0, up to
        1e-3 (the adaptive step there is the smallest decimal, 1e-12)."""
        if self.value() == 0.0 and steps > 0:
            self.setValue(min(self.maximum(), 1e-3))
            return
        super().stepBy(steps)

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        State = QtGui.QValidator.State
        stripped = text.strip()
        try:
            value = float(stripped)
        except ValueError:  # part of a number ("1e", "-", ""): let the user go on typing
            ok = all(ch in "0123456789.eE+-" for ch in stripped)
            return (State.Intermediate if ok else State.Invalid), text, pos
        if self.minimum() <= value <= self.maximum():
            return State.Acceptable, text, pos
        return State.Intermediate, text, pos


def available_devices() -> list[tuple[str, bool]]:
    mps = getattr(torch.backends, "mps", None)
    return [("auto", True), ("cpu", True), ("cuda", torch.cuda.is_available()),
            ("mps", bool(mps is not None and mps.is_available()))]


class ControlPanel(QtWidgets.QWidget):
    #: (preset name or path, device) asked for: the window opens a new engine
    preset_requested = QtCore.pyqtSignal(str, str)

    def __init__(self, source: FrameSource, presets: list[PresetEntry], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.source = source
        self.params: dict[str, QtWidgets.QWidget] = {}  # config key -> widget
        self._syncing = False
        self._tips: dict[str, str] = {}  # config key -> the widget's own tooltip
        live = bool(source.live)
        cfg = source.config
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        # --- model
        box = QtWidgets.QGroupBox("Model")
        form = QtWidgets.QFormLayout(box)
        self.preset = QtWidgets.QComboBox()
        current = cfg.preset.name if cfg is not None else ""
        for e in presets:
            self.preset.addItem(e.name, e.name)
            self.preset.setItemData(self.preset.count() - 1, e.description, QtCore.Qt.ItemDataRole.ToolTipRole)
        if current and self.preset.findData(current) < 0:
            self.preset.addItem(current, current)
        self.preset.setCurrentIndex(max(0, self.preset.findData(current)))
        self.device = QtWidgets.QComboBox()
        for name, ok in available_devices():
            self.device.addItem(name, name)
            if not ok:
                self.device.model().item(self.device.count() - 1).setEnabled(False)
        dev = source.device
        self.device.setCurrentIndex(max(0, self.device.findData(dev)))
        for w in (self.preset, self.device):
            w.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
            w.activated.connect(self._request_preset)
        form.addRow("preset", self.preset)
        form.addRow("device", self.device)
        outer.addWidget(box)

        # --- run
        box = QtWidgets.QGroupBox("Run")
        grid = QtWidgets.QGridLayout(box)
        self.play = self._button("Play", "play or pause (Space)", self.toggle_play)
        self.step = self._button("Step", "one step (Right arrow)", lambda: self.send(C.Step(1)))
        self.step_hold = self._button("Step hold", "run to the next sample (Shift+Right)",
                                      lambda: self.send(C.StepHold()))
        self.reset = self._button("Reset", "start again: fresh state, data stream and the preset's weights (Ctrl+R)",
                                  lambda: self.send(C.Reset(weights=True)))
        self.reset_state = self._button("Reset state", "fresh state and data stream, keeping the learned weights",
                                        lambda: self.send(C.Reset(weights=False)))
        grid.addWidget(self.play, 0, 0, 1, 2)
        grid.addWidget(self.step, 1, 0)
        grid.addWidget(self.step_hold, 1, 1)
        grid.addWidget(self.reset, 2, 0)
        grid.addWidget(self.reset_state, 2, 1)
        form = QtWidgets.QFormLayout()
        self.speed = self._double(0.0, 1e6, 0, "steps per second cap (max: as fast as possible)")
        self.speed.setSpecialValueText("max")
        self.speed.setSingleStep(10)
        self._bind(self.speed, "engine.steps_per_second")
        form.addRow("speed (steps/s)", self.speed)
        grid.addLayout(form, 3, 0, 1, 2)
        outer.addWidget(box)

        # --- inference and learning
        box = QtWidgets.QGroupBox("Inference and learning")
        form = QtWidgets.QFormLayout(box)
        model = cfg.model if cfg is not None else None
        if model is not None and hasattr(model, "dt"):
            md = field_meta(model, "dt")
            self.dt = self._double(1e-4, float(md.get("max", 10.0)), 4, md.get("help", "Euler step of inference"))
            self._bind(self.dt, "model.dt")
            form.addRow("dt", self.dt)
        self.hold = QtWidgets.QSpinBox()
        self.hold.setRange(1, 1_000_000)
        self.hold.setKeyboardTracking(False)
        self.hold.setToolTip("steps each sample is held (T)")
        self._bind(self.hold, "data.hold_steps")
        form.addRow("steps per hold T", self.hold)
        self.learning = QtWidgets.QCheckBox("learning")
        self.learning.setToolTip("update weights (and precisions) at the end of each hold")
        self._bind(self.learning, "engine.learning")
        form.addRow(self.learning)
        if model is not None:
            for f in dataclasses.fields(model):
                if f.name.startswith("lr") and isinstance(getattr(model, f.name), float):
                    md = dict(f.metadata)
                    w = self._rate(float(md.get("max", 100.0)), md.get("help", f.name))
                    self._bind(w, f"model.{f.name}")
                    form.addRow(f.name.replace("_", " "), w)
            if isinstance(model, PCConfig) and model.mode != "unsupervised":  # the label layer's precision
                md = field_meta(model, "label_precision")
                self.label_precision = self._rate(1e9, md.get("help", ""))
                self.label_precision.setSpecialValueText("precision init")  # 0: the label layer starts at it
                self._bind(self.label_precision, "model.label_precision")
                form.addRow("label precision γ", self.label_precision)
            if isinstance(model, RefineConfig):  # the VAEs' semi-amortised mode
                self.inference = QtWidgets.QComboBox()
                self.inference.addItem("one draw", "draw")  # per step (the tooltip says so); short: the column is narrow
                self.inference.addItem("refine", "refine")
                self.inference.setSizeAdjustPolicy(  # narrow: the longest item must not widen the column
                    QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
                self.inference.setMinimumContentsLength(8)
                self.inference.setToolTip(field_meta(model, "inference").get("help", ""))
                self._bind(self.inference, "model.inference")
                form.addRow("posterior", self.inference)
            if isinstance(model, HybridPCConfig):  # the forward (amortised) path
                md = field_meta(model, "forward_gain")
                self.forward_gain = self._double(0.0, 1.0, 2, md.get("help", ""))
                self.forward_gain.setSingleStep(0.1)
                self._bind(self.forward_gain, "model.forward_gain")
                form.addRow("forward gain", self.forward_gain)
                self.early_stop = QtWidgets.QCheckBox("stop refining once settled")
                self.early_stop.setToolTip(field_meta(model, "early_stop").get("help", ""))
                self._bind(self.early_stop, "model.early_stop")
                form.addRow(self.early_stop)
            if isinstance(model, PCDynamicsConfig):
                self.learn_precision = QtWidgets.QCheckBox("learn precision")
                self.learn_precision.setToolTip(field_meta(model, "learn_precision").get("help", ""))
                self._bind(self.learn_precision, "model.learn_precision")
                form.addRow(self.learn_precision)
        outer.addWidget(box)

        # --- display
        box = QtWidgets.QGroupBox("Display")
        form = QtWidgets.QFormLayout(box)
        self.item = QtWidgets.QSpinBox()
        self.item.setKeyboardTracking(False)
        self.item.setToolTip("which item of the batch the views show")
        self.item.valueChanged.connect(lambda v: self._syncing or self.send(C.SetDisplayIndex(int(v))))
        form.addRow("batch item", self.item)
        self.display_hz = QtWidgets.QSpinBox()
        self.display_hz.setRange(1, 240)
        self.display_hz.setKeyboardTracking(False)
        self.display_hz.setValue(int(round(source.display_hz)))
        self.display_hz.setSuffix(" Hz")
        self.display_hz.setToolTip("how often the views pull the newest frame")
        self.display_hz.valueChanged.connect(lambda v: source.set_display_hz(float(v)))
        form.addRow("display rate", self.display_hz)
        outer.addWidget(box)
        outer.addStretch(1)

        for w in self.findChildren(QtWidgets.QAbstractSpinBox):
            w.editingFinished.connect(w.clearFocus)  # so Space and arrows drive the run again
        if not live:
            for w in self.findChildren(QtWidgets.QWidget):
                if w not in (self.display_hz,) and not isinstance(w, QtWidgets.QGroupBox):
                    w.setEnabled(False)
        self._live = live
        source.state_changed.connect(self.sync)
        source.config_changed.connect(self.sync)
        source.engine_event.connect(self._on_event)
        self.sync()

    # ---------------------------------------------------------------- helpers
    def _button(self, text: str, tip: str, slot: Callable[[], None]) -> QtWidgets.QPushButton:
        b = QtWidgets.QPushButton(text)
        b.setToolTip(tip)
        b.setFocusPolicy(_FOCUS_NONE)
        b.clicked.connect(slot)
        return b

    def _double(self, lo: float, hi: float, decimals: int, tip: str) -> QtWidgets.QDoubleSpinBox:
        w = QtWidgets.QDoubleSpinBox()
        w.setDecimals(decimals)
        w.setRange(lo, hi)
        w.setKeyboardTracking(False)
        w.setStepType(QtWidgets.QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
        w.setToolTip(tip)
        return w

    def _rate(self, hi: float, tip: str) -> RateSpinBox:
        w = RateSpinBox()
        w.setRange(0.0, hi)
        w.setKeyboardTracking(False)
        w.setToolTip(tip)
        return w

    def _bind(self, w: QtWidgets.QWidget, key: str) -> None:
        self.params[key] = w
        self._tips[key] = w.toolTip()
        if isinstance(w, QtWidgets.QCheckBox):
            w.setFocusPolicy(_FOCUS_NONE)
            w.toggled.connect(lambda v, k=key: self._syncing or self.send(C.SetParam(k, bool(v))))
        elif isinstance(w, QtWidgets.QComboBox):
            w.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
            w.activated.connect(lambda i, k=key, w=w: self._syncing or self.send(C.SetParam(k, w.itemData(i))))
        elif isinstance(w, QtWidgets.QSpinBox):
            w.valueChanged.connect(lambda v, k=key: self._syncing or self.send(C.SetParam(k, int(v))))
        else:
            w.valueChanged.connect(lambda v, k=key: self._syncing or self.send(C.SetParam(k, float(v))))

    def send(self, cmd: C.Command) -> None:
        if self.source.live:
            self.source.submit(cmd)

    def toggle_play(self) -> None:
        running = self.source.running
        self.send(C.Pause() if running else C.Play())

    def _request_preset(self, *_: Any) -> None:
        self.preset_requested.emit(str(self.preset.currentData()), str(self.device.currentData()))

    # ---------------------------------------------------------------- state
    def _on_event(self, ev) -> None:
        # a refused command leaves the config as it was: the widget the user changed
        # springs back (accepted changes arrive through config_changed)
        if ev.kind in ("error", "reset"):
            self.sync()

    def sync(self) -> None:
        """Show the engine's current config and run state."""
        cfg = self.source.config
        self._syncing = True
        try:
            self.play.setText("Pause" if self.source.running else "Play")
            if cfg is None:
                return
            inert = cfg.model.inert_settings() if isinstance(cfg.model, PCDynamicsConfig) else {}
            for key, w in self.params.items():
                section, _, attr = key.partition(".")
                value = getattr(getattr(cfg, section), attr)
                why = inert.get(attr) if section == "model" else None
                if self._live:
                    w.setEnabled(why is None)
                w.setToolTip(self._tips[key] if why is None else f"does nothing here: {why}")
                if isinstance(w, QtWidgets.QCheckBox):
                    w.setChecked(bool(value) and why is None)  # an inert switch shows off
                elif isinstance(w, QtWidgets.QComboBox):
                    w.setCurrentIndex(max(0, w.findData(value)))
                elif not w.hasFocus():  # do not overwrite what the user is typing
                    w.setValue(value)
            self.item.setRange(0, max(0, cfg.data.batch_size - 1))
            self.item.setValue(min(cfg.engine.display_index, cfg.data.batch_size - 1))
        finally:
            self._syncing = False

    def detach(self) -> None:
        for sig, slot in ((self.source.state_changed, self.sync), (self.source.config_changed, self.sync),
                          (self.source.engine_event, self._on_event)):
            try:
                sig.disconnect(slot)
            except TypeError:
                pass
