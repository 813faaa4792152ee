"""The simulation: engine, typed commands, events, frames, checkpoints, presets."""

from pcviz.sim.commands import (
    Call, Clamp, ClearInterventions, Command, LoadCheckpoint, Lesion, Occlude, Pause, Play, Pulse, Release, Reset,
    SaveCheckpoint, SetDisplayIndex, SetLabel, SetParam, Shutdown, Step, StepHold, Unocclude,
)
from pcviz.sim.engine import Divergence, Engine, pick_device
from pcviz.sim.events import Event, EventLog
from pcviz.sim.frames import Frame, FrameQueue, FrameSpec, LatestFrame, LayerFrameSpec
from pcviz.sim.presets import DEFAULT_PRESET, list_presets, load_preset

__all__ = [
    "Call", "Clamp", "ClearInterventions", "Command", "DEFAULT_PRESET", "Divergence", "Engine", "Event", "EventLog",
    "Frame", "FrameQueue", "FrameSpec", "LatestFrame", "LayerFrameSpec", "Lesion", "LoadCheckpoint", "Occlude",
    "Pause", "Play", "Pulse", "Release", "Reset", "SaveCheckpoint", "SetDisplayIndex", "SetLabel", "SetParam",
    "Shutdown", "Step", "StepHold", "Unocclude", "list_presets", "load_preset", "pick_device",
]
