"""Ray Data classify vs the local classify job: rows/s and overhead on the same log.

The bundled sample log (``data/samples/complaints.csv``) repeated to ``--rows`` rows (unique
ids) is classified three times with the same model: the local job (:func:`batch.classify.classify_log`),
then the Ray job (:func:`batch.ray_classify.classify_log_ray`) with 1 and with 2 actors on a local
Ray cluster started once beforehand (its start-up, reported separately, is paid once per
cluster, not per job). The model is a TF-IDF + logistic-regression classifier fitted on the
sample's own labels, so the figures measure the job machinery, not a transformer.

    PYTHONPATH=. python bench/ray_throughput.py --rows 3000 --chunk-size 500
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def fit_model(sample: pd.DataFrame, where: Path) -> Path:
    from scipy.sparse import hstack
    from sklearn.linear_model import LogisticRegression

    from nlp.classifier import ModelInfo
    from nlp.text import join_title_text
    from nlp.tfidf import TfidfClassifier, TfidfFeatures

    texts = [join_title_text(t, x) for t, x in zip(sample["title"], sample["text"], strict=True)]
    labels = sorted(sample["label"].unique())
    features = TfidfFeatures(min_df=1)
    vecs = TfidfClassifier.make_vectorizers(features)
    x = hstack([v.fit_transform(texts) for v in vecs.values()]).tocsr()
    clf = LogisticRegression(max_iter=300).fit(x, [labels.index(y) for y in sample["label"]])
    model = TfidfClassifier(
        ModelInfo("tfidf", labels), features, vecs, clf.coef_.T.copy(order="F").T, clf.intercept_
    )
    model.info.version = "bench-tfidf"
    return model.save(where / "model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import ray

    from batch.classify import ClassifyConfig, classify_log
    from batch.ray_classify import RayClassifyConfig, classify_log_ray

    sample = pd.read_csv(REPO / "data" / "samples" / "complaints.csv", dtype=str)
    with tempfile.TemporaryDirectory(prefix="raybench-", dir="/tmp") as tmp:
        work = Path(tmp)
        model = fit_model(sample, work)
        reps = -(-args.rows // len(sample))
        log = pd.concat([sample] * reps, ignore_index=True).head(args.rows)
        log["id"] = [f"B{i:07d}" for i in range(len(log))]
        src = work / "log.csv"
        log.to_csv(src, index=False)
        common = {"input": str(src), "model": str(model), "chunk_size": args.chunk_size}

        results: dict[str, dict[str, float]] = {}
        t = time.perf_counter()
        classify_log(ClassifyConfig(output=str(work / "local.csv"), **common))
        results["local"] = {"seconds": time.perf_counter() - t}

        t = time.perf_counter()
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _temp_dir=str(work / "ray"),
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}},
        )
        ray_start = time.perf_counter() - t
        try:
            for actors in (1, 2):
                out = work / f"ray{actors}.csv"
                t = time.perf_counter()
                classify_log_ray(RayClassifyConfig(output=str(out), actors=actors, **common))
                results[f"ray, {actors} actor(s)"] = {"seconds": time.perf_counter() - t}
                same = (work / "local.csv").read_bytes() == out.read_bytes()
                results[f"ray, {actors} actor(s)"]["identical_output"] = same
        finally:
            ray.shutdown()
        base = results["local"]["seconds"]
        for row in results.values():
            row["rows_per_s"] = round(args.rows / row["seconds"], 1)
            row["overhead_pct"] = round(100 * (row["seconds"] / base - 1), 1)
            row["seconds"] = round(row["seconds"], 2)
        report = {
            "rows": args.rows,
            "chunk_size": args.chunk_size,
            "ray_init_s": round(ray_start, 2),
            **results,
        }
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
