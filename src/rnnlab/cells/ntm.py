r"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014, arXiv:1410.5401) as an rnnlab cell.

A controller network reads and writes an external memory through differentiable heads; the
memory operations are :mod:`rnnlab.cells.ntm_addressing` (§3, eqs. 2–9). The stability choices
are Collier & Beel's (ICANN 2018, arXiv:1807.08518; their ``ntm.py`` and ``run_tasks.py``), as
collected in ``docs/architectures.md``, "Neural Turing Machine".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnlab._checks import (
    check_choice,
    check_float_tensor,
    check_like_parameters,
    check_real,
    check_size,
    check_state_like,
)
from rnnlab.cells import ntm_addressing as addressing
from rnnlab.cells.base import Cell
from rnnlab.cells.lstm import LSTM

__all__ = ["NTM"]

CONTROLLERS = ("lstm", "feedforward")
MEMORY_INITS = ("constant", "learned", "random")
CONSTANT_MEMORY = 1e-6  # Collier & Beel's constant initialisation of every memory entry


class NTM(Cell):
    r"""A Neural Turing Machine: a controller with read and write heads on an ``N × M`` memory.

    One step, in the code's names (R read heads, W write heads, H = R + W, S = shift_range)::

        inp      = [x_t, reads_{t−1}.flatten()]                        # (B, I + R·M)
        h        = controller(inp)                                     # (B, C)
        p        = clamp(interface(h), −clip, clip)                    # head parameters
        key      = tanh(p_k)         (B, H, M)     beta  = softplus(p_β)      (B, H)
        gate     = sigmoid(p_g)      (B, H)        shift = softmax(p_s)       (B, H, 2S+1)
        gamma    = 1 + softplus(p_γ) (B, H)
        erase    = sigmoid(p_e)      (B, W, M)     add   = tanh(p_a)          (B, W, M)
        w_t      = address(memory_{t−1}, key, beta, gate, shift, gamma, w_{t−1})  # eqs. 5–9
        reads_t  = read(memory_{t−1}, w_t[:, :R])                       # eq. 2
        memory_t = write(memory_{t−1}, w_t[:, R:], erase, add)          # eqs. 3–4
        y_t      = clamp(readout([h, reads_t.flatten()]), −clip, clip)  # logits

    Every head addresses the memory of the previous step, the read heads read it before the
    write heads change it (Collier & Beel's order), and several write heads erase then add as
    in :func:`~rnnlab.cells.ntm_addressing.write`. The activations are Collier & Beel's
    (pytorch-ntm leaves ``key`` and ``add`` linear); ``clip`` bounds the head parameters ``p``
    and the outputs, Collier & Beel's ``clip_value``.

    The output ``y_t`` is **logits**, not probabilities: rnnlab's bit tasks
    (:mod:`rnnlab.tasks.algorithmic`) apply the sigmoid inside their loss
    (``binary_cross_entropy_with_logits``), which is exact where ``sigmoid`` then ``log`` would
    round; ``torch.sigmoid(y_t)`` gives the paper's sigmoid outputs.

    Args:
        input_size: features of ``x_t`` (``I``).
        output_size: features of ``y_t`` (logits).
        memory_slots: ``N``, rows of the memory (default 128, the paper's for every task).
        memory_width: ``M``, width of a row (default 20).
        controller: ``"lstm"`` (default; one LSTM layer, forget-gate bias 1 as Collier & Beel's
            ``BasicLSTMCell``) or ``"feedforward"`` (one ``tanh`` layer, stateless: the memory
            is then the only recurrence).
        controller_size: ``C``, the controller's units (default 100).
        read_heads: ``R`` (default 1).
        write_heads: ``W`` (default 1).
        shift_range: ``S``: the heads shift by −S..S slots (default 1; needs ``2S + 1 ≤ N``).
        memory_init: the memory ``M_0`` at the start of a sequence (default ``"constant"``,
            Collier & Beel's recommendation: it converged about twice as fast as the next best
            scheme):

            - ``"constant"``: every entry ``CONSTANT_MEMORY`` = 1e−6, a fixed buffer;
            - ``"learned"``: ``M_0 = tanh(init_memory)``, a parameter;
            - ``"random"``: ``tanh(N(0, 0.5²))`` drawn once at construction, a fixed buffer.

            (In Collier & Beel's TensorFlow code the constant and random tensors are
            ``tf.get_variable``\ s and so are trained too; here they are fixed, as their names
            and pytorch-ntm's fixed ``mem_bias`` say.)
        clip: bound on the head parameters and the output logits (default 20.0, Collier &
            Beel's); ``None`` clips nothing.
        generator: a CPU ``torch.Generator`` for every initial draw; ``None`` uses torch's
            global generator.
        device, dtype: of the parameters and buffers.

    State (all batch-first): ``(h, c, memory, reads, weightings)`` with the LSTM controller,
    ``(memory, reads, weightings)`` with the feed-forward one:

    - ``h``, ``c`` (B, C): the controller LSTM's state (zeros at the start);
    - ``memory`` (B, N, M);
    - ``reads`` (B, R, M): the last read vectors, ``tanh(init_reads)`` at the start (learned);
    - ``weightings`` (B, R + W, N): every head's last weighting, read heads first,
      ``softmax(init_weightings)`` at the start (learned).

    Parameters and their initialisation (all drawn from ``generator``):

    - ``controller``: :class:`rnnlab.cells.LSTM` (I + R·M → C), every parameter torch's
      U(−1/√C, 1/√C), then the total forget-gate bias 1 (Collier & Beel's ``BasicLSTMCell(
      forget_bias=1.0)``; their kernel is TensorFlow's Glorot draw); or ``nn.Linear`` with the
      same uniform draw;
    - as Collier & Beel: ``interface`` (C → H·(M + 2S + 4) + 2·W·M) and ``readout``
      (C + R·M → output_size): weights from a normal with std ``1/√fan_in`` truncated at
      ±2 std, biases 0;
    - as Collier & Beel: ``init_reads`` (R, M), ``init_weightings`` (H, N) and, for ``"learned"``,
      ``init_memory`` (N, M): U(±√(6 / (1 + n))) with ``n`` the vector's length (their
      ``learned_init``, a Glorot draw of a 1 × n layer).
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        *,
        memory_slots: int = 128,
        memory_width: int = 20,
        controller: str = "lstm",
        controller_size: int = 100,
        read_heads: int = 1,
        write_heads: int = 1,
        shift_range: int = 1,
        memory_init: str = "constant",
        clip: float | None = 20.0,
        generator: torch.Generator | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.output_size = check_size("output_size", output_size)
        self.memory_slots = N = check_size("memory_slots", memory_slots)
        self.memory_width = M = check_size("memory_width", memory_width)
        self.controller_kind = check_choice("controller", controller, CONTROLLERS)
        self.controller_size = C = check_size("controller_size", controller_size)
        self.read_heads = R = check_size("read_heads", read_heads)
        self.write_heads = W = check_size("write_heads", write_heads)
        self.shift_range = S = check_size("shift_range", shift_range, minimum=0)
        if 2 * S + 1 > N:
            raise ValueError(
                f"shift_range must satisfy 2·shift_range + 1 <= memory_slots = {N} (shifts "
                f"must be distinct modulo N), got {S}"
            )
        self.memory_init = check_choice("memory_init", memory_init, MEMORY_INITS)
        self.clip = None if clip is None else check_real("clip", clip, positive=True)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        factory = {"device": device, "dtype": dtype}
        H = R + W
        # Sizes of one head's parameters: key M, β 1, g 1, shift 2S+1, γ 1.
        self._head_sizes = (M, 1, 1, 2 * S + 1, 1)
        self._head_width = sum(self._head_sizes)
        controller_in = input_size + R * M
        # The layers' own initial draws are replaced in _initialize; fork_rng keeps them from
        # advancing torch's global generator.
        with torch.random.fork_rng(devices=[]):
            if self.controller_kind == "lstm":
                self.controller = LSTM(controller_in, C, forget_bias=1.0, **factory)
            else:
                self.controller = nn.Linear(controller_in, C, **factory)
            self.interface = nn.Linear(C, H * self._head_width + 2 * W * M, **factory)
            self.readout = nn.Linear(C + R * M, output_size, **factory)
        self.init_reads = nn.Parameter(torch.empty(R, M, **factory))
        self.init_weightings = nn.Parameter(torch.empty(H, N, **factory))
        if self.memory_init == "learned":
            self.init_memory = nn.Parameter(torch.empty(N, M, **factory))
        else:
            self.register_buffer("init_memory", torch.empty(N, M, **factory))
        self._initialize(generator)

    # ------------------------------------------------------------------ initialisation
    def _initialize(self, generator: torch.Generator | None) -> None:
        """Draw every parameter (and the random memory) from ``generator``; see the class
        docstring."""
        N = self.memory_slots
        with torch.no_grad():
            bound = 1.0 / math.sqrt(self.controller_size)
            for p in self.controller.parameters():
                nn.init.uniform_(p, -bound, bound, generator=generator)
            if self.controller_kind == "lstm":
                C = self.controller_size
                self.controller.bias_ih[C : 2 * C].fill_(1.0)
                self.controller.bias_hh[C : 2 * C].zero_()
            for layer in (self.interface, self.readout):
                std = 1.0 / math.sqrt(layer.in_features)
                nn.init.trunc_normal_(
                    layer.weight, std=std, a=-2 * std, b=2 * std, generator=generator
                )
                nn.init.zeros_(layer.bias)
            learned = [(self.init_reads, self.memory_width), (self.init_weightings, N)]
            if self.memory_init == "learned":
                learned.append((self.init_memory, N * self.memory_width))
            for p, n in learned:
                bound = math.sqrt(6.0 / (1 + n))
                nn.init.uniform_(p, -bound, bound, generator=generator)
            if self.memory_init == "constant":
                self.init_memory.fill_(CONSTANT_MEMORY)
            elif self.memory_init == "random":
                self.init_memory.copy_(torch.tanh(0.5 * torch.randn(
                    self.init_memory.shape, generator=generator, dtype=torch.float64
                )))  # fmt: skip

    # ------------------------------------------------------------------ state
    def _state_shapes(self, batch_size: int) -> list[tuple[int, ...]]:
        B, N, M = batch_size, self.memory_slots, self.memory_width
        H = self.read_heads + self.write_heads
        controller = [(B, self.controller_size)] * 2 if self.controller_kind == "lstm" else []
        return [*controller, (B, N, M), (B, self.read_heads, M), (B, H, N)]

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple[Tensor, ...]:
        """``(h, c, memory, reads, weightings)`` (LSTM controller) or ``(memory, reads,
        weightings)`` at the start of a sequence; see the class docstring. The learned parts
        carry gradients to their parameters."""
        B = check_size("batch_size", batch_size)
        device = self.init_reads.device if device is None else device
        dtype = self.init_reads.dtype if dtype is None else dtype
        memory = self.init_memory
        if self.memory_init == "learned":
            memory = torch.tanh(memory)
        reads = torch.tanh(self.init_reads)
        weightings = torch.softmax(self.init_weightings, dim=-1)
        state = [
            t.to(device=device, dtype=dtype).unsqueeze(0).expand(B, *t.shape)
            for t in (memory, reads, weightings)
        ]
        if self.controller_kind == "lstm":
            zeros = torch.zeros(B, self.controller_size, device=device, dtype=dtype)
            state = [zeros, zeros, *state]
        return tuple(state)

    def check_step(self, x_t: object, state: object) -> None:
        """Like :meth:`Cell.check_step`, against the state's shapes without computing the
        learned initial state."""
        x_t = check_float_tensor("x_t", x_t)
        if x_t.dim() != 2 or x_t.shape[1] != self.input_size:
            raise ValueError(f"x_t must have shape (B, {self.input_size}), got {tuple(x_t.shape)}")
        check_like_parameters("x_t", x_t, self)
        expected = tuple(
            torch.empty(shape, device=x_t.device, dtype=x_t.dtype)
            for shape in self._state_shapes(x_t.shape[0])
        )
        check_state_like("state", state, expected)

    # ------------------------------------------------------------------ one step
    def forward(self, x_t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple]:
        self.check_step(x_t, state)
        memory, reads, weightings = state[-3:]
        B = x_t.shape[0]
        R, W, M = self.read_heads, self.write_heads, self.memory_width
        inp = torch.cat([x_t, reads.reshape(B, R * M)], dim=-1)  # (B, I + R·M)
        if self.controller_kind == "lstm":
            h, (_, c) = self.controller(inp, state[:2])
            controller_state: tuple[Tensor, ...] = (h, c)
        else:
            h = torch.tanh(self.controller(inp))
            controller_state = ()
        p = self._clip(self.interface(h))  # (B, H·(M + 2S + 4) + 2·W·M)
        H = R + W
        heads = p[:, : H * self._head_width].reshape(B, H, self._head_width)
        p_k, p_beta, p_g, p_s, p_gamma = heads.split(self._head_sizes, dim=-1)
        w = addressing.address(
            memory,
            torch.tanh(p_k),  # key (B, H, M)
            nn.functional.softplus(p_beta).squeeze(-1),  # β ≥ 0 (B, H)
            torch.sigmoid(p_g).squeeze(-1),  # g ∈ (0, 1) (B, H)
            torch.softmax(p_s, dim=-1),  # shift distribution (B, H, 2S+1)
            1 + nn.functional.softplus(p_gamma).squeeze(-1),  # γ ≥ 1 (B, H)
            weightings,
        )  # (B, H, N)
        new_reads = addressing.read(memory, w[:, :R])  # (B, R, M)
        p_e, p_a = p[:, H * self._head_width :].reshape(B, W, 2 * M).split(M, dim=-1)
        memory = addressing.write(memory, w[:, R:], torch.sigmoid(p_e), torch.tanh(p_a))
        y = self._clip(self.readout(torch.cat([h, new_reads.reshape(B, R * M)], dim=-1)))
        return y, (*controller_state, memory, new_reads, w)

    def _clip(self, value: Tensor) -> Tensor:
        return value if self.clip is None else value.clamp(-self.clip, self.clip)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.output_size}, memory_slots={self.memory_slots}, "
            f"memory_width={self.memory_width}, controller={self.controller_kind!r}, "
            f"controller_size={self.controller_size}, read_heads={self.read_heads}, "
            f"write_heads={self.write_heads}, shift_range={self.shift_range}, "
            f"memory_init={self.memory_init!r}, clip={self.clip}"
        )
