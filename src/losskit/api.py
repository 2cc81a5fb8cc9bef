"""LossFunction: the public callable built from a :class:`~losskit.spec.Loss` record.

A loss is three small pure kernels on per-sample values plus metadata:

- ``prepare(xp, y_true, y_pred, opts, validate)`` checks and canonicalises the inputs and
  options (dtype, label conventions, label smoothing, ...) and returns them;
- ``value(xp, y_true, y_pred, **opts)`` the per-sample losses;
- ``grad`` / ``hess`` the derivative / Hessian diagonal of ``sum(per-sample losses)``
  with respect to ``y_pred``, shaped like ``y_pred``.

:class:`LossFunction` does the rest once for every loss: namespace dispatch, option
checking, weights and reductions (through :mod:`losskit.reductions`).
"""

from __future__ import annotations

import dataclasses
import decimal
import inspect
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import autograd as _autograd
from . import engine as _engine
from . import reductions as _red
from ._array import host as _host
from ._array.validate import (
    LossInputError,
    check_option_dtype,
    checkify_checks,
    numeric,
    one_read,
    scalar_option,
    validate_option,
)
from ._array.xp import as_array, compute_dtype, device_of, is_numpy, namespace, torch_compiling, value_check_mode
from ._memo import remembered
from .spec import COMMON_OPTIONS, SQUARED_OPTIONS, ArrayLike, Loss, option_kind, option_type

__all__ = ["LossFunction", "BoundCall"]

Array = Any  # an array of any supported namespace (or array-like input)


class LossFunction:
    """A loss as users call it: ``loss(y_true, y_pred, *, reduction="mean", sample_weight=None,
    validate=True, **options)``, with ``.grad`` and ``.grad_hess`` taking the same arguments."""

    def __init__(self, record: Loss, bound: Mapping[str, Any] | None = None) -> None:
        self.record = record
        self.bound = dict(bound or {})
        self.__name__ = record.name
        self.__qualname__ = record.name
        # help(): the call first; with the options' kinds (a number or not, for the boundary's
        # conversion: typing calls that torch.compile cannot trace), worked out once per record
        _, self.__doc__, self._kinds = remembered(_RECORD_PARTS, id(record), _record_parts, record)
        self.__module__ = "losskit"
        self._key = _autograd.compiled_key(self)  # what a compiled call passes (compiled_value)
        self._checked: dict = {}  # the option checks' outcomes by the options (_arguments)
        self._boxes: dict = {}  # the fused boxes of small tensor calls by their signature (_small_call)
        self._memoisable = _host.plain_options(self.bound)  # (an array option may change in place)

    # -- configuration ---------------------------------------------------------------
    def configured(self, **options: Any) -> LossFunction:
        """A copy with ``options`` bound as new defaults (what :func:`losskit.get` returns)."""
        self._common_options({**self.bound, **options})  # reject unknown names and bad scalars now, not at a call
        return LossFunction(self.record, {**self.bound, **options})

    @property
    def __signature__(self) -> inspect.Signature:
        """The loss's options with their defaults and types, for ``inspect.signature``,
        ``help()`` and IDE completion (the call itself takes them as keywords)."""
        return signature(self.record, self.bound)

    @property
    def name(self) -> str:
        return self.record.name

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.bound.items())
        return f"<losskit loss {self.record.name}({opts})>"

    # -- evaluation ------------------------------------------------------------------
    def __call__(self, y_true: Array, y_pred: Array, **kwargs: Any) -> Array:
        if torch_compiling():  # one opaque call for Dynamo: a few guards, not one per line read
            out = _autograd.compiled_value(self._key, y_true, y_pred, {**self.bound, **kwargs})
            if out is not None:
                return out
        if self._memoisable and type(y_pred) is not np.ndarray:  # (NumPy calls: not a cent more)
            out = self._small_call(y_true, y_pred, kwargs)
            if out is not None:
                return out
        return self._run(y_true, y_pred, kwargs, order=0)

    def grad(self, y_true: Array, y_pred: Array, **kwargs: Any) -> Array:
        """d value / d y_pred, shaped like ``y_pred`` (of the sum when ``reduction="none"``)."""
        return self._run(y_true, y_pred, kwargs, order=1)

    def grad_hess(self, y_true: Array, y_pred: Array, **kwargs: Any) -> tuple[Array, Array]:
        """``(gradient, Hessian diagonal)`` of the value with respect to ``y_pred``."""
        return self._run(y_true, y_pred, kwargs, order=2)

    def value_and_grad(self, y_true: Array, y_pred: Array, **kwargs: Any) -> tuple[Array, Array]:
        """``(value, gradient)`` from one pass over the inputs (one validation, one prepare):
        what ``jax.value_and_grad`` or a torch forward + backward give, equal to calling the
        loss and ``.grad`` separately."""
        return self._run(y_true, y_pred, kwargs, order=1, with_value=True)

    def _split(self, kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        known = self.record.options
        common, opts = {}, {}
        for k, v in kwargs.items():
            if k in COMMON_OPTIONS:
                common[k] = v
            elif k in known:
                opts[k] = v
            else:
                allowed = ", ".join(sorted(list(known) + list(COMMON_OPTIONS)))
                raise LossInputError(f"{self.record.name} got an unknown option {k!r}; options are: {allowed}")
        return common, opts

    def per_sample(self, y_true: Array, y_pred: Array, **kwargs: Any) -> tuple[Array, Array | None]:
        """``(values, weight)``: the per-sample losses and the combined sample/class weights
        (None when unweighted) before any reduction: ``reduction="none"`` is ``values * weight``.
        Where the values already hold their class weights (:attr:`~losskit.spec.Loss.weights_in_values`:
        sparse CE with ``class_weight`` and ``label_smoothing``), ``weight`` is the sample weight alone
        and the mean divides by the class-weighted total, which :meth:`bind`'s ``norm`` holds."""
        call = self.bind(y_true, y_pred, **kwargs)
        return call.values, call.weight

    def bind(self, y_true: Array, y_pred: Array, **kwargs: Any) -> BoundCall:
        """The call ``loss(y_true, y_pred, **kwargs)`` up to its reduction: options checked,
        inputs prepared, per-sample values and combined sample/class weights computed, on the
        plain array-API path (never the chunked engine). Streaming accumulators build on this."""
        return self._bound(self._arguments(y_true, y_pred, kwargs))

    def _arguments(self, y_true: Array, y_pred: Array,
                   kwargs: Mapping[str, Any]) -> _autograd.Args:
        """``(xp, y_true, y_pred, opts, sample_weight, reduction, validate)``: options split
        and checked, inputs as arrays of their namespace (not yet prepared)."""
        rec = self.record
        bound = self.bound
        merged = {**bound, **kwargs} if kwargs and bound else kwargs or bound  # (read, never changed)
        sample_weight = merged.get("sample_weight")
        if "sample_weight" in merged:
            merged = {k: v for k, v in merged.items() if k != "sample_weight"}
        # The option checks depend on the options alone: their outcome is memoised by the
        # options' names, types and values (a sample weight aside; an unhashable value is
        # checked every time), the options themselves are the call's own (a -0.0 stays -0.0).
        if torch_compiling():  # traced once; Dynamo cannot follow the memo (nor its caught TypeError)
            merged = _autograd.concrete_numbers(merged)
            reduction, validate, drop, fixed = self._common_options(merged)
        else:
            key: Any = (tuple(merged.items()), tuple(map(type, merged.values()))) if merged else ()
            reduction, validate, drop, fixed = remembered(self._checked, key, self._common_options, merged, limit=64)
        opts = {**rec.options, **merged, **fixed} if fixed else {**rec.options, **merged}
        for k in drop:  # the common options: not the loss's own
            del opts[k]
        if (sample_weight is not None and not isinstance(sample_weight, bool)
                and isinstance(sample_weight, (numbers.Rational, decimal.Decimal))):
            # an int (a huge one too), Fraction or Decimal: a float, or refused here
            sample_weight = scalar_option(sample_weight, name="sample_weight", kind="float")
        if validate and isinstance(sample_weight, float) and not sample_weight >= 0.0:
            # a scalar weight checked here, on the host: JAX flushes a negative subnormal to -0
            host = namespace()
            _red.check_weight_values(host, host.asarray(sample_weight))
        xp = namespace(y_true, y_pred, sample_weight)
        y_pred = as_array(xp, numeric(y_pred, name="y_pred"))
        y_true = None if y_true is None else as_array(xp, numeric(y_true, name="y_true"), like=y_pred)
        floats = [k for k in merged if k not in drop and type(opts[k]) is float]
        if floats:  # options the computation dtype must hold (1e-300 underflows in float32, 1e300 overflows)
            info = xp.finfo(compute_dtype(xp, y_pred))
            for k in floats:
                check_option_dtype(opts[k], name=k, finfo=info, squared=k in SQUARED_OPTIONS)
        return xp, y_true, y_pred, opts, sample_weight, reduction, validate

    def _common_options(self, merged: Mapping[str, Any]) -> tuple[str, bool | str, tuple[str, ...], dict[str, Any]]:
        """``(reduction, validate, names of the common options given, the loss options converted
        at the boundary)``, all options checked: a scalar meant as a number is a finite float or
        an int64 (:func:`~losskit._array.validate.scalar_option`), never a bool."""
        common, opts = self._split(merged)
        reduction = _red.check_reduction(common.get("reduction", "mean"))
        fixed = {}
        for k, v in opts.items():
            out = scalar_option(v, name=k, kind=self._kinds[k])
            if out is not v:
                fixed[k] = out
        return reduction, validate_option(common.get("validate", True)), tuple(common), fixed

    def _bound(self, args: _autograd.Args,
               value: Any = None) -> BoundCall:
        """:meth:`bind` from :meth:`_arguments`' tuple (the per-sample values from ``value``, a
        kernel like the record's own, when given)."""
        rec = self.record
        xp, y_true, y_pred, opts, sample_weight, reduction, validate = args
        # every value check of the call settled by one host read (NumPy's reads are free: eager)
        with one_read(bool(validate) and not is_numpy(xp) and value_check_mode(y_pred) == "read"), \
                checkify_checks(validate == "checkify"):
            y_true, y_pred, opts = rec.prepare(xp, y_true, y_pred, opts, validate)
            weight = _red.weight_array(xp, sample_weight, dtype=y_pred.dtype, like=y_pred)
            if validate and weight is not None:
                _red.check_weight_values(xp, weight)
        values = (value or rec.value)(xp, y_true, y_pred, **opts)
        if weight is not None:
            weight = _red.fit_weight(xp, as_array(xp, weight, dtype=values.dtype), values.shape)
        norm = None
        if rec.implicit_weight is not None:
            implicit = rec.implicit_weight(xp, y_true, y_pred, **opts)
            if rec.weights_in_values is not None and rec.weights_in_values(opts):
                norm = _red.combine_weights(weight, implicit)  # the values hold them: only the mean's denominator
            else:
                weight = _red.combine_weights(weight, implicit)
        return BoundCall(xp, y_true, y_pred, opts, values, weight, reduction, norm)

    def _run(self, y_true: Array, y_pred: Array, kwargs: Mapping[str, Any], order: int,
             with_value: bool = False) -> Any:
        rec = self.record
        args = self._arguments(y_true, y_pred, kwargs)
        if type(args[2]) is np.ndarray:  # no autograd, host or JAX route to look for
            return self._plain(args, order, with_value)
        closed_form, host = self._torch_routes(args, order)
        if closed_form:
            # a torch forward for training: one autograd node whose backward is the closed form
            if host is not None:
                return self._host_value(args, host)
            return _autograd.torch_value(args[2], lambda yp: self._forward(args, yp))
        if order == 0 and _autograd.takes_jax(args[2], args[3], args[5], per_sample_jvp=not rec.vjp):
            # JAX traces: a custom_jvp whose tangent is the closed-form gradient
            return _autograd.jax_value(args, self._forward, self._value, rec.reduced_axes)
        if host is None:
            return self._plain(args, order, with_value)
        return _host.to_torch(self._plain(host, order, with_value, threads=_host.torch_threads()))

    def _small_call(self, y_true: Array, y_pred: Array, kwargs: dict[str, Any]) -> Any:
        """A value call on small CPU tensors whose route, memoised by the call's signature
        (:func:`~losskit._array.host.signature`), is the host route into one fused box: that box
        on the tensors' NumPy views, as :meth:`_run` would evaluate it (the same kernels, the same
        bits), without the option checks, namespace and route decisions that come before it (most
        of a 256 x 10 training step's loss call). With ``y_pred`` requiring grad the box gives the
        value and its gradient, and the closed-form node's backward scales the gradient. None:
        :meth:`_run` takes the call (another route; or the box declines an input outside the
        kernel's domain, which the reference kernels then check, raising their error)."""
        key = _host.signature(y_true, y_pred, kwargs)
        if key is None:
            return None
        key = (key, _engine.raw_settings())  # (a route chosen under other engine settings is another)
        box = remembered(self._boxes, key, self._small_box, y_true, y_pred, kwargs, limit=64)
        if box is None:
            return None
        (_, plan, n, route), xp, reduction, closed_form = box
        pair = _host.views(y_true, y_pred)
        if pair is None:
            return None
        out = _engine.one_box(plan, xp, *pair, reduction, int(closed_form), closed_form, n, route)
        if out is _engine.DECLINED:
            return None
        if not closed_form:
            return _host.to_torch(out)
        return _autograd.torch_held(y_pred, np.asarray(out[0]), out[1],
                                    lambda yp, ct: self._recorded(self._arguments(y_true, y_pred, kwargs), yp, ct))

    def _small_box(self, y_true: Array, y_pred: Array, kwargs: dict[str, Any]) -> tuple | None:
        """The route :meth:`_run` gives this value call, as :meth:`_small_call` memoises it: ``(one
        fused box's layout, host namespace, reduction, closed-form node)``, or None."""
        closed_form, host = self._torch_routes(self._arguments(y_true, y_pred, kwargs), 0)
        if host is None:
            return None
        layout = _engine.one_box_of(self.record, *host[:6])
        return None if layout is None else (layout, host[0], host[5], closed_form)

    def _torch_routes(self, args: _autograd.Args,
                      order: int) -> tuple[bool, Any]:
        """``(closed_form, host)`` of a call: whether it goes through the closed-form autograd
        node (a value call on a torch ``y_pred`` that requires grad), and its host-route arguments
        (small CPU tensors: NumPy views of them; None stays on torch)."""
        closed_form = order == 0 and _autograd.takes_torch(args[1], args[2], args[4], args[3])
        return closed_form, _host.args_of(args, closed_form, lambda host, large: self._stays_on_torch(host, large, order))

    def _stays_on_torch(self, host: _autograd.Args, large: bool, order: int) -> bool:
        """Whether a call the host route could take (``host``: its NumPy views) stays on torch. A
        small one, where the record's ``stays_on_torch`` trait says its torch kernels are the
        leaner for these options and no fused kernel takes the call (one compiled pass beats
        both); a ``large`` one, unless it is a reduced and unweighted value or gradient (order 0
        or 1) that a fused kernel beating torch's at scale takes (the ``fused_at_scale`` trait)."""
        rec = self.record
        if large:
            at_scale = rec.fused_at_scale
            return not (order < 2 and host[4] is None and host[5] != "none" and at_scale
                        and (at_scale is True or at_scale(host[2], host[3]))
                        and _engine.fuses(rec, host[1], host[2], host[3]))
        trait = rec.stays_on_torch
        if trait is None or not trait(host[3]):
            return False
        return not _engine.fuses(rec, host[1], host[2], host[3])

    def _plain(self, args: _autograd.Args, order: int,
               with_value: bool, threads: int | None = None) -> Any:
        """The call on the plain path, or the NumPy engine where it takes the call (on at most
        ``threads`` workers: a host-route call's, torch's own setting)."""
        if _engine.accepts(args[0], args[2], self.record):  # large NumPy input (or a fused kernel): chunked, threaded
            out = _engine.run(self.record, *args, order, with_value, threads)
            if out is not None:
                return out
        c = self._bound(args)
        if order == 0:
            return c.reduced()
        if with_value:
            return c.reduced(), self._derivatives(c, order)
        return self._derivatives(c, order)

    def _derivatives(self, c: BoundCall, order: int) -> Any:
        """Gradient (order 1) or (gradient, Hessian) of a bound call, reduction applied."""
        dscale = c.derivative_scale()
        kernels = (self.record.grad, self.record.hess)[:order]
        out = [self._scaled(k, c.xp, c.y_true, c.y_pred, c.opts, dscale, c.values) for k in kernels]
        return out[0] if order == 1 else tuple(out)

    def _scaled(self, kernel: Any, xp: Any, y_true: Array, y_pred: Array, opts: dict[str, Any],
                dscale: Any, values: Array) -> Array:
        """A derivative kernel of the per-sample values, times ``dscale`` (d reduced value / d
        per-sample value, broadcastable to ``values``, which only a VJP kernel reads): its
        vector-Jacobian product."""
        rec = self.record
        if rec.vjp:
            ct = xp.broadcast_to(xp.asarray(dscale, dtype=values.dtype, device=device_of(values)), values.shape)
            return kernel(xp, y_true, y_pred, cotangent=ct, **opts)
        scale = dscale if getattr(dscale, "ndim", 0) == 0 else _red.expand_axes(
            xp, dscale, rec.reduced_axes(y_pred.ndim, opts), y_pred.ndim)  # a scalar: no axes to restore
        return _autograd.times(kernel(xp, y_true, y_pred, **opts), scale, y_true, y_pred, values)

    def _value(self, args: _autograd.Args) -> Array:
        """The reduced value of the call on the plain path (the JAX route's primal)."""
        return self._bound(args).reduced()

    def _forward(self, args: _autograd.Args,
                 y_pred: Array) -> tuple[Array, Any]:
        """The autograd route's forward: the reduced value of the call and its backward, the
        closed-form gradient times the incoming gradient. The backward reuses the forward's
        prepared inputs, except while torch records it (``create_graph=True``): then it
        prepares the saved ``y_pred`` again (no checks: the forward ran them), so that its
        operations are recorded and a second backward works.

        Where the record has a one-pass ``value_grad`` form for the inputs, the forward holds
        its gradient and the first backward scales it in place (a second backward, with
        ``retain_graph=True``, runs the grad kernel)."""
        rec = self.record
        xp, y_true, _, opts, sample_weight, reduction, validate = args
        held = []
        value_holding_grad = None
        if rec.value_grad is not None and not rec.vjp:
            one_pass = rec.value_grad

            def value_holding_grad(xp: Any, yt: Array, yp: Array, **o: Any) -> Array:
                pair = one_pass(xp, yt, yp, **o)
                if pair is None:
                    return rec.value(xp, yt, yp, **o)
                held.append(pair[1])
                return pair[0]

        c = self._bound((xp, y_true, y_pred, opts, sample_weight, reduction, validate), value_holding_grad)
        dscale = c.derivative_scale()
        prepared = (c.y_true, c.y_pred, c.opts)
        values = c.values if rec.vjp else None  # per-sample values: only VJP kernels read them

        def backward(saved: Array, cotangent: Array) -> Array:
            yt, yp, o = prepared
            kernel = rec.grad
            if _autograd.records(saved):
                yt, yp, o = rec.prepare(xp, y_true, saved, dict(opts), False)
            elif held:
                grad = held.pop()
                kernel = lambda *_, **__: grad  # noqa: E731
            return self._scaled(kernel, xp, yt, yp, o, dscale * cotangent, values)

        return c.reduced(), backward

    def _host_value(self, args: _autograd.Args, host: _autograd.Args) -> Array:
        """The closed-form node of a call on the host route: NumPy computes on the views ``host``
        of the torch call ``args``, results are handed back as tensors. A reduced value comes with
        its gradient from one pass (:meth:`value_and_grad`, a fused kernel where one takes the
        call), which :func:`~losskit.autograd.torch_held`'s node holds for the backward; an
        unreduced one keeps the closed-form backward of its per-sample cotangents."""
        if host[5] == "none":
            return _autograd.torch_value(args[2], lambda yp: self._host_unreduced(args, host))
        value, grad = self._plain(host, 1, with_value=True, threads=_host.torch_threads())
        if not (isinstance(grad, np.ndarray) and grad.flags.owndata and grad.flags.writeable):
            grad = np.array(grad)  # (the node scales it in place: an array of its own)
        return _autograd.torch_held(args[2], np.array(value), grad, lambda yp, ct: self._recorded(args, yp, ct))

    def _host_unreduced(self, args: _autograd.Args, host: _autograd.Args) -> tuple[Array, Any]:
        """:meth:`_forward` of an unreduced call on the host route: the values as tensors, and a
        backward of the closed-form gradient of their cotangents on NumPy, handed back as a tensor.
        A backward that torch records (``create_graph=True``) runs the torch kernels on the call
        ``args`` instead (:meth:`_recorded`)."""
        value, backward = self._forward(host, host[2])

        def on_torch(saved: Array, cotangent: Array) -> Array:
            if _autograd.records(saved):
                return self._recorded(args, saved, cotangent)
            return _host.to_torch(backward(host[2], cotangent.detach().numpy()))

        return _host.to_torch(value), on_torch

    def _recorded(self, args: _autograd.Args, saved: Array, cotangent: Array) -> Array:
        """A host-route backward that torch records (``create_graph=True``): the torch kernels'
        closed form on the call ``args`` (its checks already ran), so that a second backward
        differentiates them."""
        return self._forward(args[:6] + (False,), saved)[1](saved, cotangent)


_RECORD_PARTS: dict = {}  # id(record) -> (record, doc, option kinds): the record kept alive, its id its own


def _record_parts(record: Loss) -> tuple[Loss, str, dict[str, Any]]:
    doc = f"{signature_doc(record)}\n\n{inspect.cleandoc(record.doc or '')}"
    return record, doc, {k: option_kind(k, v) for k, v in record.options.items()}


@dataclasses.dataclass(frozen=True)
class BoundCall:
    """One bound evaluation (:meth:`LossFunction.bind`): the array namespace, the prepared
    inputs and options, the per-sample values, their combined sample/class weights (None when
    unweighted, else broadcastable to the values), the reduction still to apply and ``norm``: the
    weights a weighted mean divides by when they differ from ``weight`` (the values then already
    hold their class weights, :attr:`losskit.spec.Loss.weights_in_values`), else None."""

    xp: Any
    y_true: Any
    y_pred: Any
    opts: dict
    values: Any
    weight: Any
    reduction: str
    norm: Any = None

    def reduced(self) -> Any:
        """The call's value: the values weighted and reduced."""
        return _red.reduce(self.xp, self.values, self.weight, self.reduction, self.norm)

    def derivative_scale(self) -> Any:
        """d(reduced value) / d(per-sample value), broadcastable to the values."""
        return _red.derivative_scale(self.xp, self.values, self.weight, self.reduction, self.norm)


def signature(record: Loss, bound: Mapping[str, Any] | None = None) -> inspect.Signature:
    """``(y_true, y_pred, *, option=default, ..., reduction="mean", sample_weight=None,
    validate=True) -> Array`` with each option's type (:func:`losskit.spec.option_type`);
    ``bound`` options (a :func:`losskit.get` result) show as the new defaults."""
    bound = bound or {}
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter("y_true", positional, annotation=ArrayLike),
              inspect.Parameter("y_pred", positional, annotation=ArrayLike)]
    defaults = {**record.options, "reduction": "mean", "sample_weight": None, "validate": True}
    for k, v in defaults.items():
        params.append(inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=bound.get(k, v),
                                        annotation=option_type(k, v)))
    return inspect.Signature(params, return_annotation=ArrayLike)


def signature_doc(record: Loss) -> str:
    """``name(y_true, y_pred, *, opt=default, ...)`` for help texts."""
    plain = [p.replace(annotation=inspect.Parameter.empty) for p in signature(record).parameters.values()]
    return f"{record.name}{inspect.Signature(plain)}"
