"""What a student reads when a graded check fails: what to fix, in a line or two.

Two parts, both framework-neutral:

* ``check_returned``: a visible test first checks the *form* of what the student's
  function returned (its type, length, shape, dtype, range) and says what to return::

      X, y = feedback.check_returned(compute_features(base, loader), "compute_features",
                                     "a pair (features, labels)", length=2)

  ``None`` (a function without ``return``) gets "compute_features returned None: return
  a pair (features, labels)" instead of "cannot unpack non-iterable NoneType object".
* ``condense``: the lines IPython shows for an exception that leaves a graded test
  (``exercises.own_code`` attaches them): the message first, then the student's own
  frames (their function, line and code), while frames inside the package, the
  libraries and the test code are counted, not shown.  IPython shows the list an
  exception's ``_render_traceback_`` returns instead of its traceback, and nbgrader keeps
  it as the cell's error output, so Validate (``tlcourse.course.validate``) and feedback
  show the same lines.
"""
from __future__ import annotations

import linecache
import numbers
import traceback

from tlcourse.integrity import is_package_file
from tlcourse.messages import _, translate_raised

# the first line of a condensed failure: "<grade_id>: <message>" (course.validate reads it);
# the lines after it are indented so (the student's code, then what was left out)
FAILED = "{grade_id}: {message}"
INDENT = "    "


class AnswerForm(AssertionError):
    """What a student's function returned has the wrong form; one line says what to return."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def describe(value) -> str:
    """A short description of a value: "None", "a tuple of 3", "a float32 Tensor of shape (2, 5)"."""
    if value is None:
        return "None"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    name = type(value).__name__
    if shape is not None and not callable(shape):
        try:
            dims = tuple(int(d) if d is not None else None for d in shape)
        except TypeError:
            dims = shape
        return _("a {dtype} {kind} of shape {shape}", dtype=_dtype_name(value), kind=name,
                 shape=dims) if dtype is not None else _("a {kind} of shape {shape}", kind=name,
                                                         shape=dims)
    if isinstance(value, (tuple, list, dict, set)):
        return _("a {kind} of {count}", kind=name, count=len(value))
    if isinstance(value, (numbers.Number, str)):
        return f"{value!r} ({name})"
    return _("a {kind}", kind=name)


def _dtype_name(value) -> str:
    """"float32" for a numpy, torch or TensorFlow value of that dtype (its class name if none)."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return type(value).__name__
    return getattr(dtype, "name", None) or str(dtype).replace("torch.", "")


def check_returned(value, function: str, what: str, *, kind=None, length: int | None = None,
                   shape: tuple | None = None, dtype: str | None = None,
                   within: tuple[float, float] | None = None):
    """Raise ``AnswerForm`` ("<function> returned <value>: return <what>") unless ``value``
    has the form asked: ``kind`` a type (or tuple of types), ``length`` for a tuple or list,
    ``shape`` (None matches any size), ``dtype`` "float" or "int" (its kind, any width),
    ``within`` an inclusive range for a number or every element.  Returns ``value``."""
    def refuse(detail: str = ""):
        raise AnswerForm(_("{function} returned {value}{detail}: return {what}", function=function,
                           value=describe(value), detail=detail, what=translate_raised(what)))

    if value is None:
        refuse()
    if kind is not None and not isinstance(value, kind):
        refuse()
    if length is not None and (not isinstance(value, (tuple, list)) or len(value) != length):
        refuse()
    if shape is not None:
        got = getattr(value, "shape", None)
        if got is None or callable(got):
            refuse()
        got = tuple(None if d is None else int(d) for d in got)
        if len(got) != len(shape) or any(w is not None and g != w for g, w in zip(got, shape)):
            refuse()
    if dtype is not None:
        name = _dtype_name(value)
        if not name.startswith(dtype) and not (dtype == "float" and name.startswith(("half", "double"))):
            refuse(_(" of dtype {dtype}", dtype=name))
    if within is not None:
        import numpy as np

        lo, hi = within
        try:
            data = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            refuse()
        if not np.all(np.isfinite(data)) or data.min(initial=lo) < lo or data.max(initial=hi) > hi:
            refuse(_(" with values outside [{low}, {high}]", low=lo, high=hi))
    return value


def _code_line(frame: traceback.FrameSummary) -> str:
    line = frame.line or linecache.getline(frame.filename, frame.lineno or 0)
    return line.strip()


def condense(exc: BaseException, grade_id: str, test_file: str) -> list[str]:
    """The lines a student sees for ``exc`` leaving the graded test ``grade_id`` whose cell
    was compiled as ``test_file``: "<grade_id>: <message>", then each frame of the student's
    own code (any file that is neither the test cell nor inside the installed packages),
    then how many other frames were left out.  An assertion without a message is named
    by the test line that failed."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [f for f in frames if f.filename != test_file and not is_package_file(f.filename)]
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, AssertionError):
        if not message:
            in_test = [f for f in frames if f.filename == test_file]
            message = (_("this check failed: {code}", code=_code_line(in_test[-1])) if in_test
                       else _("a check failed"))
        message = translate_raised(message)     # a test's own message, in the edition's language
    elif isinstance(exc, NotImplementedError) and not message and own:
        message = _("{function} is not written yet: replace its `raise NotImplementedError()` "
                    "with your code", function=own[-1].name)
        own = own[-1:]
    else:
        message = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        if isinstance(exc, NameError) and not own:     # the test's name, made by a cell above
            message += " " + _("(a cell above that defines it failed or has not run)")
    hidden = len(frames) - len(own)
    lines = [FAILED.format(grade_id=grade_id, message=message)]
    lines += [INDENT + _("in your {function}, line {line}: {code}", function=f.name,
                         line=f.lineno, code=_code_line(f)) for f in own]
    if hidden:
        lines.append(INDENT + (_("(1 frame inside the package, the libraries or the test not shown)")
                               if hidden == 1 else
                               _("({count} frames inside the package, the libraries or the test "
                                 "not shown)", count=hidden)))
    return lines


def attach(exc: BaseException, grade_id: str, test_file: str) -> None:
    """Make IPython show ``condense``'s lines for ``exc`` (unless it formats itself)."""
    if hasattr(exc, "_render_traceback_"):
        inner = exc._render_traceback_
        lines = [FAILED.format(grade_id=grade_id, message=" ".join(inner()).strip())]
        exc._render_traceback_ = lambda: lines
        return
    lines = condense(exc, grade_id, test_file)
    try:
        exc._render_traceback_ = lambda: lines
    except AttributeError:      # an exception type without a __dict__: IPython's usual traceback
        pass
