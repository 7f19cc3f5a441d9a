"""A matcher policy in Python: "the fewest GPUs that hold the weights".

It implements `aim:policy/matcher` (wit/aim-policy.wit) and is built into a component with componentize-py (see
README.md next to this file). Its rules, in order; a candidate is refused with the first rule it breaks:

1. it is Available (a template still discovering or failed cannot run yet);
2. it has what the service asked for: the overrides' metric, precision, GPU model and GPU count, where given;
3. its weights fit: the sum of its model sources is at most 90 % of the memory of its GPUs (MI300X 192 GB,
   MI325X 256 GB, MI355X 288 GB per GPU; other models are not judged on memory);
4. the cluster can host a replica: some node has at least that many GPUs of that model (when the inventory is
   known).

Among accepted candidates the score prefers fewer GPUs (100 points per GPU fewer), then a namespace template over
a cluster one (10 points); ties keep the first. With none accepted: when the service gave overrides, derive a
template with them; otherwise nothing can serve it.
"""

from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.matcher import (
    Candidate,
    Decision_Derive,
    Decision_None_,
    Decision_UseCandidate,
    GpuPool,
    MatchRequest,
    MatchResult,
    Scope,
    TemplateState,
    Verdict,
)
from wit_world.imports.types import PolicyError_InvalidInput, RuntimeParameters

GIB = 1 << 30
MEMORY_PER_GPU = {"MI300X": 192 * 10**9, "MI325X": 256 * 10**9, "MI355X": 288 * 10**9}
USABLE = 0.9


def refusal(c: Candidate, wanted: RuntimeParameters, inventory: Optional[List[GpuPool]]) -> Optional[str]:
    """Why `c` cannot serve the request, or None when it can."""
    if c.state != TemplateState.AVAILABLE:
        return f"not available yet ({c.state.name.lower()})"
    have = c.parameters
    if wanted.metric is not None and have.metric != wanted.metric:
        return f"optimises for {name(have.metric)}, not {name(wanted.metric)}"
    if wanted.precision is not None and have.precision != wanted.precision:
        return f"runs {name(have.precision)}, not {name(wanted.precision)}"
    if wanted.gpu is not None:
        if have.gpu is None:
            return "names no GPU"
        if wanted.gpu.model and have.gpu.model.upper() != wanted.gpu.model.upper():
            return f"runs on {have.gpu.model}, not {wanted.gpu.model}"
        if have.gpu.count != wanted.gpu.count:
            return f"uses {have.gpu.count} GPUs, not {wanted.gpu.count}"
    if have.gpu is not None:
        per_gpu = MEMORY_PER_GPU.get(have.gpu.model.upper())
        weights = sum(size or 0 for size in c.model_source_sizes)
        if per_gpu is not None and weights > USABLE * per_gpu * have.gpu.count:
            return (
                f"{weights / GIB:.1f} GiB of weights do not fit in {have.gpu.count} x {have.gpu.model} "
                f"({USABLE * per_gpu * have.gpu.count / GIB:.1f} GiB usable)"
            )
        if inventory is not None:
            pool = next((p for p in inventory if p.model.upper() == have.gpu.model.upper()), None)
            if pool is None:
                return f"no {have.gpu.model} in the cluster"
            if pool.max_per_node < have.gpu.count:
                return f"no node has {have.gpu.count} {have.gpu.model} (at most {pool.max_per_node})"
    return None


def name(value) -> str:
    return "unspecified" if value is None else value.name.lower()


def score(c: Candidate) -> int:
    gpus = c.parameters.gpu.count if c.parameters.gpu is not None else 1
    return -100 * gpus + (10 if c.scope == Scope.NAMESPACE else 0)


def overrides_given(wanted: RuntimeParameters) -> bool:
    return wanted.metric is not None or wanted.precision is not None or wanted.gpu is not None


class Matcher(exports.Matcher):
    def match_template(self, request: MatchRequest) -> MatchResult:
        if request.wanted.gpu is not None and request.wanted.gpu.count < 1:
            raise Err(PolicyError_InvalidInput("the overrides ask for fewer than one GPU"))
        verdicts = []
        best = None
        for i, c in enumerate(request.candidates):
            why = refusal(c, request.wanted, request.inventory)
            s = score(c) if why is None else 0
            verdicts.append(Verdict(i, why is None, s, why or f"fits; score {s}"))
            if why is None and (best is None or s > verdicts[best].score):
                best = i
        if best is not None:
            chosen = request.candidates[best]
            return MatchResult(
                Decision_UseCandidate(best),
                f"{chosen.name}: the fewest GPUs that hold the weights",
                verdicts,
            )
        if overrides_given(request.wanted):
            return MatchResult(
                Decision_Derive(request.wanted),
                "no template has what the overrides ask for; deriving one",
                verdicts,
            )
        return MatchResult(Decision_None_(), "no template of this model can run here", verdicts)
