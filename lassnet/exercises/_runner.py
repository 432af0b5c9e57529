"""The grading framework of the exercise checkers (:mod:`lassnet.exercises`).

A checker runs the student's function on a list of *cases*. A case is a description and a
function ``case(fn)`` that builds inputs, computes the expected output with the library, calls
the student's function through :func:`_call` and compares with :func:`_compare`; a wrong
answer raises :class:`_Mismatch` whose message is the hint shown to the student. :func:`_run`
runs the cases, each under its own fixed seed, and turns the first failure into a ``FAIL``
line (an exception of the student's code included: it is reported, never raised).

**No loopholes.** Every :class:`Exercise` names what it is checked against
(:attr:`Exercise.withheld`: dotted paths such as ``"lassnet.metrics.si_sdr"`` or
``"lassnet.blocks.ResidualBlock.forward"``). While the student's function runs (inside
:func:`_call`, and only there), :func:`_withheld` replaces each of them, and every module
attribute anywhere in ``sys.modules`` that *is* the same object (``from lassnet.metrics import
si_sdr`` copies, ``lassnet.si_sdr`` re-exports, torchmetrics' re-exports), by a stand-in that
raises "write it yourself: <name> is what this exercise checks against"; a class attribute
(a method) is replaced on the class, so ``type(block).forward(block, x)`` is refused as well
as ``block(x)``. The checkers compute their expected outputs with references bound as local
names before the student's call, so the patching never reaches them. The student's own globals
(a notebook's namespace), closure cells and default arguments are searched too, and a
module not imported before the student's function runs cannot be imported inside it. What
the guard cannot stop: copying the library's source text, reloading its modules, or a
reference hidden inside a list or an object before the check; a teacher still reads what
they grade.

This module is the same for every exercise; the cases of each chapter live in their own
module of :mod:`lassnet.exercises` (``stft``, ``blocks``, ``film``, ``query``, ``masks``,
``data``, ``train``, ``metrics``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["CheckResult", "Exercise", "Withhold"]


# =========================================================================== results
@dataclass
class CheckResult:
    """What a checker found. True (``bool(result)``) when every case agreed with the library.

    Attributes:
        exercise: the exercise's name (a key of :data:`lassnet.exercises.EXERCISES`).
        passed: every case agreed.
        message: the ``PASS ...`` / ``FAIL ...`` line the checker printed.
        cases_passed, cases_total: how many of the checker's cases agreed, of how many.
        failed_case: the name of the first case that did not agree (``None`` on a pass).
        error: the name of the exception the student's function raised, if it raised.
    """

    exercise: str
    passed: bool
    message: str
    cases_passed: int
    cases_total: int
    failed_case: str | None = None
    error: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message


class _Mismatch(Exception):
    """A wrong answer; the message is the hint shown to the student."""


class _StudentError(Exception):
    """The student's function raised ``exc``."""

    def __init__(self, exc: BaseException, fn: Callable):
        super().__init__(str(exc))
        self.exc = exc
        self.fn = fn


class _UseTheLayers(RuntimeError):
    """Raised when a student's function calls what the exercise checks against."""


# =========================================================================== withholding
@dataclass(frozen=True)
class Withhold:
    """One thing the student may not call while their function runs.

    Attributes:
        path: dotted path, module then attributes: ``"lassnet.metrics.si_sdr"``,
            ``"lassnet.blocks.ResidualBlock.forward"``. A module that is not installed (an
            optional package such as torchmetrics) is skipped.
        allow: optional ``allow(*args, **kwargs) -> bool``: calls for which it returns true go
            to the original (e.g. a batch norm called *without* a FiLM shift).
    """

    path: str
    allow: Callable[..., bool] | None = None


def _resolve(path: str):
    """``(owner, attribute name, object)`` of a dotted path; ``None`` when the attribute does
    not exist or its package is not installed; ``("not imported", module)`` when the module
    that holds it is installed but not imported yet: importing a module (torchmetrics, say)
    only to withhold it would cost seconds, so :class:`_BlockImports` refuses its import
    instead."""
    parts = path.split(".")
    depth = 0  # parts[:depth] is the deepest module already imported
    for i in range(1, len(parts)):
        name = ".".join(parts[:i])
        if name in sys.modules:
            depth = i
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            return ("not imported", name)
        break
    if depth == 0:
        return None
    owner = sys.modules[".".join(parts[:depth])]
    try:
        for name in parts[depth:-1]:
            owner = getattr(owner, name)
        return owner, parts[-1], getattr(owner, parts[-1])
    except AttributeError:
        return None


def _refusal(path: str, original, allow):
    """The stand-in for ``original``: it raises :class:`_UseTheLayers` naming ``path``."""
    message = (f"write it yourself: {path} is what this exercise checks against, so your "
               "function may not call it")

    if allow is None:  # no reference to the original: its closure cannot hand it out
        def withheld(*args, **kwargs):
            raise _UseTheLayers(message)
    else:
        def withheld(*args, **kwargs):
            if allow(*args, **kwargs):
                return original(*args, **kwargs)
            raise _UseTheLayers(message)

    withheld.__name__ = getattr(original, "__name__", "withheld")
    withheld.__qualname__ = f"withheld {path}"
    return withheld


class _BlockImports(importlib.abc.MetaPathFinder):
    """A finder that refuses to import the modules of withheld references that were not
    imported before the student's function ran (and their submodules)."""

    def __init__(self, blocked: dict[str, str]):
        self.blocked = blocked  # module -> the withheld path

    def find_spec(self, fullname, path=None, target=None):
        for module, withheld in self.blocked.items():
            if fullname == module or fullname.startswith(module + "."):
                raise _UseTheLayers(f"write it yourself: {withheld} is what this exercise "
                                    f"checks against, so your function may not import "
                                    f"{module}")
        return None


#: Where each withheld object was found last time: ``id(object) -> (number of modules then,
#: [(namespace, key), ...])``. A full scan of ``sys.modules`` takes tens of milliseconds; it
#: is redone only when modules were added or removed since.
_ALIASES: dict[int, tuple[int, list[tuple[dict, str]]]] = {}


def _aliases(originals: dict[int, object]) -> dict[int, list[tuple[dict, str]]]:
    """Every module namespace entry that is one of ``originals`` (``id -> object``)."""
    count = len(sys.modules)
    found: dict[int, list[tuple[dict, str]]] = {}
    stale = [key for key in originals if _ALIASES.get(key, (-1,))[0] != count]
    for key in originals:
        if key not in stale:
            found[key] = [(ns, k) for ns, k in _ALIASES[key][1]
                          if ns.get(k) is originals[key]]
    if stale:
        for key in stale:
            found[key] = []
        wanted = {key: originals[key] for key in stale}
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for name, value in list(namespace.items()):
                key = id(value)
                if key in wanted and value is wanted[key]:
                    found[key].append((namespace, name))
        for key in stale:
            _ALIASES[key] = (count, found[key])
    return found


def _function_namespaces(fn) -> list[dict]:
    """The namespaces a student's function reaches besides modules: its globals (a notebook's,
    or the dict a grader ran the cell in) and ``__main__``'s."""
    spaces = [getattr(fn, "__globals__", None), getattr(sys.modules.get("__main__"), "__dict__",
                                                         None)]
    return [s for s in spaces if isinstance(s, dict)]


@contextlib.contextmanager
def _withheld(items: Sequence[Withhold], fn=None) -> Iterator[None]:
    """Inside the block, every item of ``items``, and every module attribute, global of
    ``fn``, closure cell or default argument of ``fn`` that is the same object, refuses to run
    (see the module's docstring); packages not imported yet cannot be imported. Everything is
    restored afterwards, also when the student's code raised."""
    patched: list[tuple[object, str, object]] = []  # (owner, name, old value) for setattr
    entries: list[tuple[dict, str, object]] = []  # (namespace, key, old value)
    cells: list[tuple[object, object]] = []  # (closure cell, old contents)
    defaults: list[tuple[object, str, object]] = []
    blocked: dict[str, str] = {}
    finder = None
    try:
        originals: dict[int, object] = {}
        stand_ins: dict[int, object] = {}
        for item in items:
            found = _resolve(item.path)
            if found is not None and found[0] == "not imported":
                blocked.setdefault(found[1], item.path)
                continue
            if found is None:
                continue
            owner, name, original = found
            stand_in = _refusal(item.path, original, item.allow)
            if isinstance(owner, type):  # a method: replace it on the class itself
                patched.append((owner, name, owner.__dict__.get(name, _MISSING)))
                setattr(owner, name, stand_in)
                continue
            originals[id(original)] = original
            stand_ins[id(original)] = stand_in
        if originals:
            for key, places in _aliases(originals).items():
                for namespace, name in places:
                    entries.append((namespace, name, originals[key]))
                    namespace[name] = stand_ins[key]
            for namespace in _function_namespaces(fn):
                for name, value in list(namespace.items()):
                    if id(value) in originals and value is originals[id(value)]:
                        entries.append((namespace, name, value))
                        namespace[name] = stand_ins[id(value)]
            for cell in getattr(fn, "__closure__", None) or ():
                try:
                    value = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if id(value) in originals and value is originals[id(value)]:
                    cells.append((cell, value))
                    cell.cell_contents = stand_ins[id(value)]
            for attr in ("__defaults__", "__kwdefaults__"):
                value = getattr(fn, attr, None)
                if not value:
                    continue
                swap = lambda v: stand_ins.get(id(v), v) if id(v) in originals and \
                    v is originals[id(v)] else v  # noqa: E731
                new = tuple(map(swap, value)) if isinstance(value, tuple) else \
                    {k: swap(v) for k, v in value.items()}
                defaults.append((fn, attr, value))
                setattr(fn, attr, new)
        if blocked:
            finder = _BlockImports(blocked)
            sys.meta_path.insert(0, finder)
        yield
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)
        for fn_, attr, value in reversed(defaults):
            setattr(fn_, attr, value)
        for cell, value in reversed(cells):
            cell.cell_contents = value
        for namespace, name, value in reversed(entries):
            namespace[name] = value
        for owner, name, value in reversed(patched):
            if value is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


_MISSING = object()

#: What the exercise being checked withholds (set by :func:`_run`, read by :func:`_call`).
_ACTIVE: list[Sequence[Withhold]] = []


def _call(fn: Callable, *args):
    """Call the student's ``fn`` with the exercise's references withheld; any exception it
    raises becomes a :class:`_StudentError`, a call of a withheld reference a
    :class:`_Mismatch` naming it."""
    try:
        with _withheld(_ACTIVE[-1] if _ACTIVE else (), fn):
            return fn(*args)
    except _UseTheLayers as exc:
        raise _Mismatch(str(exc)) from None
    except Exception as exc:  # the student's bug, reported as a FAIL, never raised
        raise _StudentError(exc, fn) from None


def _where(exc: BaseException, fn: Callable) -> str:
    """``" (in split_magphase, line 7: `mag = ...`)"``: the student's own line that raised."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == code.co_filename]
    if not frames:
        return ""
    frame = frames[-1]
    text = f": `{frame.line.strip()}`" if frame.line else ""
    return f" (in {frame.name}, line {frame.lineno}{text})"


#: Hints for exceptions that typical mistakes raise: (exception type name, text in the
#: message, hint). Checked in order; the first match is appended to the FAIL message.
_EXCEPTION_HINTS: list[tuple[str, str, str]] = [
    ("RuntimeError", "must match the size", "two tensors do not broadcast: compare their shapes"),
    ("RuntimeError", "shapes cannot be multiplied", "a matrix product got the wrong shapes"),
    ("TypeError", "not supported between", "an operation got a type it cannot handle"),
]


def _run(
    exercise: Exercise,
    fn,
    make_cases: Callable[[], Sequence[tuple[str, Callable]]],
    progress: bool,
    exception_hints: Sequence[tuple[str, str, str]] = (),
) -> CheckResult:
    """Run the cases (``(description, case(fn))`` pairs) of ``exercise`` on the student's
    ``fn`` and report the first failure, or a pass naming every case.

    The cases are built, and each runs, under its own fixed seed inside
    ``torch.random.fork_rng``: the results do not depend on, and do not change, the caller's
    random state. ``exception_hints`` are extra ``(exception type name, text in the message,
    hint)`` entries checked before :data:`_EXCEPTION_HINTS`.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cases = make_cases()
    total = len(cases)
    name, reference = exercise.name, exercise.reference

    def finish(result: CheckResult) -> CheckResult:
        if progress:  # the PASS / FAIL line, as the check finishes
            print(result.message)
        return result

    if not callable(fn):
        return finish(CheckResult(
            name, False, f"FAIL {name}: expected a function, got {type(fn).__name__}", 0, total
        ))
    for index, (description, case) in enumerate(cases):
        where = f"case {index + 1} of {total} ({description})"
        error = None
        _ACTIVE.append(exercise.withheld)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(1000 + index)
                case(fn)
            continue
        except _StudentError as err:
            exc = err.exc
            error = type(exc).__name__
            if isinstance(exc, NotImplementedError):
                text = f" ({exc})" if str(exc) else ""
                hint = (f"not implemented yet: your function raised NotImplementedError{text}. "
                        "Replace the `raise` line with your code.")
            else:
                hint = f"your function raised {error}: {exc}{_where(exc, err.fn)}"
                for kind, fragment, extra in [*exception_hints, *_EXCEPTION_HINTS]:
                    if error == kind and fragment in str(exc):
                        hint += f". Hint: {extra}"
                        break
        except _Mismatch as err:
            hint = str(err)
        except Exception as err:  # the output could not even be compared
            hint = (f"could not compare your function's output with the expected one "
                    f"({type(err).__name__}: {err}); check what it returns")
        finally:
            _ACTIVE.pop()
        message = f"FAIL {name} — {where}: {hint}"
        return finish(CheckResult(name, False, message, index, total, description, error))
    names = "; ".join(description for description, _ in cases)
    verb = "pass, measured against" if exercise.kind == "apply" else "agree with"
    message = f"PASS {name}: all {total} cases {verb} {reference} ({names})"
    return finish(CheckResult(name, True, message, total, total))


# =========================================================================== comparisons
def _as_tensor(value, label: str, expected: torch.Tensor) -> torch.Tensor:
    """The student's output as a detached tensor comparable with ``expected``."""
    if value is None:
        raise _Mismatch(f"{label}: your function returned None; did you forget `return`?")
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    elif isinstance(value, (int, float, np.floating, np.integer)) and expected.dim() == 0:
        value = torch.tensor(float(value))
    if not isinstance(value, torch.Tensor):
        raise _Mismatch(f"{label}: expected a torch.Tensor, got {type(value).__name__}")
    value = value.detach()
    if value.is_complex() and not expected.is_complex():
        raise _Mismatch(f"{label} is complex ({value.dtype}) but should be real-valued")
    if not value.is_floating_point() and not value.is_complex():
        value = value.to(expected.dtype)
    return value


def _shape_hint(got: tuple, expected: tuple) -> str:
    """Why two shapes may differ (swapped axes, a size-1 axis, a reduced axis, a reshape),
    as a clause to append to a shape mismatch; empty when no pattern fits."""
    if sorted(got) == sorted(expected):
        return ": the same sizes in another order, so two axes are swapped"
    squeeze = lambda s: tuple(n for n in s if n != 1)  # noqa: E731
    if squeeze(got) == squeeze(expected):
        return ": an axis of size 1 is missing or extra (indexing, squeeze or keepdim)"
    if len(got) < len(expected):
        return (": fewer axes than expected; a sum or mean may have run over an axis that "
                "should stay, or over the whole batch")
    if int(np.prod(got)) == int(np.prod(expected)):
        return ": the same number of values in another layout (a reshape or transpose)"
    return ""


def _close(got: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> bool:
    """``allclose`` in double precision (NaN never equals NaN)."""
    got = got.to(torch.float64) if not got.is_complex() else got.to(torch.complex128)
    expected = expected.to(got.dtype)
    return bool(torch.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=False))


def _check_shape(label: str, got: torch.Tensor, expected: torch.Tensor) -> None:
    """Raise :class:`_Mismatch` with a shape hint when the shapes differ."""
    if tuple(got.shape) != tuple(expected.shape):
        raise _Mismatch(
            f"shape mismatch for {label}: expected {tuple(expected.shape)}, got "
            f"{tuple(got.shape)}{_shape_hint(tuple(got.shape), tuple(expected.shape))}"
        )


def _check_finite(label: str, got: torch.Tensor, expected: torch.Tensor, nan_hint: str) -> None:
    """Raise :class:`_Mismatch` when ``got`` has NaN or Inf where ``expected`` is finite."""
    bad = ~torch.isfinite(got) & torch.isfinite(expected)
    if bad.any():
        n_nan, n_inf = int(torch.isnan(got).sum()), int(torch.isinf(got).sum())
        raise _Mismatch(f"{label} has {n_nan} NaN and {n_inf} Inf values. Hint: {nan_hint}")


def _diagnose(label: str, got: torch.Tensor, expected: torch.Tensor, rtol: float,
              atol: float) -> str:
    """A hint for a same-shape, finite, wrong answer: sign, scale, or where it is off."""
    if _close(-got, expected, rtol, atol):
        return f"sign error: {label} is the negative of the expected values"
    g = got.to(torch.float64).flatten()
    e = expected.to(torch.float64).flatten()
    energy = float(e @ e)
    if energy > 0 and not got.is_complex():
        k = float(g @ e) / energy
        if abs(k - 1) > 1e-3 and abs(k) > 1e-12 and _close(got, k * expected, rtol, atol):
            return f"wrong scaling: {label} is {k:.4g} × the expected values"
    error = (g - e).abs()
    i = int(error.argmax())
    index = tuple(int(j) for j in np.unravel_index(i, tuple(expected.shape))) if e.numel() > 1 \
        else ()
    return (f"{label} differs from the expected values: largest difference {float(error[i]):.3g} "
            f"at index {index} (expected {float(e[i]):.4g}, got {float(g[i]):.4g})")


def _compare(labels, got, expected, *, rtol=1e-4, atol=1e-5, mistakes=(), nan_hint="",
             note: str = "") -> None:
    """Compare the student's output(s) with the expected tensor(s); raise :class:`_Mismatch`.

    ``labels``/``expected`` are a name and a tensor, or tuples of them (a function that returns
    several tensors). ``mistakes`` are ``(hint, wrong_output)`` pairs: outputs that typical
    mistakes produce; when the student's output equals one of them, its hint is shown.
    ``note`` is appended to a generic mismatch (something specific to the failing case).
    """
    single = isinstance(labels, str)
    labels = (labels,) if single else tuple(labels)
    expected = (expected,) if single else tuple(expected)
    if single:
        got = (got,)
    else:
        what = ", ".join(labels)
        if got is None:
            raise _Mismatch(f"your function returned None; return the tuple ({what})")
        if not isinstance(got, (tuple, list)):
            raise _Mismatch(f"return a tuple of {len(labels)} tensors ({what}), "
                            f"got {type(got).__name__}")
        if len(got) != len(labels):
            raise _Mismatch(f"return a tuple of {len(labels)} tensors ({what}), "
                            f"got {len(got)} values")
    got = tuple(_as_tensor(g, lab, e) for g, lab, e in zip(got, labels, expected, strict=True))
    for g, lab, e in zip(got, labels, expected, strict=True):
        _check_shape(lab, g, e)
    for g, lab, e in zip(got, labels, expected, strict=True):
        _check_finite(lab, g, e, nan_hint or "avoid dividing by zero (add the small floor ε)")
    scale = [max(1.0, float(e.abs().max())) if e.numel() else 1.0 for e in expected]
    ok = [_close(g, e, rtol, atol * s) for g, e, s in zip(got, expected, scale, strict=True)]
    if all(ok):
        return
    for hint, wrong in mistakes:
        if wrong is None:
            continue
        wrong = (wrong,) if single else tuple(wrong)
        if all(
            w is not None and tuple(w.shape) == tuple(g.shape) and _close(g, w, rtol, atol * s)
            for g, w, s in zip(got, wrong, scale, strict=True)
        ):
            raise _Mismatch(hint)
    first = ok.index(False)
    hint = _diagnose(labels[first], got[first], expected[first], rtol, atol * scale[first])
    raise _Mismatch(hint + (f". {note}" if note else ""))


# =========================================================================== exercises
@dataclass(frozen=True)
class Exercise:
    """One exercise: who checks it, what the student writes, where the book teaches it.

    Attributes:
        name: the key in :data:`lassnet.exercises.EXERCISES` (and the ``exercise`` metadata of
            its cells).
        function: the name of the function the student writes.
        chapter: the book source (file stem in ``book/``) that holds the exercise.
        reference: the library function the checker compares with.
        hint: the message of the student version's ``NotImplementedError`` stub.
        checker: the ``check_*`` function.
        withheld: what the student's function may not call (:class:`Withhold`): the reference
            and its aliases; for an *apply* exercise, whatever would answer it outright.
        kind: ``"transcribe"`` (write a given formula as code, compared with the library) or
            ``"apply"`` (use the idea on a new case; the checker measures the answer).
        teaches: the number of the chapter that teaches the idea (1–8); the exercises of one
            chapter make one nbgrader assignment (``tools/exercises.py``).
        points: what the exercise is worth in an nbgrader assignment.
    """

    name: str
    function: str
    chapter: str
    reference: str
    hint: str
    checker: Callable[..., CheckResult]
    withheld: tuple[Withhold, ...] = field(default=())
    kind: str = "transcribe"
    teaches: int = 0
    points: int = 1
