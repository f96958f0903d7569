"""Import benchmark: upload an N-row CSV and time it until every row is decided.

    .venv/bin/python bench/import_load.py --rows 100000 [--policy skip] [--duplicates 0.2]

`--duplicates` makes that share of rows repeat people created earlier in the same run, so
duplicate checks really find matches. Reports the upload time, the time until every row was
read into the pipeline (ingest) and until every row had its decision (done).
"""

import argparse
import asyncio
import csv
import io
import random
import time
import uuid

import httpx
from benchlib import save_result


def make_csv(rows: int, duplicates: float, run: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["שם פרטי", "שם משפחה", "טלפון", 'דוא"ל'])
    rng = random.Random(7)
    for i in range(rows):
        person = rng.randrange(max(1, i)) if i and rng.random() < duplicates else i
        writer.writerow(["נועה", f"{run}-{person}", f"054{person:07d}", f"imp.{run}.{person}@example.com"])
    return buffer.getvalue().encode("utf-8")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--policy", default="skip")
    parser.add_argument("--duplicates", type=float, default=0.0)
    parser.add_argument("--intake", default="http://127.0.0.1:8001")
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    body = make_csv(args.rows, args.duplicates, run)
    # The import channel's key: the upload, and the job's status (a key holder reads its own channel's imports).
    key = {"X-Channel-Key": "dev-import-key"}
    async with httpx.AsyncClient(timeout=600) as http:
        t0 = time.perf_counter()
        answer = await http.post(
            f"{args.intake}/v1/imports",
            headers=key,
            files={"file": ("bench.csv", body, "text/csv")},
            data={"policy": args.policy},
        )
        answer.raise_for_status()
        uploaded = time.perf_counter() - t0
        job_id = answer.json()["id"]
        ingested = None
        while time.perf_counter() - t0 < args.timeout:
            job = (await http.get(f"{args.intake}/v1/imports/{job_id}", headers=key)).raise_for_status().json()
            if ingested is None and job["rows_read"] >= args.rows:
                ingested = time.perf_counter() - t0
            if job["state"] == "done":
                break
            await asyncio.sleep(0.5)
        done = time.perf_counter() - t0
    result = {
        "rows": args.rows,
        "policy": args.policy,
        "duplicates": args.duplicates,
        "file_mb": round(len(body) / 1e6, 1),
        "upload_s": round(uploaded, 2),
        "ingested_s": round(ingested, 1) if ingested else None,
        "done_s": round(done, 1),
        "state": job["state"],
        "counts": {k: job[k] for k in ("rows_total", "rows_done", "created", "updated", "skipped", "failed")},
    }
    save_result("import", result)


if __name__ == "__main__":
    asyncio.run(main())
