"""The CPU TDT loss, where it was first: it lives in :mod:`jupyter_speechcustom.asr.tdt_loss`, beside
the transducer family whose training hook uses it."""

from jupyter_speechcustom.asr.tdt_loss import TDTLoss, transducer_log_likelihood, use_cpu_tdt_loss

__all__ = ["TDTLoss", "transducer_log_likelihood", "use_cpu_tdt_loss"]
