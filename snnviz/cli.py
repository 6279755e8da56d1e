"""Command line: ``snnviz train``, ``evaluate``, ``sweep``, ``compare``, ``params``,
``datasets``.

Exit codes: 0 success; 2 bad input (one-line message on stderr); 3 training stopped by a
NaN/Inf or a dead network (result.json and the last good checkpoint are kept); 130
interrupted (checkpoint saved: rerun with ``--resume``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from snnviz._version import __version__

EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED = 2, 3, 130


class UsageError(Exception):
    """Bad input from the command line: reported as one line, exit code 2."""


def _algorithms_help() -> str:
    from snnviz.algorithms import ALGORITHMS

    return "; ".join(f"{k}: {m.TITLE}" for k, m in ALGORITHMS.items())


def build_parser() -> argparse.ArgumentParser:
    from snnviz.data import DATASETS

    p = argparse.ArgumentParser(prog="snnviz", description="Spike-timing learning rules, "
                                "live views and full-dataset runs.")
    p.add_argument("--version", action="version", version=f"snnviz {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a network and write OUT/result.json",
                       description=f"Algorithms: {_algorithms_help()}. "
                       f"Datasets: {', '.join(DATASETS)}.")
    t.add_argument("--algorithm", required=True, help="one of the algorithms listed above")
    t.add_argument("--dataset", help=f"one of {', '.join(DATASETS)} (default mnist-mini; "
                   "on --resume the run's)")
    t.add_argument("--data-root", help="dataset folder (torchvision layout); default $SNNVIZ_DATA")
    t.add_argument("--train-size", type=int, help="first N of a fixed seeded permutation")
    t.add_argument("--val-size", type=int, help="validation samples held out from train "
                   "(default 10%% of train)")
    t.add_argument("--test-size", type=int, help="first N of a fixed seeded test permutation")
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int, help="samples per update; 1 = per-sample updates, "
                   "as in the TTFS papers (default: the algorithm's, 1 except proxy: 100)")
    t.add_argument("--seed", type=int, help="run seed (default 0; on --resume the run's)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a hyperparameter (repeatable); see `snnviz params ALGO`")
    t.add_argument("--out", help="output folder (default runs/<algorithm>-<dataset>-<time>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out "
                   "with its own settings; options given here must match them, except "
                   "--epochs, --device and --data-root")
    t.add_argument("--init-from", metavar="CHECKPOINT", help="start from the weights another "
                   "run selected on validation (its checkpoint.pt, or its folder), instead of a "
                   "fresh initialisation: fine-tuning with other settings (same algorithm and "
                   "architecture)")
    t.add_argument("--download", action="store_true", help="let torchvision download a "
                   "full data set missing from --data-root into the cache (needs internet)")
    t.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--threads", type=int, help="CPU threads of torch and of the compiled "
                   "kernels (numba) in this process (default: their own; with torchrun, per "
                   "process)")

    e = sub.add_parser("evaluate", help="evaluate a checkpoint; prints JSON")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--dataset", required=True)
    e.add_argument("--data-root")
    e.add_argument("--test-size", type=int)

    sub.add_parser("datasets", help="list dataset names")
    pp = sub.add_parser("params", help="list an algorithm's hyperparameters")
    pp.add_argument("algorithm")

    from snnviz.training import sweep

    s = sub.add_parser("sweep", help="train a grid of configurations, one process each, and "
                       "tabulate their result.json files", description=sweep.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--algorithm", required=True)
    s.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="values of one setting (repeatable); see above")
    s.add_argument("--points", metavar="FILE",
                   help="configurations one per line (KEY=VALUE words; '-' = defaults), "
                        "crossed with --grid; see above")
    s.add_argument("--out", required=True, help="sweep folder: one run folder per point, "
                   "logs/, results.md, results.csv")
    s.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    for action in t._actions:                  # every other train option, passed through
        if action.dest not in SWEEP_OWN:
            s._add_action(action)

    c = sub.add_parser("compare", help="one table of finished runs (with proxy's ANN and "
                       "conversion baselines when an ANN-mode proxy run is given)")
    c.add_argument("runs", nargs="+", metavar="RUN_DIR", help="folders of snnviz train runs")
    c.add_argument("--no-baselines", action="store_true", help="skip proxy's baselines")
    c.add_argument("--calib", type=int, default=2000, help="training samples for the "
                   "conversion's threshold balancing (default 2000)")
    c.add_argument("--percentile", type=float, default=99.9, help="balancing percentile")
    c.add_argument("--t-eval", type=int, help="longest SNN read-out (default 8 T)")
    c.add_argument("--csv", help="also write the table as CSV to this file")
    c.add_argument("--md", help="also write the markdown table to this file")
    return p


SWEEP_OWN = {"help", "algorithm", "out", "resume"}


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set takes KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


def _typed_options(args: argparse.Namespace) -> dict:
    """The typed config fields given as their own options (not ``--set``), by field name."""
    return {k: v for k, v in {
        "data_root": args.data_root, "train_size": args.train_size, "val_size": args.val_size,
        "test_size": args.test_size, "epochs": args.epochs, "batch_size": args.batch_size,
        "download": args.download or None,
    }.items() if v is not None}


def _train_config(args: argparse.Namespace):
    from snnviz.api import make_run_config

    typed = _typed_options(args)
    seed = 0 if args.seed is None else args.seed
    if seed < 0:
        raise UsageError(f"--seed must be >= 0, got {seed}")
    cfg = make_run_config(args.algorithm, args.dataset or "mnist-mini", seed=seed,
                          overrides=_parse_sets(args.set), **typed)
    # the trainer hands train.device to algorithms that run on torch devices (fit_config)
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train,
                                                              device=args.device))


def _prepare_out(args: argparse.Namespace, cfg) -> Path:
    if args.out:
        out = Path(args.out)
    elif args.resume:
        raise UsageError("--resume needs --out DIR (the folder of the run to continue)")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{cfg.algorithm}-{cfg.data.dataset}-{stamp}"
    ckpt = out / "checkpoint.pt"
    if args.resume and not ckpt.is_file():
        raise UsageError(f"--resume: no checkpoint at {ckpt}")
    if args.resume:      # partial temporary files of a killed run (the real files are whole)
        for stale in out.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
    if not args.resume and ckpt.exists():
        raise UsageError(f"{out} already holds a run; pass --resume to continue it or choose "
                         "another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except (OSError, ValueError) as e:          # ValueError: a NUL character in the path
        raise UsageError(f"cannot write to output folder {str(out)!r}: "
                         f"{getattr(e, 'strerror', None) or e}") from None
    return out


def _with_defaults(old: dict, cfg) -> dict:
    """A stored run config with the fields added to snnviz since it was written filled in
    with their defaults, so that a run from an older version resumes when nothing changed."""
    for section in ("train", "data", "algo"):
        obj = getattr(cfg, section, None)
        if obj is None or not isinstance(old.get(section), dict):
            continue
        defaults = {f.name: f.default for f in dataclasses.fields(obj)
                    if f.default is not dataclasses.MISSING}
        old[section] = {**defaults, **old[section]}
    return old


def _term_as_interrupt():
    """Make SIGTERM (``kill``, a batch scheduler's stop, systemd) end a run like Ctrl-C:
    checkpoint, then exit 130. Returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, handler)


def _given(args: argparse.Namespace, new: dict) -> set[tuple[str, str]]:
    """The settings spelled out on this command line, as ``(section, name)`` (``seed`` and
    ``algorithm`` as ``("", name)``)."""
    names = {*_typed_options(args), *_parse_sets(args.set)}
    if args.dataset is not None:
        names.add("dataset")
    given = {(part, k) for part in ("algo", "data", "train", "record") for k in names
             if k in new.get(part, {})}
    given |= {("", "algorithm"), ("train", "device")}
    if args.seed is not None:
        given.add(("", "seed"))
    return given


def _resume_state(out: Path, cfg, args: argparse.Namespace):
    """The checkpoint of the run in ``out`` and the configuration to continue it with: the
    run's own settings, except what this command line spells out. A spelled-out setting that
    differs from the run's is refused, unless it is ``--epochs``, ``--device`` or
    ``--data-root``. Settings left out keep the run's values, so a run resumes unchanged
    after a newer snnviz changed a default."""
    from snnviz.api import run_config_from_dict
    from snnviz.training.checkpoint import load_checkpoint

    state = load_checkpoint(out / "checkpoint.pt")
    old = _with_defaults(dict(state["config"]), cfg)
    new = cfg.to_dict()
    given = _given(args, new)
    if old.get("algorithm") == new["algorithm"]:     # else: refused below, as a change
        for part in ("algo", "data", "train", "record"):
            if isinstance(old.get(part), dict):
                new[part] = {k: (v if (part, k) in given or k not in old[part]
                                 else old[part][k]) for k, v in new[part].items()}
        if ("", "seed") not in given and "seed" in old:
            new["seed"] = old["seed"]
    # --epochs may change, and so may the device: a run started on a GPU can be finished on
    # a CPU and back (checkpoints load onto the CPU)
    old_train = dict(old.get("train", {}), epochs=None, device=None)
    new_train = dict(new["train"], epochs=None, device=None)
    # where the files came from may change (a moved or remounted data folder): the data is
    # named by the dataset, the sizes and the split seed, and its files are md5-checked
    old_data = dict(old.get("data", {}), download=None, data_root=None)
    new_data = dict(new["data"], download=None, data_root=None)
    same = (old.get("algorithm") == new["algorithm"] and old.get("seed") == new["seed"]
            and old_data == new_data and old_train == new_train)
    if same:
        from snnviz.training.trainer import FITTED

        fitted = dict.fromkeys(FITTED, None)      # set from the data and --device
        old_algo = {**old["algo"], **fitted}
        new_algo = {**new["algo"], **fitted}
        same = {k: tuple(v) if isinstance(v, list) else v for k, v in old_algo.items()} == \
            {k: tuple(v) if isinstance(v, list) else v for k, v in new_algo.items()}
    if not same:
        diff = _config_diff(old, new)
        raise UsageError(f"--resume with a changed configuration ({diff}); only --epochs "
                         "(and --device, --data-root) may change when resuming")
    return state, run_config_from_dict(new)


def _init_weights(path: str, cfg) -> dict:
    """``--init-from``: the best-on-validation weights of another run's checkpoint (on
    ``--resume`` the run's own checkpoint holds the weights and this is not read)."""
    from snnviz.training.checkpoint import CheckpointError, load_checkpoint

    ckpt = Path(path)
    if ckpt.is_dir():
        ckpt = ckpt / "checkpoint.pt"
    if not ckpt.is_file():
        raise UsageError(f"--init-from: no checkpoint at {ckpt}")
    try:
        st = load_checkpoint(ckpt)
    except CheckpointError as e:
        raise UsageError(f"--init-from: {e}") from None
    if st.get("algorithm") != cfg.algorithm:
        raise UsageError(f"--init-from: {ckpt} holds a {st.get('algorithm')!r} run, not "
                         f"{cfg.algorithm!r}")
    best = int(st.get("best_epoch", -1))
    key = "best_params" if best >= 0 else "params"
    return {"params": st[key], "from": {"checkpoint": str(ckpt), "weights": key,
                                        "epoch": best + 1 if best >= 0 else int(st["epoch"])}}


def _config_diff(old: dict, new: dict) -> str:
    diffs = []
    for part in ("algo", "data", "train"):
        for k, v in new.get(part, {}).items():
            ov = old.get(part, {}).get(k)
            ov = tuple(ov) if isinstance(ov, list) else ov
            if ov != v and k not in ("epochs", "n_in", "n_classes"):
                diffs.append(f"{k}: {ov!r} -> {v!r}")
    for k in ("algorithm", "seed"):
        if old.get(k) != new.get(k):
            diffs.append(f"{k}: {old.get(k)!r} -> {new.get(k)!r}")
    return ", ".join(diffs) or "unknown difference"


def versions() -> dict:
    import numpy
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "snnviz": __version__}


def set_threads(n: int | None) -> None:
    """``--threads N``: torch's intra-op threads and numba's threads (capped by the pool
    numba started with, ``NUMBA_NUM_THREADS``; a note says so)."""
    if n is None:
        return
    if n < 1:
        raise UsageError(f"--threads must be >= 1, got {n}")
    import numba
    import torch

    torch.set_num_threads(n)
    cap = int(numba.config.NUMBA_NUM_THREADS)
    if n > cap:
        print(f"snnviz: note: numba's thread pool has {cap} threads (NUMBA_NUM_THREADS); the "
              f"compiled kernels use {cap}", file=sys.stderr)
    numba.set_num_threads(min(n, cap))


def cmd_train(args: argparse.Namespace) -> int:
    from snnviz.training import distributed

    set_threads(args.threads)
    cfg = _train_config(args)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available on this machine")
        if cfg.algorithm in ("s4nn", "bs4nn"):
            print(f"snnviz: note: {cfg.algorithm} runs on compiled CPU kernels; --device cuda "
                  "has no effect for it", file=sys.stderr)
    ctx = distributed.init_from_env(args.device)
    try:
        return _train(args, cfg, ctx)
    except RuntimeError as e:
        if ctx is None:
            raise
        first = (str(e).splitlines() or [type(e).__name__])[0][:160]
        if _is_comm_error(e):
            print(f"snnviz: error: rank {ctx.rank}: lost contact with the other processes; "
                  f"the data-parallel run stopped ({first})", file=sys.stderr)
        else:
            print(f"snnviz: error: rank {ctx.rank} failed, the data-parallel run stopped: "
                  f"{first}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        distributed.shutdown()


def _is_comm_error(e: BaseException) -> bool:
    """A failed collective (peer gone, timeout), as opposed to an error in this rank."""
    import torch.distributed as dist

    text = str(e).lower()
    return isinstance(e, getattr(dist, "DistError", ())) or any(
        w in text for w in ("gloo", "nccl", "connection", "timed out", "timeout", "peer"))


def _train(args: argparse.Namespace, cfg, ctx) -> int:
    from snnviz.api import make_trainer
    from snnviz.runs import REPLAY_FILE, ReplayLog
    from snnviz.training.checkpoint import save_checkpoint, write_json_atomic
    from snnviz.training.events import BatchEnd, EpochEnd, RunEnd

    main_rank = ctx is None or ctx.is_main
    if main_rank:
        fresh = not args.resume and not (args.out and Path(args.out).exists())
        out = _prepare_out(args, cfg)
    elif args.out:
        fresh, out = False, Path(args.out)
    else:
        raise UsageError("data-parallel runs need --out DIR")
    try:
        state = None
        if args.resume:
            state, cfg = _resume_state(out, cfg, args)
        init = _init_weights(args.init_from, cfg) if args.init_from and not args.resume \
            else None
        replay = ReplayLog.load(out / REPLAY_FILE) if args.resume else ReplayLog()
        trainer = make_trainer(cfg, state=state, dist=ctx, init=init)
    except BaseException:
        if fresh and not any(out.iterdir()):     # bad data etc.: leave no empty run folder
            out.rmdir()
        raise
    if state is not None and trainer.finished:
        trainer.finished = False
        if trainer.epoch >= trainer.cfg.train.epochs:
            raise UsageError(f"the run in {out} already finished {trainer.epoch} epochs; "
                             "pass a larger --epochs to continue it")
    quiet = args.quiet or not main_rank
    bar = _progress(trainer, quiet)
    t_start = time.perf_counter()
    elapsed_before = float(state.get("seconds_total", 0.0)) if state else 0.0
    last_ckpt = time.monotonic()

    def checkpoint() -> None:
        if not main_rank:
            return
        st = trainer.state_dict()
        st["seconds_total"] = elapsed_before + time.perf_counter() - t_start
        save_checkpoint(st, out / "checkpoint.pt")

    end = None
    previous = _term_as_interrupt()
    try:
        try:
            for ev in trainer.steps():
                replay(ev)                  # per-epoch record for the dashboard's run library
                if isinstance(ev, BatchEnd):
                    bar.update(ev.n)
                    bar.set_postfix(epoch=ev.epoch + 1, acc=f"{ev.running_accuracy:.3f}",
                                    loss=f"{ev.loss:.4f}", refresh=False)
                    if time.monotonic() - last_ckpt > trainer.cfg.train.checkpoint_seconds:
                        checkpoint()
                        last_ckpt = time.monotonic()
                elif isinstance(ev, EpochEnd):
                    checkpoint()
                    if main_rank:
                        replay.save(out / REPLAY_FILE)
                    last_ckpt = time.monotonic()
                    val = "-" if ev.val_accuracy is None else f"{ev.val_accuracy:.4f}"
                    if not quiet:
                        bar.write(f"epoch {ev.epoch + 1}: train acc {ev.train_accuracy:.4f} "
                                  f"val acc {val} ({ev.seconds:.1f} s)", file=sys.stderr)
                elif isinstance(ev, RunEnd):
                    end = ev
        except KeyboardInterrupt:
            bar.close()
            try:
                checkpoint()
            except KeyboardInterrupt:      # a second Ctrl-C while saving: the last file is whole
                print(f"snnviz: interrupted twice; the previous checkpoint in {out} is kept, "
                      f"continue with --resume --out {out}", file=sys.stderr)
                return EXIT_INTERRUPTED
            print(f"snnviz: interrupted; checkpoint saved, continue with --resume --out {out}",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    bar.close()
    checkpoint()
    if not main_rank:
        return 0 if end.status == "ok" else EXIT_FAILED
    result = dict(end.summary)
    result["processes"] = ctx.world if ctx else 1
    result["seconds_total"] = elapsed_before + time.perf_counter() - t_start
    result["versions"] = versions()
    result["out"] = str(out)
    write_json_atomic(result, out / "result.json")
    if end.status != "ok":
        print(f"snnviz: error: {end.summary['message']} (details in {out}/result.json)",
              file=sys.stderr)
        return EXIT_FAILED
    if not quiet:
        print(f"test accuracy {result['test_accuracy']:.4f} ({result['eval_policy']}); "
              f"best epoch {result['best_epoch']}; wrote {out}/result.json", file=sys.stderr)
    return 0


def _progress(trainer, quiet: bool):
    from tqdm import tqdm

    total = trainer.cfg.train.epochs * len(trainer.y_train)
    done = trainer.epoch * len(trainer.y_train) + trainer.pos
    return tqdm(total=total, initial=done, unit="sample", unit_scale=True, disable=quiet,
                file=sys.stderr, dynamic_ncols=True, desc=trainer.cfg.algorithm)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from snnviz.api import make_trainer, run_config_from_dict
    from snnviz.training.checkpoint import load_checkpoint

    state = load_checkpoint(args.checkpoint)
    cfg = run_config_from_dict(state["config"])
    data = dataclasses.replace(cfg.data, dataset=args.dataset, data_root=args.data_root,
                               test_size=args.test_size)
    cfg = dataclasses.replace(cfg, data=data)
    trainer = make_trainer(cfg, state=state)
    ev = trainer.evaluate(trainer.best_params, "test")
    print(json.dumps({
        "algorithm": cfg.algorithm, "dataset": args.dataset, "checkpoint": args.checkpoint,
        "best_epoch": trainer.best_epoch + 1 if trainer.best_epoch >= 0 else None,
        "test_size": ev.n, "test_accuracy": ev.accuracy, "test_by_policy": ev.by_policy,
        "no_spike_rate": ev.no_spike_rate, "tie_rate": ev.tie_rate,
        "eval_policy": cfg.train.policy.name,
    }, indent=2))
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from snnviz.algorithms import get_algorithm
    from snnviz.config import DataConfig, RecordSpec, TrainConfig, field_specs

    for cls in (get_algorithm(args.algorithm).Config, TrainConfig, DataConfig, RecordSpec):
        print(f"[{cls.__name__}]")
        for f, _ in field_specs(cls):
            m = f.metadata
            extra = f" in {list(m['bounds'])}" if m.get("bounds") else ""
            extra += f" one of {list(m['choices'])}" if m.get("choices") else ""
            print(f"  {f.name} = {f.default!r}{extra}: {m.get('doc', '')}")
    return 0


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    return parser._subparsers._group_actions[0].choices[name]


def _passed_train_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """The train options given to ``snnviz sweep``, as ``snnviz train`` arguments."""
    train = _subparser(parser, "train")
    out = ["--algorithm", args.algorithm]
    for a in train._actions:
        if a.dest in SWEEP_OWN or not a.option_strings:
            continue
        v = getattr(args, a.dest, None)
        if v is None or v == a.default:
            continue
        flag = a.option_strings[-1]
        if isinstance(v, list):
            for item in v:
                out += [flag, str(item)]
        elif v is True:
            out.append(flag)
        else:
            out += [flag, str(v)]
    return out


def cmd_sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from snnviz.training import sweep

    if args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    try:
        grid = sweep.parse_grid(args.grid) if args.grid or not args.points else {}
        points = sweep.cross(sweep.read_points(args.points), grid) if args.points \
            else sweep.expand(grid)
    except ValueError as e:
        raise UsageError(str(e)) from None
    keys = list(dict.fromkeys(k for p in points for k in p))
    base = _passed_train_args(args, parser)
    train = _subparser(parser, "train")
    for p in points:                           # every configuration is valid before any run
        targs = train.parse_args(sweep.train_args(p, base))
        try:
            _train_config(targs)
        except (UsageError, ValueError, TypeError) as e:
            raise UsageError(f"grid point {sweep.run_name(p)}: {e}") from None
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create sweep folder {out}: {e.strerror or e}") from None
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)

    def log(msg: str) -> None:
        print(f"snnviz sweep: {msg}", file=sys.stderr)

    log(f"{len(points)} configurations in {out}, {args.jobs} at a time")
    try:
        codes = sweep.run_points(points, base, out, args.jobs, threads, log)
    except KeyboardInterrupt:
        log("interrupted; rerun the same command to continue")
        return EXIT_INTERRUPTED
    rows = sweep.collect(out, keys)
    print(sweep.write_tables(rows, out, keys), end="")
    bad = {k: v for k, v in codes.items() if v not in (0, EXIT_FAILED)}
    if bad:
        log(f"{len(bad)} run(s) did not finish: {', '.join(sorted(bad))}")
        return EXIT_FAILED
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from snnviz.training import report
    from snnviz.training.checkpoint import write_text_atomic

    try:
        rows = report.compare_table(args.runs, not args.no_baselines, args.calib,
                                    args.percentile, args.t_eval)
    except report.RunError as e:
        raise UsageError(str(e)) from None
    md = report.markdown(rows)
    if args.md:
        write_text_atomic(md, args.md)
    if args.csv:
        write_text_atomic(report.to_csv(rows), args.csv)
    print(md, end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from snnviz.data import DatasetError
    from snnviz.training.checkpoint import CheckpointError

    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "evaluate":
            return cmd_evaluate(args)
        if args.command == "params":
            return cmd_params(args)
        if args.command == "sweep":
            return cmd_sweep(args, parser)
        if args.command == "compare":
            return cmd_compare(args)
        from snnviz.data import DATASETS

        print("\n".join(DATASETS))
        return 0
    except (UsageError, DatasetError, CheckpointError, ValueError, TypeError) as e:
        print(f"snnviz: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as e:
        print(f"snnviz: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main(os.sys.argv[1:]))
