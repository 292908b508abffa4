"""Who may make the robot move: arming as an explicit state machine (pure Python, no DDS, no numpy).

States:
    DISARMED  at start-up, before the first successful arm: nothing is published
    ARMED     policy targets pass through the safety filter to the robot
    ESTOPPED  the operator said stop (/vla/estop true): brake to a stop, then publish nothing
    FAULTED   a watchdog, stale data or a loop stall stopped it: brake to a stop, then publish nothing

The rules, enforced here and nowhere else:
1. Nothing arms on its own. The only way into ARMED is an arm request (/vla/estop false, or
   `arm_on_start` once at start-up) whose attempt succeeds.
2. A request is consumed by its attempt, success or refusal. A refused request is never retried:
   the operator sends a new one.
3. An e-stop clears any pending request and wins over every state. Leaving ESTOPPED needs a request
   received after the latest e-stop.
4. A fault never downgrades an e-stop: a fault while ESTOPPED leaves it ESTOPPED.
5. A request while ARMED is dropped (it must not re-arm after a later fault).
6. The operator's request is attempted at once (refused when the joint state is not fresh); the
   start-up request waits for the first fresh joint state, then is attempted once.

The safety layer (vla/bridge/safety.py) holds one `Arming`, decides whether an attempt is refused
(no fresh state, pose outside the limits, still braking) and does the braking; the runner feeds it
the operator's messages in the order they arrived. tests/bridge/test_arming_stateful.py checks these
rules under random interleavings.
"""

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    DISARMED = "disarmed"
    ARMED = "armed"
    ESTOPPED = "estopped"
    FAULTED = "faulted"


class Request(StrEnum):
    START = "start"  # arm_on_start: waits for the first fresh joint state
    OPERATOR = "operator"  # /vla/estop false (or Runner.request_arm): attempted at once


@dataclass
class Arming:
    state: State = State.DISARMED
    pending: Request | None = None
    fault: str | None = None  # why the bridge last left ARMED; cleared by the next successful arm

    def request(self, kind: Request = Request.OPERATOR) -> bool:
        """An arm request arrived. False when dropped (already ARMED, rule 5)."""
        if self.state is State.ARMED:
            return False
        self.pending = kind
        return True

    def estop(self) -> bool:
        """The operator's stop (rule 3). True when this changed the state (not already e-stopped)."""
        changed = self.state is not State.ESTOPPED
        self.state, self.pending = State.ESTOPPED, None
        self.fault = self.fault or "estop"
        return changed

    def trip(self, reason: str) -> bool:
        """A fault. Only ARMED is left (rule 4); True when it was."""
        if self.state is not State.ARMED:
            return False
        self.state, self.fault = State.FAULTED, reason
        return True

    def due(self, fresh_state: bool) -> bool:
        """Whether the pending request is to be attempted now (rule 6)."""
        return self.pending is Request.OPERATOR or (self.pending is Request.START and fresh_state)

    def resolve(self, refusal: str | None) -> bool:
        """Consumes the pending request (rule 2): ARMED when `refusal` is None. True when armed."""
        if self.pending is None:
            raise RuntimeError("Arming.resolve() without a pending request; check due() first")
        self.pending = None
        if refusal is not None:
            return False
        self.state, self.fault = State.ARMED, None
        return True
