"""The reference proof-of-work search (upstream-protocol.md section 4) in Python's standard library, timed per seed.

Reads {"config": [...], "difficulty": "...", "seeds": [...]} on stdin; writes one JSON line per seed:
{"seed", "ms", "solved", "iterations"}.
"""
import base64
import hashlib
import json
import sys
import time


def solve(seed, difficulty, config):
    target = bytes.fromhex(difficulty)
    width = len(difficulty)
    seed_bytes = seed.encode()
    for i in range(500000):
        config[3] = i
        config[9] = i >> 1
        text = json.dumps(config, separators=(",", ":"), ensure_ascii=False)
        answer = base64.b64encode(text.encode())
        digest = hashlib.sha3_512(seed_bytes + answer).digest()
        if digest[:width] <= target:
            return True, i
    return False, 500000


def main():
    job = json.load(sys.stdin)
    for seed in job["seeds"]:
        started = time.perf_counter()
        solved, iterations = solve(seed, job["difficulty"], list(job["config"]))
        ms = (time.perf_counter() - started) * 1000
        print(json.dumps({"seed": seed, "ms": ms, "solved": solved, "iterations": iterations}), flush=True)


main()
