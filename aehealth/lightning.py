"""aehealth for PyTorch Lightning: a Callback that runs aehealth.torch's monitor beside `Trainer.fit`.

    from aehealth.lightning import HealthCallback
    trainer = Trainer(max_epochs=20, callbacks=[HealthCallback(x_train[:1000])])
    trainer.fit(module, datamodule)              # the report is printed when fit ends

The model is the LightningModule itself (its `forward` makes the reconstruction); the loss is `loss_fn(output,
targets)`, or the module's own `loss_fn` or `criterion` attribute. Checks run at the end of training epochs, on the
process of global rank 0 only (under `strategy="ddp"` the other ranks do nothing and no collective is called), and
the findings go to the trainer's logger as well. Works with the `lightning` package and the older `pytorch_lightning`.
"""
try:
    import lightning.pytorch as pl
except ImportError:  # the package's older name
    import pytorch_lightning as pl

from aehealth import monitor as core
from aehealth.contracts import UsageError
from aehealth.torch import HealthMonitor

LOSS_ATTRIBUTES = ('loss_fn', 'criterion')  # where a LightningModule keeps its loss, in the tutorials' code


def module_loss(module):
    """The loss a LightningModule keeps as an attribute (LOSS_ATTRIBUTES), or a one-line error saying what to pass."""
    for name in LOSS_ATTRIBUTES:
        found = getattr(module, name, None)
        if callable(found):
            return found
    raise UsageError(f'HealthCallback: {type(module).__name__} has no {" or ".join(LOSS_ATTRIBUTES)} attribute: pass '
                     f'HealthCallback(sample, loss_fn=...), the loss its training_step computes, as loss_fn(output, '
                     f'targets)')


class HealthCallback(pl.Callback):
    """aehealth.torch.HealthMonitor as a Lightning Callback: `sample` (and `targets`, default the sample) measured at
    the start of fit and after every `every` training epochs; `findings` and `metrics` once fit ends."""

    def __init__(self, sample, loss_fn=None, targets=None, every=1, out=None, verbose=True, forward=None,
                 budget=core.BUDGET):
        if loss_fn is not None and not callable(loss_fn):
            raise UsageError(f'loss_fn={loss_fn!r} is not callable: pass the loss as loss_fn(output, targets)')
        core.check_every(every)
        self.sample, self.loss_fn, self.targets, self.every = sample, loss_fn, targets, every
        self.out, self.verbose, self.forward, self.budget = out, verbose, forward, budget
        self.monitor = None

    @property
    def findings(self):
        """[{rule, level, evidence, fix}, ...] as of the last check ([] on ranks other than 0)."""
        return self.monitor.findings if self.monitor is not None else []

    @property
    def metrics(self):
        """Every number, as in health.json (None on ranks other than 0, or before fit)."""
        return self.monitor.metrics if self.monitor is not None else None

    def on_fit_start(self, trainer, pl_module):
        if trainer.global_rank != 0:  # one process checks; the others never wait on it inside a collective
            return
        optimizers = trainer.optimizers
        self.monitor = HealthMonitor(pl_module, self.sample, self.loss_fn or module_loss(pl_module),
                                     optimizers[0] if len(optimizers) == 1 else None, self.targets, self.every,
                                     self.out, self.verbose, self.forward, self.budget, step_hooks=False)
        if len(optimizers) > 1:
            self.monitor.monitor.record.notes.append(f'{len(optimizers)} optimizers: the learning-rate and loop rules '
                                                     f'were skipped (they read one optimizer)')
        if self.monitor.optimizer is not None:  # after the update: the step's own hook
            self._handle = self.monitor.optimizer.register_step_post_hook(self.monitor.step_ends)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if self.monitor is not None and self.monitor.optimizer is optimizer:
            self.monitor.step_begins()  # Lightning calls this after the closure's backward, before the update

    def on_train_epoch_end(self, trainer, pl_module):
        if self.monitor is None or trainer.sanity_checking:
            return
        before = len(self.monitor.monitor.record.health)
        self.monitor.epoch_end()
        health = self.monitor.monitor.record.health
        if len(health) > before and trainer.logger is not None:
            self._log(trainer, health[-1])

    def _log(self, trainer, snap):
        """A check's headline numbers, and the failures so far, to the trainer's logger."""
        numbers = {'aehealth/output_diversity': snap.get('output_diversity'), 'aehealth/loss': snap.get('loss')}
        numbers.update({f'aehealth/failure/{f["rule"]}': 1.0 for f in self.monitor.findings if f['level'] == 'failure'})
        trainer.logger.log_metrics({k: float(v) for k, v in numbers.items() if v is not None}, step=trainer.global_step)

    def on_fit_end(self, trainer, pl_module):
        if self.monitor is None:
            return
        if getattr(self, '_handle', None) is not None:
            self._handle.remove()
        self.monitor.finish()
        if trainer.logger is not None:
            failures = [f['rule'] for f in self.monitor.findings if f['level'] == 'failure']
            trainer.logger.log_metrics({'aehealth/failures': float(len(failures))}, step=trainer.global_step)

    def on_exception(self, trainer, pl_module, exception):
        if self.monitor is not None:  # a crash or Ctrl-C: the report of what was measured, the folder written
            self.on_fit_end(trainer, pl_module)
