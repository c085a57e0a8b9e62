r"""The convolution chapter's claims (DL book §9.1–9.5), measured on scikit-learn's 8×8 digits.

No paper gives a protocol or numbers here: the claims are the book's and the expected values are
exact (linear algebra) or directional (pooling). Definitions and the derivations that the checks
rely on: ``docs/convolution.md``. Four units, each deterministic (float64 unless said):

- ``matrix`` (§9.1–9.2, eq. 9.9–9.10): one input channel of 8×8 pixels to ``out_channels`` maps
  through a ``kernel × kernel`` window ("valid"), by four layers — a dense layer, a locally
  connected layer, a tiled convolution (``tiles``) and a convolution — each written as its
  dense matrix (:func:`rnnlab.conv.conv_matrix` and the layers' ``as_matrix``) and checked
  against the layer on the digits. Their parameters, the matrix's nonzeros (sparse interactions)
  and its distinct nonzero values (parameter sharing). Then ``conv_matrix`` against ``F.conv2d``
  for every padding at strides 1 and 2.
- ``circulant`` (§9.1, "doubly block circulant"): with circular padding the matrix's eigenvalues
  (``torch.linalg.eigvals``) against the 2-D DFT of the kernel
  (:func:`rnnlab.conv.circulant_eigenvalues`); its Fourier eigenvectors; several channels
  (eigenvalues per Fourier mode) and singular values per mode (Sedghi, Gupta & Long 2019); the
  same DFT against the "same" zero-padded matrix, which is not circulant.
- ``equivariance`` (§9.2), float32: ``|f(T_s x) − T_s f(x)|`` of a convolution with a bias on
  the digits, for every padding and several shifts, against the region where it must vanish
  (:func:`rnnlab.conv.equivariant_region`); circular padding with circular shifts.
- ``pooling`` (§9.3): the share of stride-1 max-pooled pixels that a shift of the image leaves
  unchanged, against the shift and the pool width, averaged over the four axis directions
  (:func:`rnnlab.conv.unchanged_share`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab._checks import check_size
from rnnlab.conv import (
    LocallyConnected2d,
    TiledConv2d,
    circulant_eigenvalues,
    circulant_symbol,
    conv_matrix,
    equivariance_error,
    equivariant_region,
    padding_amounts,
    unchanged_share,
)
from rnnlab.conv.matrix import PADDINGS
from rnnlab.conv.tiled import tile_over_positions
from rnnlab.experiments.presets import choose_preset
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import digits

EXPERIMENT = "convolution"
RUN_FUNCTION = "rnnlab.experiments.convolution:run_unit"
UNITS = ("matrix", "circulant", "equivariance", "pooling")
SIDE = 8  # the digits are 8×8
EXACT = 1e-10  # float64 matrix identities: rounding is ~1e-15
ROUNDING = 1e-5  # float32 equivariance: rounding is ~1e-7 on outputs of order 1
DIRECTIONS = ((1, 0), (-1, 0), (0, 1), (0, -1))  # pooling: shifts along each axis, both ways


@dataclass(frozen=True)
class Preset:
    name: str
    images: int  # the first this many of the 1,797 digits
    out_channels: int  # O of the layers compared
    kernel: int  # k of the k×k kernels
    tiles: int  # t of the tiled layer
    shifts: tuple[int, ...]  # translation sizes in pixels (equivariance and pooling)
    pool_sizes: tuple[int, ...]  # max-pool widths (1: no pooling)
    seed: int  # of every random kernel
    note: str = ""


PRESETS = {
    "paper": Preset(
        name="paper",
        images=1797,
        out_channels=4,
        kernel=3,
        tiles=2,
        shifts=(1, 2, 3, 4),
        pool_sizes=(1, 2, 3, 4, 5),
        seed=0,
        note="the book states claims, not a protocol: all 1,797 digits, 3×3 kernels, 4 maps, "
        "tiles of 2, shifts up to 4 and pool widths up to 5 are this project's choices",
    ),
    "quick": Preset(
        name="quick",
        images=300,
        out_channels=4,
        kernel=3,
        tiles=2,
        shifts=(1, 2, 3),
        pool_sizes=(1, 2, 3, 4),
        seed=0,
        note="QUICK PRESET: the first 300 of the 1,797 digits, shifts up to 3 and pool widths "
        "up to 4 (the matrix and circulant units are the same as in the paper preset)",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One spec per unit; refuses, by field name, a preset the digits cannot hold."""
    for field, low, high in (
        ("images", 1, 1797),
        ("out_channels", 1, None),
        ("kernel", 1, SIDE),
        ("tiles", 1, None),
        ("seed", 0, None),
    ):
        value = check_size(field, getattr(chosen, field), minimum=low)
        if high is not None and value > high:
            raise ValueError(f"{field} must be <= {high}, got {value}")
    for field, high in (("shifts", SIDE - 1), ("pool_sizes", SIDE)):
        values = getattr(chosen, field)
        if not isinstance(values, tuple) or not values:
            raise ValueError(f"{field} must be a non-empty tuple, got {values!r}")
        for value in values:
            if check_size(field, value) > high:
                raise ValueError(f"{field} must hold ints <= {high}, got {value}")
    settings = {k: v for k, v in asdict(chosen).items() if k not in ("name", "note")}
    return [
        {"experiment": EXPERIMENT, "preset": chosen.name, "unit": unit, **settings}
        for unit in UNITS
    ]


def _digits(spec: dict[str, Any], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The first ``images`` digits as (N, 1, 8, 8), pixels in [0, 1]."""
    images, _ = digits.load()
    return images[: spec["images"], None].to(dtype)


def _padded_conv(weight, bias, padding: str, stride: int = 1):
    """torch's conv2d on the input padded with :func:`padding_amounts` (zeros or wrapped)."""
    amounts = [padding_amounts(padding, k) for k in reversed(weight.shape[2:])]
    flat = [a for pair in amounts for a in pair]
    mode = "circular" if padding == "circular" else "constant"
    return lambda x: F.conv2d(F.pad(x, flat, mode=mode), weight, bias, stride=stride)


# ---------------------------------------------------------------------------- matrix
def _layers(spec: dict[str, Any]) -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    """name -> (layer, its dense matrix (O·36, 64), its bias per output (O·36,)), drawn from
    torch's default inits under ``seed``."""
    O, k, t = spec["out_channels"], spec["kernel"], spec["tiles"]
    out = SIDE - k + 1
    factory = {"dtype": torch.float64}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["seed"])
        dense = nn.Linear(SIDE * SIDE, O * out * out, **factory)
        local = LocallyConnected2d(1, O, SIDE, k, **factory)
        tiled = TiledConv2d(1, O, k, t, **factory)
        conv = nn.Conv2d(1, O, k, **factory)
    _, tiled_bias = tile_over_positions(tiled.weight, tiled.bias, (out, out))
    return {
        "dense": (dense, dense.weight, dense.bias),
        "locally connected": (local, local.as_matrix(), local.bias.movedim(-1, 0).flatten()),
        f"tiled (t = {t})": (
            tiled,
            tiled.as_matrix(SIDE),
            tiled_bias.movedim(-1, 0).flatten(),
        ),
        "convolution": (
            conv,
            conv_matrix(conv.weight, (1, SIDE, SIDE)),
            conv.bias.repeat_interleave(out * out),
        ),
    }


def _matrix(spec: dict[str, Any]) -> dict[str, Any]:
    images = _digits(spec)
    flat = images.flatten(1)  # (N, 64)
    built = _layers(spec)
    layers, pictures = [], {}
    with torch.no_grad():
        for name, (layer, matrix, bias) in built.items():
            direct = layer(flat) if isinstance(layer, nn.Linear) else layer(images).flatten(1)
            nonzero = matrix != 0
            layers.append(
                {
                    "layer": name,
                    "parameters": sum(p.numel() for p in layer.parameters()),
                    "weights": layer.weight.numel(),
                    "matrix_shape": list(matrix.shape),
                    "nonzeros": int(nonzero.sum()),
                    "nonzeros_per_row": int(nonzero.sum(1).max()),
                    "distinct_values": int(torch.unique(matrix[nonzero]).numel()),
                    "error": float((flat @ matrix.T + bias - direct).abs().max()),
                }
            )
            rows = matrix.shape[0] // spec["out_channels"]
            pictures[name] = matrix[:rows].tolist()  # the first output map's rows
        conv = built["convolution"][0]
        paddings = []
        for padding, stride in itertools.product(PADDINGS, (1, 2)):
            matrix = conv_matrix(conv.weight, (1, SIDE, SIDE), stride=stride, padding=padding)
            direct = _padded_conv(conv.weight, None, padding, stride)(images).flatten(1)
            paddings.append(
                {
                    "padding": padding,
                    "stride": stride,
                    "matrix_shape": list(matrix.shape),
                    "error": float((flat @ matrix.T - direct).abs().max()),
                }
            )
    return {"layers": layers, "paddings": paddings, "figure": pictures}


# ---------------------------------------------------------------------------- circulant
def _set_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest distance from a point of either multiset to the nearest point of the
    other (0 when they coincide)."""
    d = (a.flatten()[:, None] - b.flatten()[None, :]).abs()
    return max(float(d.min(0).values.max()), float(d.min(1).values.max()))


def _circulant(spec: dict[str, Any]) -> dict[str, Any]:
    k, shape = spec["kernel"], (1, SIDE, SIDE)
    generator = torch.Generator().manual_seed(spec["seed"])
    weight = torch.randn(1, 1, k, k, generator=generator, dtype=torch.float64)
    circular = conv_matrix(weight, shape, padding="circular")
    dft = circulant_eigenvalues(weight, shape)[..., 0]  # (8, 8)
    eigenvalues = torch.linalg.eigvals(circular)
    grid = torch.arange(SIDE, dtype=torch.float64)
    residual = 0.0
    for f, g in itertools.product(range(SIDE), repeat=2):  # M v = λ v, v a Fourier mode
        mode = torch.exp(2j * math.pi * (f * grid[:, None] + g * grid[None, :]) / SIDE).flatten()
        residual = max(
            residual, float((circular.to(mode.dtype) @ mode - dft[f, g] * mode).abs().max())
        )
    channels = 2
    square = torch.randn(channels, channels, k, k, generator=generator, dtype=torch.float64)
    wide = torch.randn(
        spec["out_channels"], channels, k, k, generator=generator, dtype=torch.float64
    )
    shape_c = (channels, SIDE, SIDE)
    per_mode = torch.linalg.svdvals(circulant_symbol(wide, shape_c)).flatten().sort().values
    singular = torch.linalg.svdvals(conv_matrix(wide, shape_c, padding="circular")).sort().values
    zero_padded = conv_matrix(weight, shape, padding="same")
    return {
        "eigenvalue_distance": _set_distance(eigenvalues, dft),
        "eigenvector_residual": residual,
        "multichannel_distance": _set_distance(
            torch.linalg.eigvals(conv_matrix(square, shape_c, padding="circular")),
            circulant_eigenvalues(square, shape_c),
        ),
        "singular_value_error": float((singular - per_mode).abs().max()),
        "zero_padding_distance": _set_distance(torch.linalg.eigvals(zero_padded), dft),
        "figure": {
            "eigenvalues": [[z.real, z.imag] for z in eigenvalues.tolist()],
            "dft": [[z.real, z.imag] for z in dft.flatten().tolist()],
            "zero_padded": [[z.real, z.imag] for z in torch.linalg.eigvals(zero_padded).tolist()],
        },
    }


# ---------------------------------------------------------------------------- equivariance
def _shift_cases(shifts: tuple[int, ...]) -> list[tuple[int, int]]:
    """A vertical, a horizontal (the other way) and a diagonal shift of each size."""
    return [case for s in shifts for case in ((s, 0), (0, -s), (s, s))]


def _equivariance(spec: dict[str, Any]) -> dict[str, Any]:
    images = _digits(spec, torch.float32)
    k = spec["kernel"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["seed"])
        conv = nn.Conv2d(1, spec["out_channels"], k)  # float32, with a bias
    cases = []
    with torch.no_grad():
        for padding, shift in itertools.product(PADDINGS, _shift_cases(spec["shifts"])):
            circular = padding == "circular"
            f = _padded_conv(conv.weight, conv.bias, padding)
            error = equivariance_error(f, images, shift, circular=circular).amax(dim=(0, 1))
            region = equivariant_region(SIDE, k, shift, padding)
            inside, outside = error[region], error[~region]
            cases.append(
                {
                    "padding": padding,
                    "shift": list(shift),
                    "circular_shift": circular,
                    "positions": error.numel(),
                    "border": int(outside.numel()),
                    "inside_max": float(inside.max()) if inside.numel() else 0.0,
                    "border_max": float(outside.max()) if outside.numel() else 0.0,
                    "border_failing": int((outside > ROUNDING).sum()),
                    "inside_failing": int((inside > ROUNDING).sum()),
                    "error_map": error.tolist(),
                    "region": region.tolist(),
                }
            )
    return {"cases": cases}


# ---------------------------------------------------------------------------- pooling
def _pooling(spec: dict[str, Any]) -> dict[str, Any]:
    images = _digits(spec)
    shares = {
        str(w): [
            sum(unchanged_share(images, (s * a, s * b), w) for a, b in DIRECTIONS) / 4
            for s in spec["shifts"]
        ]
        for w in spec["pool_sizes"]
    }
    return {"shifts": list(spec["shifts"]), "shares": shares}


UNIT_FUNCTIONS = {
    "matrix": _matrix,
    "circulant": _circulant,
    "equivariance": _equivariance,
    "pooling": _pooling,
}


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Compute one unit (deterministic, seconds; nothing to resume)."""
    return {"unit": spec["unit"], **UNIT_FUNCTIONS[spec["unit"]](spec)}


# ---------------------------------------------------------------------------- summary
def _outcomes(records) -> dict[str, dict[str, dict[str, Any]]]:
    """preset -> unit -> outcome."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        found.setdefault(record.spec["preset"], {})[record.spec["unit"]] = record.outcome or {}
    return found


def summarize(records) -> list[dict[str, Any]]:
    """One row per measured quantity: ``part``, ``case``, rnnlab's value as text (``rnnlab``),
    what the book or the algebra expects (``expected``), whether it holds (``passed``; None
    where a row is shown but not judged) and the numbers the verdicts use (``value``)."""
    rows = []
    for name, units in sorted(_outcomes(records).items()):
        rows += [{"preset": name, **row} for row in _checks(units)]
    return rows


def _row(part: str, case: str, ours: str, expected: str, passed: bool | None, value: Any):
    return {
        "part": part,
        "case": case,
        "rnnlab": ours,
        "expected": expected,
        "passed": passed,
        "value": value,
    }


def _checks(units: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    matrix = units.get("matrix")
    if matrix:
        for r in matrix["layers"]:
            rows, columns = r["matrix_shape"]
            checks.append(
                _row(
                    "parameters",
                    r["layer"],
                    f"{r['parameters']:,} ({r['weights']:,} weights); matrix {rows}×{columns}: "
                    f"{r['nonzeros']:,} nonzeros, ≤ {r['nonzeros_per_row']} per row, "
                    f"{r['distinct_values']:,} distinct",
                    "distinct nonzeros = weights; M x + b = the layer",
                    r["distinct_values"] == r["weights"] and r["error"] < EXACT,
                    r["parameters"],
                )
            )
        for r in matrix["paddings"]:
            rows, columns = r["matrix_shape"]
            checks.append(
                _row(
                    "conv_matrix",
                    f"{r['padding']}, stride {r['stride']} ({rows}×{columns})",
                    f"max |M x − conv2d(x)| = {r['error']:.1e}",
                    f"< {EXACT:g} (float64)",
                    r["error"] < EXACT,
                    r["error"],
                )
            )
    circulant = units.get("circulant")
    if circulant:
        for label, key in (
            ("eigenvalues vs 2-D DFT of the kernel", "eigenvalue_distance"),
            ("Fourier modes are the eigenvectors", "eigenvector_residual"),
            ("2 channels: eigenvalues per Fourier mode", "multichannel_distance"),
            ("singular values per Fourier mode (Sedghi 2019)", "singular_value_error"),
        ):
            value = circulant[key]
            checks.append(
                _row("circulant", label, f"{value:.1e}", f"< {EXACT:g}", value < EXACT, value)
            )
        value = circulant["zero_padding_distance"]
        checks.append(
            _row(
                "circulant",
                'zero padding ("same") vs the DFT',
                f"{value:.2f}",
                "far from it (not circulant)",
                value > 0.01,
                value,
            )
        )
    equivariance = units.get("equivariance")
    if equivariance:
        for padding in dict.fromkeys(c["padding"] for c in equivariance["cases"]):
            cases = [c for c in equivariance["cases"] if c["padding"] == padding]
            inside = max(c["inside_max"] for c in cases)
            inside_failing = sum(c["inside_failing"] for c in cases)
            border = sum(c["border"] for c in cases)
            failing = sum(c["border_failing"] for c in cases)
            circular = cases[0]["circular_shift"]
            checks.append(
                _row(
                    "equivariance",
                    f"{padding} padding, {len(cases)} shifts"
                    + (" (circular)" if circular else " (zeros in)"),
                    f"interior max {inside:.1e}; border {failing}/{border} positions fail (max "
                    f"{max(c['border_max'] for c in cases):.2f})",
                    "no border (exact everywhere)"
                    if circular
                    else f"interior < {ROUNDING:g}; failures only on the border",
                    inside_failing == 0 and (border == 0 or failing > 0),
                    {"interior_max": inside, "shifts": len(cases)},
                )
            )
    pooling = units.get("pooling")
    if pooling:
        for w, shares in pooling["shares"].items():
            pairs = zip(pooling["shifts"], shares, strict=True)
            checks.append(
                _row(
                    "pooling",
                    f"max pool {w}×{w}, stride 1" if w != "1" else "no pooling",
                    ", ".join(f"shift {s}: {v:.2f}" for s, v in pairs),
                    "rises with the width, falls with the shift",
                    None,
                    {"width": int(w), "shifts": pooling["shifts"], "shares": shares},
                )
            )
    return checks


def _criterion(passed: bool | None) -> str:
    return "—" if passed is None else ("met" if passed else "NOT met")


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["part", "case", "rnnlab", "expected (book / algebra)", "criterion"]
    return header, [
        [r["part"], r["case"], r["rnnlab"], r["expected"], _criterion(r["passed"])] for r in rows
    ]


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One line per claim of the chapter, with the numbers that decide it."""
    lines = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        mine = [r for r in rows if r["preset"] == name]
        lines += _matrix_verdicts(mine) + _equivariance_verdicts(mine)
    return lines


def _judged(rows: list[dict[str, Any]], part: str) -> tuple[list[dict[str, Any]], bool]:
    chosen = [r for r in rows if r["part"] == part]
    return chosen, bool(chosen) and all(r["passed"] for r in chosen)


def _shown(ok: bool) -> str:
    return "SHOWN" if ok else "NOT shown"


def _matrix_verdicts(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    padded, ok = _judged(rows, "conv_matrix")
    if padded:
        worst = max(r["value"] for r in padded)
        lines.append(
            "convolution is a product with a sparse matrix: conv_matrix equals F.conv2d on the "
            f"digits for {len(padded)} paddings × strides (max error {worst:.1e}) — {_shown(ok)}"
        )
    layers, ok = _judged(rows, "parameters")
    if layers:
        counts = [r["value"] for r in layers]
        fewer = counts == sorted(counts, reverse=True)
        lines.append(
            "sparse interactions and parameter sharing: parameters "
            + ", ".join(f"{r['case']} {r['value']:,}" for r in layers)
            + "; each matrix's distinct nonzeros are exactly its weights — "
            + _shown(ok and fewer)
        )
    circulant, ok = _judged(rows, "circulant")
    if circulant:
        distance = circulant[0]["value"]
        lines.append(
            "with circular padding the matrix is doubly block circulant, diagonalised by the "
            f"Fourier modes, its eigenvalues the 2-D DFT of the kernel (distance {distance:.1e}; "
            f"zero padding: {circulant[-1]['value']:.2f}) — {_shown(ok)}"
        )
    return lines


def _equivariance_verdicts(rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    cases, ok = _judged(rows, "equivariance")
    if cases:
        worst = max(r["value"]["interior_max"] for r in cases)
        shifts = cases[0]["value"]["shifts"]
        lines.append(
            "convolution is equivariant to translation except at the borders: for "
            f"{len(cases)} paddings × {shifts} shifts, error at most {worst:.1e} on the "
            "predicted interior and failures only on the border; with circular padding and "
            f"shifts, nowhere — {_shown(ok)}"
        )
    pooling = sorted((r["value"] for r in rows if r["part"] == "pooling"), key=lambda v: v["width"])
    if len(pooling) > 1:
        table = [v["shares"] for v in pooling]
        wider = all(
            a <= b
            for lower, upper in itertools.pairwise(table)
            for a, b in zip(lower, upper, strict=True)
        )
        smaller = all(a >= b for shares in table[1:] for a, b in itertools.pairwise(shares))
        lines.append(
            "max pooling makes the output nearly invariant to small shifts: the share unchanged "
            f"by a 1-pixel shift rises from {table[0][0]:.2f} (width {pooling[0]['width']}) to "
            f"{table[-1][0]:.2f} (width {pooling[-1]['width']}) and falls as the shift grows — "
            + _shown(wider and smaller)
        )
    return lines


def report_sections(store, records, out: Path) -> list[Section]:
    from rnnlab.experiments.plots import convolution as plots

    sections = []
    rows = summarize(records)
    for name, units in sorted(_outcomes(records).items()):
        header, cells = table_rows([r for r in rows if r["preset"] == name])
        images = []
        if "matrix" in units and "circulant" in units:
            images.append(
                plots.matrix_figure(
                    units["matrix"], units["circulant"], out / f"conv_matrix_{name}.png"
                )
            )
        if "equivariance" in units:
            images.append(
                plots.equivariance_figure(units["equivariance"], out / f"equivariance_{name}.png")
            )
        if "pooling" in units:
            images.append(plots.pooling_figure(units["pooling"], out / f"pooling_{name}.png"))
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: convolution as a matrix, equivariance, pooling",
                PRESETS[name].note if name in PRESETS else "",
                header=header,
                rows=cells,
                images=images,
            )
        )
    return sections
