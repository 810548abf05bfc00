"""Plain torch forward hooks (the default backend), in the spirit of baukit's `Trace`.

`Trace` is a context manager: it registers one hook per site that is read or written, applies
the site's edits (`internals.capture.apply.Plan`) and then calls `on_site(site, tensor)` with the
edited tensor ([batch, tokens, d] or [batch, tokens, heads, d_head] for attn_z), optionally stops
the forward after a block by raising a private exception, and always removes its hooks (and
restores skipped blocks' `forward`) on exit, even when the forward raised. `attach` keeps a
Trace of edits on a model until it is removed: `LoadedModel.edit`, LayerNorm Scaling.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch

from ...errors import InternalsError
from ..apply import Forward, Plan, bind
from ..arch import Architecture, architecture
from ..edits import EditSet
from ..sites import Site


class _StopForward(Exception):
    """Raised after the last needed block so the rest of the model never runs."""


# The module a site is the output of; resid_pre and attn_z are inputs (of the block, of o_proj), and so
# are attn_in / mlp_in in a family without that pre-norm (the input of the attention / MLP module).
_OUTPUT_OF = {
    "embed": "embed",
    "final_norm": "final_norm",
    "resid_post": "block",
    "attn_out": "attn_out",
    "mlp_out": "mlp_out",
    "attn_in": "attn_norm",
    "mlp_in": "mlp_norm",
    "logits": "lm_head",
}
_SKIP_MARK = "_internals_skip"
_Tensor = torch.Tensor
_NO_INSTANCE_FORWARD = object()
ATTACHED = "_internals_edits"


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def _rewrap(output, new):
    if isinstance(output, tuple):
        return (new,) + output[1:]
    if isinstance(output, list):
        return [new] + output[1:]
    return new


def _hidden(args, kwargs) -> torch.Tensor:
    x = args[0] if args else kwargs.get("hidden_states")
    if not isinstance(x, torch.Tensor):
        raise InternalsError(
            "a decoder block was called without hidden states: this architecture is not supported for edits"
        )
    return x


def _passthrough(hidden_states=None, *args, **kwargs):
    if hidden_states is None:
        hidden_states = kwargs.get("hidden_states")
    if hidden_states is None:
        raise InternalsError(
            "a skipped block was called without hidden states: this architecture is not supported by skip"
        )
    return hidden_states


def forward_offset(args, kwargs) -> tuple[int, int]:
    """(position of the first token, number of tokens) of a model forward, from its arguments."""
    ids = kwargs.get("input_ids", args[0] if args else None)
    if ids is None:
        ids = kwargs.get("inputs_embeds")
    n = ids.shape[1] if ids is not None else 0
    pos = kwargs.get("position_ids")
    if pos is not None:
        return int(pos.reshape(-1)[0]), n
    cp = kwargs.get("cache_position")
    if cp is not None:
        return int(cp.reshape(-1)[0]), n
    cache = kwargs.get("past_key_values", kwargs.get("cache"))
    if cache is not None and hasattr(cache, "get_seq_length"):
        return int(cache.get_seq_length()), n
    return 0, n


class Trace:
    """Hook `sites` of `model` (read) and `edits` (write) for every forward run inside the block:
    the low-level capture context that `capture`, `record` and the analyses build on.

    Each read site calls `on_site(site, tensor)` as the forward passes it, with the tensor after
    that site's edits: [batch, tokens, d_model], or [batch, tokens, heads, d_head] for `attn_z`.
    `edits` is a list of edits (`internals.edits`) or a bound `Plan`. `stop_after` (a block index,
    -1 for the embedding) ends the forward after that block: the rest of the model never runs, the
    forward call does not return and the `with` block ends there (make the forward its last line).
    `forward` carries the positions of a capture batch; without one, a positional edit tracks each
    forward's offset itself (generation steps). Hooks are removed and skipped blocks restored on
    exit, even when the forward raised.

        >>> from internals.capture import Trace, parse_sites
        >>> sites = parse_sites("resid_post.3", n_layers=lm.n_layers)
        >>> means = []
        >>> with Trace(lm.model, sites, lambda site, x: means.append(x.mean(1))):  # x [batch, tokens, d]
        ...     lm.model(input_ids)
    """

    def __init__(
        self,
        model: torch.nn.Module,
        sites: Sequence[Site] = (),
        on_site: Callable | None = None,
        stop_after: int | None = None,
        edits: Plan | None = None,
        forward: Forward | None = None,
    ):
        self.model, self.sites, self.stop_after = model, list(sites), stop_after
        self.on_site: Callable = on_site if on_site is not None else _ignore  # edits only: nothing read
        self.plan = edits if isinstance(edits, Plan) or edits is None else bind(model, edits)
        self.forward = forward if forward is not None else Forward()
        self._track = forward is None
        self.arch: Architecture = architecture(model)
        self.handles: list = []
        self.skipped: list[torch.nn.Module] = []
        self._layers = self.arch.layers(model)  # looked up once, not once per site: a Trace is entered per batch

    def __enter__(self) -> Trace:
        try:
            plan = self.plan
            reads = set(self.sites)
            if plan is not None and not plan.empty:
                if self._track and plan.positional:
                    self.handles.append(self.model.register_forward_pre_hook(self._start, with_kwargs=True))
                for layer in sorted(plan.skipped):
                    self._skip(layer, plan.skip_all(layer))
            for site in sorted(reads | set(plan.by_site if plan else ())):
                self._hook(site, site in reads)
            if self.stop_after is not None:
                kind = "embed" if self.stop_after < 0 else "block"
                self.handles.append(self._module(kind, self.stop_after).register_forward_hook(_raise_stop))
        except BaseException:
            self.close()
            raise
        return self

    def _start(self, module, args, kwargs):
        self.forward.start(*forward_offset(args, kwargs))

    def _module(self, kind: str, layer: int | None) -> torch.nn.Module:
        if kind == "block" and layer is not None:
            return self._layers[layer]
        return self.arch.module(self.model, kind, layer)

    def _skip(self, layer: int, everywhere: bool) -> None:
        block = self._layers[layer]
        if everywhere:  # the block does not run: its forward is the identity until exit
            if block.__dict__.get(_SKIP_MARK) is not None:
                raise InternalsError(f"block {layer} is already skipped by an enclosing edit")
            block.__dict__[_SKIP_MARK] = block.__dict__.get("forward", _NO_INSTANCE_FORWARD)
            block.forward = _passthrough
            self.skipped.append(block)
            return
        assert self.plan is not None  # only a plan skips blocks
        bounds = list(self.plan.skipped[layer])
        forward = self.forward

        def masked(module, args, kwargs, output):
            inp, out = _hidden(args, kwargs), _first(output)
            for b in bounds:
                m = forward.mask(b.edit.positions, out)
                out = inp if m is None else torch.where(m.unsqueeze(-1), inp, out)
            return _rewrap(output, out)

        self.handles.append(block.register_forward_hook(masked, with_kwargs=True))

    def _hook(self, site: Site, read: bool) -> None:
        arch, emit, kind, forward = self.arch, self.on_site, site.kind, self.forward
        plan = self.plan if self.plan is not None else _NO_PLAN
        edited = site in plan.by_site
        if arch.flat_mlp and kind in ("mlp_in", "mlp_out"):
            self._flat_hook(site, read, edited)
            return
        input_of = _input_module(arch, kind)
        if input_of is not None:

            def pre(module, args, kwargs):
                x = args[0] if args else kwargs["hidden_states"]
                if edited:
                    x = plan.apply(site, x, forward)
                if read:
                    emit(site, x)
                if edited:
                    if args:
                        return (x, *args[1:]), kwargs
                    return args, {**kwargs, "hidden_states": x}
                return None

            self.handles.append(self._module(input_of, site.layer).register_forward_pre_hook(pre, with_kwargs=True))
        elif kind == "attn_z":
            h, d = arch.n_heads, arch.d_head

            def pre_z(module, args):
                z = args[0].unflatten(-1, (h, d))
                if edited:
                    z = plan.apply(site, z, forward)
                if read:
                    emit(site, z)
                return (z.flatten(-2), *args[1:]) if edited else None

            self.handles.append(self._module("out_proj", site.layer).register_forward_pre_hook(pre_z))
        elif not edited:
            # a read-only output site, the common case (`record` runs it on every decode step): no
            # edit checks and no call to _first per step, since Python per hook is what a step pays
            def read_post(module, args, output):
                emit(site, output if output.__class__ is _Tensor else _first(output))

            self.handles.append(self._module(_OUTPUT_OF[kind], site.layer).register_forward_hook(read_post))
        else:

            def post(module, args, output):
                x = plan.apply(site, _first(output), forward)
                if read:
                    emit(site, x)
                return _rewrap(output, x)

            self.handles.append(self._module(_OUTPUT_OF[kind], site.layer).register_forward_hook(post))

    def _flat_hook(self, site: Site, read: bool, edited: bool) -> None:
        """OPT's MLP sees [batch * tokens, d]: the site is handed over as [batch, tokens, d] (the
        block's input shape, kept by a pre-hook) and written back flat."""
        emit, forward = self.on_site, self.forward
        plan = self.plan if self.plan is not None else _NO_PLAN
        shape: dict[str, torch.Size] = {}

        def keep(module, args, kwargs):
            shape["bt"] = _hidden(args, kwargs).shape[:2]

        def post(module, args, output):
            x = output.view(*shape["bt"], -1)
            if edited:
                x = plan.apply(site, x, forward)
            if read:
                emit(site, x)
            return x.reshape(output.shape) if edited else None

        self.handles.append(self._module("block", site.layer).register_forward_pre_hook(keep, with_kwargs=True))
        self.handles.append(self._module(_OUTPUT_OF[site.kind], site.layer).register_forward_hook(post))

    def close(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()
        for block in self.skipped:
            previous = block.__dict__.pop(_SKIP_MARK)
            if previous is _NO_INSTANCE_FORWARD:
                del block.forward
            else:
                block.forward = previous
        self.skipped.clear()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return exc_type is _StopForward


def _input_module(arch: Architecture, kind: str) -> str | None:
    """The module whose input a site is (None: the site is a module's output, or attn_z)."""
    if kind == "resid_pre":
        return "block"
    if kind == "attn_in" and arch.attn_norm_name is None:
        return "attn"
    if kind == "mlp_in" and arch.mlp_norm_name is None:
        return "mlp"
    return None


def _raise_stop(module, args, output):
    raise _StopForward


def _ignore(site: Site, x: torch.Tensor) -> None:
    """The on_site of a Trace that only edits."""


_NO_PLAN = Plan({}, {}, EditSet())


class Attached:
    """Edits kept on a model until `remove()` (or the end of a `with` block)."""

    def __init__(self, model: torch.nn.Module, plan: Plan):
        self.model, self.plan = model, plan
        self._trace = Trace(model, edits=plan).__enter__()
        self._removed = False
        model.__dict__.setdefault(ATTACHED, []).append(self)

    @property
    def edits(self):
        return self.plan.edits

    def remove(self) -> None:
        if not self._removed:
            self._trace.close()
            self._removed = True
            stack = self.model.__dict__.get(ATTACHED, [])
            if self in stack:
                stack.remove(self)

    def __enter__(self) -> Attached:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


@contextmanager
def suspended(model: torch.nn.Module) -> Iterator[None]:
    """The attached edits' hooks off for the block (a backend that applies them itself, such as
    nnsight, whose reads come before torch's forward hooks), back on after it."""
    stack = list(model.__dict__.get(ATTACHED, []))
    for a in stack:
        a._trace.close()
    try:
        yield
    finally:
        for a in stack:
            a._trace.__enter__()


def attach(model: torch.nn.Module, edits) -> Attached:
    """Apply `edits` to every forward of `model` (and every decode step) until `.remove()`."""
    return Attached(model, bind(model, edits))


def attached(model: torch.nn.Module) -> list:
    """The edits attached to `model` now, outermost first."""
    return [e for a in model.__dict__.get(ATTACHED, []) for e in a.edits]


def run(
    lm,
    batch,
    sites: list[Site],
    on_site: Callable,
    stop_block: int | None = None,
    edits: Plan | None = None,
    forward: Forward | None = None,
) -> None:
    """One forward of `lm` over `batch`, applying `edits` and calling `on_site` for every site."""
    with torch.no_grad(), Trace(lm.model, sites, on_site, stop_after=stop_block, edits=edits, forward=forward):
        lm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
