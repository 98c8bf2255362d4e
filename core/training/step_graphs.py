"""Inside the training child: whole training steps replayed as CUDA graphs.

At short lengths a GPU step is bound by the host: BERT-base at tweet lengths spent ~15 ms of CPU a step on an
H200 for ~4 ms of kernels (dynamo's guard checks, the autograd engine's per-weight gradient hand-over, clipping's
and AdamW's per-weight Python, the Trainer's own loop). Compile's CUDA graphs (mode reduce-overhead) replay the
forward and the backward only. Here the whole step — forward, backward, gradient norm and clipping, and the fused
AdamW update — is recorded once per batch shape and then replayed as one launch: the host copies the batch into
the graph's input tensors, writes the learning rate into a device scalar and replays.

The arithmetic is the Trainer's own: the graph is recorded by running `compute_loss`, `accelerator.backward`,
`clip_grad_norm_` and the optimizer's `step` on the model as it is (compiled, default mode, no CUDA graphs of
its own). A shape is recorded the second time it comes (its first step, on the ordinary path, is the warm-up
that compiles it), and the step being recorded is then replayed, so no step is taken twice or skipped. The
Trainer's loop, its callbacks, logging, evaluation and checkpoints are unchanged; the learning rate still comes
from its scheduler every step.

Where it does not apply (gradient accumulation, fp16's loss scaler, several processes) or a recording fails (a
model whose forward waits on the GPU), the step takes the ordinary path and the training log says why once.

On by default where compile's own graphs would run (the fast preset on one CUDA GPU, max length <= 128);
`DASHBOARD_STEP_GRAPHS=0` keeps compile's graphs instead. Measured through the app's child on an H100
(bench/RESULTS.md): BERT-base-sized at tweet lengths, batch 64, 7,205 samples/s against 4,950 for compile's graphs
in the same call; pretrained MiniLM-L6 on tweets 1.68x, every logged loss the same to 0.0045.
"""

from __future__ import annotations

MAX_GRAPHS = 32  # batch shapes recorded per run; later new shapes take the ordinary path
RECORD_ON_SIGHTING = 2  # a shape is recorded when seen this many times (the first compiles it)
# No new shape is recorded while the GPU has less than this share of its memory free: each recording keeps memory
# in the graphs' pool (long unpadded batches: gigabytes), and a later step must not run out.
MIN_FREE_SHARE = 0.15


def blocker(trainer, inputs, num_items_in_batch) -> str | None:
    """Why this step cannot be one graph, in words; None when it can."""
    import torch

    args = trainer.args
    if not torch.cuda.is_available() or args.device.type != "cuda":
        return "they need a CUDA GPU"
    if args.gradient_accumulation_steps != 1:
        return "gradient accumulation takes several backward passes per update"
    if args.fp16:
        return "fp16's loss scaler checks for overflow on the host every step"
    if args.world_size > 1 or args.n_gpu > 1:
        return "several processes synchronise their gradients between steps"
    count = num_items_in_batch
    if count is not None and not isinstance(count, (int, float)) and not (
            isinstance(count, torch.Tensor) and count.is_cuda and count.dim() == 0):
        return "the loss is scaled by an item count kept outside the GPU"
    if not all((isinstance(v, torch.Tensor) and v.is_cuda) or _is_number(v) for v in inputs.values()):
        return "the batch holds values other than GPU tensors and numbers"
    return None


class _Graph:
    __slots__ = ("graph", "inputs", "count", "loss", "grad_norm")

    def __init__(self, graph, inputs, count, loss, grad_norm):
        self.graph, self.inputs, self.count, self.loss, self.grad_norm = graph, inputs, count, loss, grad_norm


class StepGraphs:
    """Records and replays whole training steps, one CUDA graph per batch shape (see the module's docstring).

    `step` returns the step's loss when it ran the whole step (forward to optimizer update), else None (the
    Trainer takes its ordinary path); the clipping call that follows then returns the step's gradient norm, and
    `consume_step` has the optimizer's update skipped."""

    def __init__(self, say=None):
        self.say = say or (lambda line: None)
        self.graphs: dict[tuple, _Graph] = {}
        self.seen: dict[tuple, int] = {}
        self.pool = None
        self.lrs: list = []  # one device scalar per parameter group, read by the recorded update
        self.off_reason: str | None = None
        self.stepped = False
        self.grad_norm = None
        self.replays = self.calls = 0
        self.memory_full = False

    def _off(self, reason: str) -> None:
        if self.off_reason is None:
            self.off_reason = reason
            self.say(f"Whole-step CUDA graphs off: {reason}; steps take the ordinary path.")

    def step(self, trainer, model, inputs, num_items_in_batch):
        """Run this training step as one graph replay where it can; the loss (detached), or None."""
        self.stepped = False
        self.calls += 1
        if self.off_reason is not None:
            return None
        reason = blocker(trainer, inputs, num_items_in_batch)
        if reason is not None:
            self._off(reason)
            return None
        # The loss's item count (the Trainer's num_items_in_batch, for a loss summed then divided) is an input
        # of the graph when it is a GPU scalar, and part of the shape's key when it is a number.
        count = num_items_in_batch
        # A number in the batch (packed batches' max_seqlen) is recorded into the graph: part of the key too.
        key = (tuple((name, value) if _is_number(value) else (name, tuple(value.shape), value.dtype)
                     for name, value in sorted(inputs.items())),
               count if count is None or isinstance(count, (int, float)) else ("tensor", count.dtype))
        recorded = self.graphs.get(key)
        if recorded is None:
            self.seen[key] = self.seen.get(key, 0) + 1
            if self.seen[key] < RECORD_ON_SIGHTING or len(self.graphs) >= MAX_GRAPHS or self._memory_is_short():
                return None
            recorded = self._record(trainer, model, inputs, count, key)
            if recorded is None:
                return None
        if not getattr(model, "training", True):  # after an evaluation; the ordinary step sets it every time
            model.train()
        for name, value in inputs.items():
            if not _is_number(value):
                recorded.inputs[name].copy_(value, non_blocking=True)
        if recorded.count is not None:
            recorded.count.copy_(count, non_blocking=True)
        for scalar, group in zip(self.lrs, trainer.optimizer.param_groups):
            scalar.fill_(group["lr"])
        recorded.graph.replay()
        self.replays += 1
        self.stepped, self.grad_norm = True, recorded.grad_norm.clone()
        return recorded.loss.clone()

    def _memory_is_short(self) -> bool:
        """True (and one log line, the first time) once the GPU's free memory falls under MIN_FREE_SHARE: the
        shapes recorded so far keep replaying, new ones take the ordinary path."""
        import torch

        if not self.memory_full:
            free, total = torch.cuda.mem_get_info()
            if free < MIN_FREE_SHARE * total:
                self.memory_full = True
                self.say(f"Whole-step CUDA graphs: {len(self.graphs)} batch shapes recorded and the GPU has "
                         f"{free / 2**30:.1f} of {total / 2**30:.0f} GB free; new shapes take the ordinary path.")
        return self.memory_full

    def report(self) -> None:
        """One line for the training log at the end: how many steps were replayed."""
        if self.graphs or self.off_reason is None:
            self.say(f"Whole-step CUDA graphs: {self.replays} of {self.calls} steps replayed from "
                     f"{len(self.graphs)} recorded batch shapes.")

    def consume_step(self) -> bool:
        """True once after a replayed step: the Trainer's optimizer update that follows is skipped."""
        stepped, self.stepped = self.stepped, False
        return stepped

    def _record(self, trainer, model, inputs, count, key) -> _Graph | None:
        import torch

        optimizer = _torch_optimizer(trainer.optimizer)
        if not getattr(optimizer, "defaults", {}).get("fused"):
            self._off("the optimizer is not a fused AdamW")
            return None
        if any(p.grad is not None for p in model.parameters()):
            self._off("gradients were left from before the step")
            return None
        if not self.lrs:
            self.lrs = [torch.tensor(float(g["lr"]), dtype=torch.float32, device=trainer.args.device)
                        for g in optimizer.param_groups]
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        static = {name: value if _is_number(value) else value.clone() for name, value in inputs.items()}
        static_count = count.clone() if isinstance(count, torch.Tensor) else None
        params = [p for p in model.parameters() if p.requires_grad]
        saved = [(g["lr"], g.get("capturable", False)) for g in optimizer.param_groups]
        for scalar, group in zip(self.lrs, optimizer.param_groups):
            scalar.fill_(group["lr"])
            group["lr"], group["capturable"] = scalar, True
        graph = torch.cuda.CUDAGraph()
        try:
            with _recording(graph, self.pool):
                loss = _forward_backward(trainer, model, static,
                                         static_count if static_count is not None else count)
                max_norm = trainer.args.max_grad_norm
                if max_norm and max_norm > 0:
                    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
                else:
                    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None],
                                                              foreach=True)
                type(optimizer).step(optimizer)
        except Exception as error:  # a forward that syncs or allocates on the host cannot be recorded
            for p in params:
                p.grad = None
            end_generator_capture()
            self._off(f"the step for a batch shaped {_shape(inputs)} could not be recorded after {len(self.graphs)} "
                      f"that were ({type(error).__name__}: {str(error)[:160]})")
            return None
        finally:
            for (lr, capturable), group in zip(saved, optimizer.param_groups):
                group["lr"], group["capturable"] = lr, capturable
        for p in params:  # the recorded gradients live in the graph's memory; the Trainer's zero_grad drops them
            p.grad = None
        recorded = _Graph(graph, static, static_count, loss.detach(), grad_norm.detach())
        self.graphs[key] = recorded
        if len(self.graphs) == 1:
            self.say(f"Whole-step CUDA graphs: recorded the first, for a batch shaped {_shape(inputs)}.")
        return recorded


_STREAM = None


class _recording:
    """torch.cuda.graph without what it does first (synchronize, empty the GPU and pinned-memory caches: each
    recording would then cost every later step its memory again), on one side stream kept for the run.
    Thread-local mode: the loader's pin-memory thread keeps making CUDA calls while a step is recorded."""

    def __init__(self, graph, pool):
        import torch

        global _STREAM
        if _STREAM is None:
            _STREAM = torch.cuda.Stream()
        self.graph, self.pool, self.stream = graph, pool, torch.cuda.stream(_STREAM)

    def __enter__(self):
        import torch

        _STREAM.wait_stream(torch.cuda.current_stream())  # the batch's copy and the last step come first
        self.stream.__enter__()
        try:
            self.graph.capture_begin(self.pool, capture_error_mode="thread_local")
        except Exception:
            self.stream.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        import torch

        try:
            self.graph.capture_end()
        finally:
            self.stream.__exit__(*exc)
            torch.cuda.current_stream().wait_stream(_STREAM)
        return False


def _is_number(value) -> bool:
    return isinstance(value, (int, float, bool))


def _shape(inputs) -> str:
    ids = inputs.get("input_ids")
    return " x ".join(map(str, ids.shape)) if ids is not None else "?"


def end_generator_capture() -> None:
    """After a recording that failed, the CUDA random generator still believes it is being recorded, and the next
    dropout outside a graph fails ("Offset increment outside graph capture"). An empty recording, which ends
    cleanly, ends the generator's too."""
    import torch

    try:
        with torch.cuda.graph(torch.cuda.CUDAGraph(), capture_error_mode="thread_local"):
            pass
    except Exception:  # nothing more to do; the ordinary step will say what is wrong
        pass


def _forward_backward(trainer, model, inputs, num_items_in_batch):
    """The Trainer's training_step (one micro-batch, no loss scaler): loss and its backward pass."""
    model.train()
    with trainer.compute_loss_context_manager():
        # a copy of the inputs: compute_loss may pop the labels
        loss = trainer.compute_loss(model, dict(inputs), num_items_in_batch=num_items_in_batch)
    trainer.accelerator.backward(loss)
    return loss


def _torch_optimizer(optimizer):
    """The torch optimizer under accelerate's wrapper."""
    return getattr(optimizer, "optimizer", optimizer)


def trainer_class(base):
    """`base` (the Trainer) with its training step, clipping and optimizer update run as one graph where it can."""

    class StepGraphTrainer(base):
        step_graphs: StepGraphs

        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = self.step_graphs.step(self, model, self._prepare_inputs(inputs), num_items_in_batch)
            if loss is not None:
                return loss
            return super().training_step(model, inputs, num_items_in_batch)

        def train(self, *args, **kwargs):
            try:
                return super().train(*args, **kwargs)
            finally:
                self.step_graphs.report()

        def _clip_grad_norm(self, model):
            if self.step_graphs.stepped:
                return self.step_graphs.grad_norm
            return super()._clip_grad_norm(model)

        def _get_grad_norm(self, model, grad_norm=None):
            if self.step_graphs.stepped:
                return self.step_graphs.grad_norm
            return super()._get_grad_norm(model, grad_norm)

        def create_optimizer(self, *args, **kwargs):
            optimizer = super().create_optimizer(*args, **kwargs)
            _skip_replayed_updates(optimizer, self.step_graphs)
            return optimizer

    return StepGraphTrainer


def _skip_replayed_updates(optimizer, graphs: StepGraphs) -> None:
    """The optimizer's `step` does nothing right after a replayed step (the graph made the update). A bound
    method, as torch's LR schedulers re-wrap `optimizer.step` through its `__func__`."""
    import types

    if getattr(optimizer, "_step_graphs_wrapped", False):
        return
    plain = type(optimizer).step

    def step(self, *args, **kwargs):
        if graphs.consume_step():
            return None
        return plain(self, *args, **kwargs)

    optimizer.step = types.MethodType(step, optimizer)
    optimizer._step_graphs_wrapped = True
