import os, json
from tests.frameworks.test_captured_frameworks import _send, _trace_ids
from tests.frameworks.test_captured_unseen import RUNS, STEPS
from pathlib import Path
import time

def test_probe(module_collector):
    body = Path(os.environ["PROBE"]).read_bytes()
    _send(module_collector, body)
    time.sleep(3)
    tr = _trace_ids(body)
    for r in module_collector.query(f"SELECT {RUNS} FROM agent_runs WHERE trace_id IN (SELECT unnest(?)) ORDER BY started_at", [tr]):
        print("RUN", r[1:])
        for s in module_collector.query(f"SELECT {STEPS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number", [r[0]]):
            print("   STEP", [str(x)[:100] for x in s])
    for s in module_collector.query(f"SELECT {STEPS} FROM agent_steps WHERE trace_id IN (SELECT unnest(?)) AND agent_run_id IS NULL", [tr]):
        print("LONE STEP", [str(x)[:100] for x in s])
