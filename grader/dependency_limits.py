"""Limits on the graded-function calls a student's function makes (stage 3, grader side).

When ``rnn_forward`` calls ``rnn_cell_forward``, the worker forwards the call and the grader answers
it with the reference solution, in the grader's own process, on inputs the student chose. The
worker's memory and CPU limits do not apply there, so every such call is checked before anything is
computed:

1. an **envelope** drawn from the case's own inputs (``envelope_for``): no array longer along an
   axis, with more axes or with more elements than the case makes plausible, no longer list or
   string, no deeper nesting, no more values, ints that fit in 64 bits;
2. a **count**: the calls of one case share a budget that grows with the case's sizes (a sequence of
   length T needs about T calls of the cell);
3. the **deadline** of the call being graded: once it has passed, nothing more is answered.

A refused call raises ``DependencyRefused``; the worker turns it into an exception inside the
student's function, with the message (what was passed, what the case allows, what to look at).
Honest code never comes near the limits: they leave a factor of two and a margin over the largest
thing the case itself holds. Pure logic apart from the clock, which is injectable.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .wire import Opaque

#: Ints in a case's inputs up to this are taken as possible sizes (n_a, num_iterations, vocab_size).
DIM_FROM_INT_MAX = 1024
#: Ints a dependency call may carry: what fits in numpy's int64.
INT_LIMIT = 2**63


class DependencyRefused(Exception):
    """A dependency call outside its case's limits: the message is for the student."""


@dataclass(frozen=True)
class Envelope:
    """What one dependency call of a case may carry, and how many calls the case may make."""

    max_dim: int
    """Longest allowed array axis."""
    max_ndim: int
    max_elements: int
    """Array elements in one call, all arrays together."""
    max_length: int
    """Longest list, tuple or dict."""
    max_text: int
    """Longest string."""
    max_nodes: int
    """Values in one call (every array, number, string and container counts one)."""
    max_depth: int
    max_calls: int
    """Dependency calls in one case, all dependencies together."""


@dataclass
class _Survey:
    dim: int = 1
    ndim: int = 0
    elements: int = 0
    length: int = 0
    text: int = 0
    nodes: int = 0
    depth: int = 0


def _survey(value: Any, into: _Survey, depth: int = 0) -> None:
    """Measure the case's own inputs (ours, so a plain walk is safe)."""
    into.nodes += 1
    into.depth = max(into.depth, depth)
    if isinstance(value, np.ndarray):
        into.ndim = max(into.ndim, value.ndim)
        into.dim = max(into.dim, *value.shape, 1)
        into.elements += value.size
    elif isinstance(value, (bool, np.bool_)):
        pass
    elif isinstance(value, (int, np.integer)):
        if 0 <= value <= DIM_FROM_INT_MAX:
            into.dim = max(into.dim, int(value))
    elif isinstance(value, str):
        into.text = max(into.text, len(value))
    elif isinstance(value, (list, tuple, dict)):
        items = list(value.keys()) + list(value.values()) if isinstance(value, dict) else list(value)
        # A list of names (model's data) is data to read, not a size for the sequences it holds.
        if not (items and all(isinstance(item, str) for item in items) and not isinstance(value, dict)):
            into.length = max(into.length, len(value))
        for item in items:
            _survey(item, into, depth + 1)


def envelope_for(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Envelope:
    """The envelope of one case, from the inputs the grader built for it.

    Every bound is twice what the case holds plus a margin, so a student's function may slice, stack
    or loop differently from the reference and still be answered; ``max_calls`` grows with the
    largest size in the case (a sequence's length, a number of iterations)."""
    survey = _Survey()
    _survey([list(args), dict(kwargs)], survey)
    dim = 2 * survey.dim + 8
    return Envelope(
        max_dim=dim, max_ndim=max(survey.ndim, 2), max_elements=2 * survey.elements + dim * dim,
        max_length=2 * max(survey.length, survey.dim) + 16, max_text=2 * survey.text + 64,
        max_nodes=4 * survey.nodes + 256, max_depth=survey.depth + 2, max_calls=4 * survey.dim + 64)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


class _Check:
    """One walk over a dependency call's arguments (decoded plain data from the worker)."""

    def __init__(self, envelope: Envelope, call: str, explain: str) -> None:
        self.envelope, self.call, self.explain = envelope, call, explain
        self.elements = 0
        self.nodes = 0

    def refuse(self, where: str, what: str) -> None:
        raise DependencyRefused(f"{self.call} was called with {what} in {where}: {self.explain}")

    def walk(self, value: Any, where: str, depth: int) -> None:
        limits = self.envelope
        self.nodes += 1
        if self.nodes > limits.max_nodes:
            self.refuse(where, f"more than {limits.max_nodes} values in all")
        if depth > limits.max_depth:
            self.refuse(where, f"values nested more than {limits.max_depth} deep")
        if isinstance(value, Opaque):  # the worker could not send it: over the frame's byte cap, or no plain data
            self.refuse(where, f"a value of type {value.type_name} that cannot be sent to the grader ({value.reason})")
        if isinstance(value, np.ndarray):
            if value.ndim > limits.max_ndim or any(n > limits.max_dim for n in value.shape):
                self.refuse(where, f"an array of shape {_shape(value.shape)}")
            self.elements += value.size
            if self.elements > limits.max_elements:
                self.refuse(where, f"arrays of more than {limits.max_elements} numbers in all")
        elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            if not -INT_LIMIT <= value < INT_LIMIT:
                self.refuse(where, "an integer too large for a 64-bit int")
        elif isinstance(value, str):
            if len(value) > limits.max_text:
                self.refuse(where, f"a string of {len(value)} characters")
        elif isinstance(value, (list, tuple, dict)):
            if len(value) > limits.max_length:
                self.refuse(where, f"a {type(value).__name__} of {len(value)} items")
            if isinstance(value, dict):
                for key, item in value.items():
                    self.walk(key, f"{where} (a key)", depth + 1)
                    self.walk(item, f"{where}[{key!r:.40}]", depth + 1)
            else:
                for number, item in enumerate(value):
                    self.walk(item, f"{where}[{number}]", depth + 1)


class CaseLimits:
    """The dependency budget of one graded call (one case): make a fresh one per call."""

    def __init__(self, envelope: Envelope, deadline: float, caller: str,
                 params: Mapping[str, Sequence[str]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.envelope, self.deadline, self.caller = envelope, deadline, caller
        self.params = dict(params or {})
        self.clock = clock
        self.calls = 0

    def admit(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Count the call and check it; raises DependencyRefused (nothing has been computed then)."""
        self.count(name)
        self.check(name, args, kwargs)

    def count(self, name: str) -> None:
        """Count the call against the case's budget and deadline (raises DependencyRefused). Alone
        for a call whose very bytes were admitted before (answer_memo): the envelope check is a
        function of the arguments, the count and the clock are not."""
        self.calls += 1
        if self.clock() >= self.deadline:
            raise DependencyRefused(
                f"{self.caller} ran out of time while the grader answered its calls of {name}; "
                f"the grader stopped answering them (look for a loop that calls {name} more often than needed)")
        if self.calls > self.envelope.max_calls:
            raise DependencyRefused(
                f"{self.caller} called {name} more than {self.envelope.max_calls} times on one test case, far more "
                f"than the case's sizes need; the grader stopped answering (look for a loop that calls {name} "
                "too often, or never ends)")

    def check(self, name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """The arguments against the case's envelope (raises DependencyRefused)."""
        check = _Check(self.envelope, name, f"this test case allows arrays of at most {self.envelope.max_dim} along any axis, "
                         f"{self.envelope.max_ndim} axes and {self.envelope.max_elements} numbers per call. "
                         f"The grader answers {name} with its reference solution and takes only inputs the size of "
                         f"the case's own: check what {self.caller} passes to {name}")
        names = self.params.get(name, ())
        for number, value in enumerate(args):
            check.walk(value, names[number] if number < len(names) else f"argument {number + 1}", 1)
        for key, value in kwargs.items():
            check.walk(value, str(key)[:40], 1)
