"""What the service announces, for whoever listens (app/metrics.py): blinker signals only.

Here rather than beside their senders so a listener needs nothing of the sender: the store
announces, metrics counts, and neither imports the other.
"""

from blinker import Namespace

_signals = Namespace()

# sender: the kind ("job", "step", "task"); kwargs: source (None at creation), target.
# Accepted is sent only once the change's transaction has committed (app/store/history.py).
transition_accepted = _signals.signal("transition-accepted")
transition_refused = _signals.signal("transition-refused")
# sender: the fault's kind; sent each time a request is answered 503 for it.
storage_fault_answered = _signals.signal("storage-fault-answered")
# The reconciler (app/reconciler.py). lease_changed: sender the pid; kwargs held (bool).
# reconciler_passed: sender the pid; kwargs seconds, failed (bool), actions {kind: n}.
lease_changed = _signals.signal("reconciler-lease-changed")
reconciler_passed = _signals.signal("reconciler-passed")
