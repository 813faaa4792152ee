"""The evaluation behind docs/design.md's "Configuration" amendment: the hand-written
validator of pcviz.config against pydantic v2 and msgspec, on the same dataclasses
(which the model families declare, with their bounds in field metadata).

    pip install pydantic msgspec   # not dependencies of pcviz
    python -m benchmarks.config_validation

Prints, per library, the messages for three bad presets and the time to validate
every shipped preset (parsed TOML in memory), median of repeats, side by side.
"""

from __future__ import annotations

import copy
import statistics
import time

from pcviz.config import DataConfig, EngineConfig, resolve_run_config
from pcviz.config import ConfigError, read_toml
from pcviz.models import model_configs
from pcviz.paths import presets_dir

BAD = {
    "wrong type": ("data", "batch_size", "many"),
    "unknown key": ("data", "bacth_size", 4),
    "out of bounds": ("data", "batch_size", -3),
}


def docs():
    return {p.stem: read_toml(p) for p in sorted(presets_dir().glob("*.toml"))}


def hand(doc, source):
    return resolve_run_config(doc, model_configs(), source=source)


def sections(doc):
    kind = doc.get("model", {}).get("kind", "pc")
    return [(DataConfig, doc.get("data", {})), (EngineConfig, doc.get("engine", {})),
            (model_configs()[kind], {k: v for k, v in doc.get("model", {}).items() if k != "kind"})]


def main() -> None:
    import msgspec
    import pydantic

    adapters: dict[type, pydantic.TypeAdapter] = {}

    def with_pydantic(doc, source):
        for cls, sec in sections(doc):
            if cls not in adapters:  # this process only: pydantic reads the config off the class
                cls.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")
                adapters[cls] = pydantic.TypeAdapter(cls)
            adapters[cls].validate_python(sec)

    def with_msgspec(doc, source):
        for cls, sec in sections(doc):
            msgspec.convert(sec, cls, strict=False)

    all_docs = docs()
    print("messages (preset digits-pc with one bad value):")
    for what, (section, key, value) in BAD.items():
        doc = copy.deepcopy(all_docs["digits-pc"])
        doc[section][key] = value
        for name, fn in (("hand-written", hand), ("pydantic", with_pydantic), ("msgspec", with_msgspec)):
            try:
                fn(doc, "digits-pc.toml")
                msg = "(accepted)"
            except (ConfigError, pydantic.ValidationError, msgspec.ValidationError) as exc:
                msg = " ".join(str(exc).split())
            print(f"  {what:<14} {name:<13} {msg[:160]}")
    print("time to validate all presets (ms, median of 7 repeats of 50 rounds, run side by side):")
    times: dict[str, list[float]] = {"hand-written": [], "pydantic": [], "msgspec": []}
    fns = {"hand-written": hand, "pydantic": with_pydantic, "msgspec": with_msgspec}
    for _ in range(7):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(50):
                for stem, doc in all_docs.items():
                    fn(doc, stem)
            times[name].append((time.perf_counter() - t0) / 50 * 1e3)
    base = statistics.median(times["hand-written"])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"  {name:<13} {m:7.3f} ms  ({min(ts):.3f}-{max(ts):.3f}), {m / base:.2f}x the hand-written")


if __name__ == "__main__":
    main()
