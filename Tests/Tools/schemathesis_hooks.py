"""Schemathesis hooks for the GuruRMM contract test (Tests/EndToEndTests/SchemathesisTests.swift).

Four things the fuzzer cannot know by itself:

* Real ids. Path parameters are generated as usual, and in the fuzzing phase a real id of the
  right kind is drawn instead some of the time (from GURURMM_FUZZ_* variables the test sets), so
  operations are also exercised on things that exist: an online agent, a finished batch, a command.
  Destructive operations only ever get a sacrificial id: agent revocation the agent in
  GURURMM_FUZZ_REVOCABLE_AGENT, token revocation GURURMM_FUZZ_SPARE_TOKEN (never the token the
  fuzzer authenticates with), enrollment token revocation GURURMM_FUZZ_SPARE_ENROLLMENT_TOKEN.
* What the run needs. A stateful step may feed `DELETE /api/v1/tokens/{id}` an id from the token
  list, or revoke an agent from the agent list; ids in GURURMM_FUZZ_PROTECTED_TOKENS and
  GURURMM_FUZZ_PROTECTED_AGENTS are swapped for the sacrificial ones just before the request.
* No diagnosis of a simulated agent. The fleet simulator does not answer link probes, so
  `POST /api/v1/agents/{agent}/diagnose` on one waits out every probe (~30 s): it says nothing
  about the contract and, on a loaded machine, nears the request timeout. Such a case (a real id
  drawn here, or an id or name a stateful step took from the agent list; all listed in
  GURURMM_FUZZ_SIM_AGENTS) names an agent that is not enrolled instead, and gets its 404 at once.
  Diagnosis of real agents is tested end to end (LinkHealthTests).
* Short long-polls. `wait` may be up to 60 s; a valid `wait` is cut to at most 0.2 s so a run
  takes minutes, not hours. An invalid one (negative, over 60, not a number) is left as
  generated: the server must still refuse it.
"""

import math
import os

import schemathesis
from hypothesis import strategies as st

MAX_WAIT = 0.2


def _ids(name):
    return [value for value in os.environ.get(name, "").split(",") if value]


UNENROLLED_AGENT = "a_not_enrolled"


def _real_ids(method, path):
    """The path parameter's name and the real ids that may stand in for it; no ids: left generated."""
    if path.endswith("/diagnose"):
        return "agent", []
    if path.endswith("/revoke") and path.startswith("/api/v1/agents/"):
        return "agent", _ids("GURURMM_FUZZ_REVOCABLE_AGENT")
    if path.startswith("/api/v1/agents/"):
        return "agent", _ids("GURURMM_FUZZ_AGENTS")
    if path.startswith("/api/v1/commands/"):
        return "id", _ids("GURURMM_FUZZ_COMMANDS")
    if path.startswith("/api/v1/batches/"):
        return "id", _ids("GURURMM_FUZZ_BATCHES")
    if path.startswith("/api/v1/tokens/"):
        return "id", _ids("GURURMM_FUZZ_SPARE_TOKEN")
    if path.startswith("/api/v1/enrollment-tokens/"):
        return "id", _ids("GURURMM_FUZZ_SPARE_ENROLLMENT_TOKEN")
    return None, []


@schemathesis.hook
def before_generate_path_parameters(context, strategy):
    operation = context.operation
    if operation is None:
        return strategy
    name, ids = _real_ids(operation.method.upper(), operation.path)
    if not ids:
        return strategy
    real = st.fixed_dictionaries({name: st.sampled_from(ids)})
    return st.one_of(strategy, real)


def _short_wait(value):
    """`value` cut to MAX_WAIT when it is a valid wait (a number in 0...60), else unchanged."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    if isinstance(value, bool) or not math.isfinite(number) or not 0 <= number <= 60:
        return value
    if number <= MAX_WAIT:
        return value
    return str(MAX_WAIT) if isinstance(value, str) else MAX_WAIT


def _protect(case):
    """Points a revocation at its sacrificial id when the case (often a stateful link fed by a list)
    names something the run still needs: its own tokens, or the agents the other operations use;
    and a diagnosis of a simulated agent at an agent that is not enrolled."""
    path = case.operation.path
    method = case.operation.method.upper()
    params = case.path_parameters or {}
    if method == "DELETE" and path == "/api/v1/tokens/{id}":
        spare = _ids("GURURMM_FUZZ_SPARE_TOKEN")
        if spare and params.get("id") in _ids("GURURMM_FUZZ_PROTECTED_TOKENS"):
            params["id"] = spare[0]
    if method == "POST" and path == "/api/v1/agents/{agent}/diagnose":
        if params.get("agent") in _ids("GURURMM_FUZZ_SIM_AGENTS"):
            params["agent"] = UNENROLLED_AGENT
    if method == "POST" and path == "/api/v1/agents/{agent}/revoke":
        spare = _ids("GURURMM_FUZZ_REVOCABLE_AGENT")
        if spare and params.get("agent") in _ids("GURURMM_FUZZ_PROTECTED_AGENTS"):
            params["agent"] = spare[0]


@schemathesis.hook
def before_call(context, case, kwargs):
    # Runs before every request of every phase, stateful steps included.
    _protect(case)
    if case.query and "wait" in case.query:
        wait = case.query["wait"]
        if isinstance(wait, list):
            case.query["wait"] = [_short_wait(item) for item in wait]
        else:
            case.query["wait"] = _short_wait(wait)
