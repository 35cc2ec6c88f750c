"""Training (Paper A §3.2): early stopping, loss, validation split, cache and determinism."""
import math
from pathlib import Path

import pytest
import torch

from kedit_utils.book.profiles import TRAINING
from kedit_utils.core import cache
from kedit_utils.core.validation import ParameterError
from kedit_utils.kg import trained_models
from kedit_utils.kg import training
from kedit_utils.kg.corpus import alias_corpus
from kedit_utils.kg.gpt2 import ModelSpec, count_parameters, gpt2_from_scratch
from kedit_utils.kg.graphs import GraphSpec, build_graph
from kedit_utils.kg.training import (
    EarlyStopper,
    TrainConfig,
    estimated_all_accuracy,
    load_or_train,
    object_loss,
    replay_early_stop,
    train_model,
    training_inputs,
    validation_mask,
)

TINY_GRAPH = GraphSpec(kind="er", n_entities=8, n_relations=3, ba_m=1, seed=0)
TINY_MODEL = ModelSpec(n_layers=1, n_embd=16, n_head=2)
TINY_CFG = TrainConfig(lr=3e-3, batch_size=32, max_epochs=3, warmup=2, eval_every=4, patience=50, eval_from=0.0)


@pytest.fixture(scope="module")
def corpus():
    return alias_corpus(build_graph(TINY_GRAPH), 5, 0.2, 0)


# ----------------------------------------------------------------------------- early stop


def test_stops_when_both_reach_target():
    train = [0.2, 0.6, 0.95, 0.995, 0.999, 1.0]
    est = [0.2, 0.5, 0.93, 0.985, 0.992, 0.999]
    stop, best, reason = replay_early_stop(train, est, target=0.99, patience=3)
    assert (stop, best, reason) == (4, 4, "target")


def test_held_out_must_reach_target_not_just_train():
    train = [0.5, 0.99, 0.999, 1.0, 1.0, 1.0, 1.0]
    est = [0.5, 0.95, 0.97, 0.989, 0.991, 0.98, 0.97]
    stop, best, reason = replay_early_stop(train, est, target=0.99, patience=5)
    assert (stop, best, reason) == (4, 4, "target")


def test_plateau_keeps_best_held_out_checkpoint():
    # training accuracy keeps rising while the held-out estimate peaks and drifts down
    train = [0.5, 0.9, 0.97, 0.985, 0.99, 0.995, 0.999, 1.0, 1.0]
    est = [0.5, 0.88, 0.95, 0.975, 0.978, 0.97, 0.96, 0.95, 0.94]
    stop, best, reason = replay_early_stop(train, est, target=0.99, patience=4)
    assert reason == "plateau" and best == 4 and stop == 8


def test_best_key_is_the_worse_of_the_two_then_estimate():
    s = EarlyStopper(target=0.99, patience=10)
    s.update(0.80, 0.985)  # min .80
    s.update(0.985, 0.95)  # min .95 -> better
    assert s.best_index == 1
    s.update(0.97, 0.97)  # min .97 -> better
    assert s.best_index == 2 and s.improved
    s.update(0.98, 0.97)  # min .97, same est -> tie: earliest kept
    assert s.best_index == 2 and not s.improved
    assert s.stop_reason is None


def test_never_reaching_gives_no_reason():
    stop, best, reason = replay_early_stop([0.1, 0.2, 0.3], [0.1, 0.2, 0.3], patience=5)
    assert reason is None and best == 2 and stop == 2


# ----------------------------------------------------------------------------- pieces


def test_validation_mask_is_seeded_half_of_unseen(corpus):
    m1 = validation_mask(corpus, 0.5, seed=3)
    m2 = validation_mask(corpus, 0.5, seed=3)
    m3 = validation_mask(corpus, 0.5, seed=4)
    n_unseen = int((~corpus.prompt_seen).sum())
    assert (m1 == m2).all() and not (m1 == m3).all()
    assert not (m1 & corpus.prompt_seen).any()
    assert m1.sum() == round(0.5 * n_unseen)


def test_estimated_all_accuracy(corpus):
    val = validation_mask(corpus, 0.5, seed=0)
    seen = corpus.prompt_seen
    correct = seen | val  # all seen right, validation right, test wrong
    assert estimated_all_accuracy(correct, corpus, val) == pytest.approx(1.0)
    correct = seen.copy()  # validation wrong
    assert estimated_all_accuracy(correct, corpus, val) == pytest.approx(seen.mean())


def test_object_losses():
    from kedit_utils.kg.vocabulary import Vocabulary

    vocab = Vocabulary(4, 2, 3)
    logits = torch.zeros(2, vocab.size)
    objects = torch.as_tensor([vocab.entity_ids[1, 0], vocab.entity_ids[2, 2]])
    assert object_loss(logits, objects, None).item() == pytest.approx(math.log(vocab.size))
    table = training._alias_table(vocab, torch.device("cpu"))
    assert table[vocab.entity_ids[2, 2]].tolist() == vocab.entity_ids[2].tolist()
    # all mass spread on the object's aliases: spread loss log(3), sampled loss log(3) too
    logits[:, vocab.entity_ids[1]] = 50.0
    logits[1] = 0.0
    logits[1, vocab.entity_ids[2]] = 50.0
    assert object_loss(logits, objects, table).item() == pytest.approx(math.log(3), abs=1e-4)
    # mass on one alias only: sampled loss ~0 for that alias, spread loss large
    peaked = torch.zeros(1, vocab.size)
    peaked[0, vocab.entity_ids[1, 0]] = 50.0
    assert object_loss(peaked, objects[:1], None).item() < 1e-4
    assert object_loss(peaked, objects[:1], table).item() > 10


def test_parameters_validated_up_front():
    with pytest.raises(ParameterError):
        TrainConfig(objective="full")
    with pytest.raises(ParameterError):
        TrainConfig(lr=0)
    with pytest.raises(ParameterError):
        ModelSpec(n_embd=10, n_head=3)
    with pytest.raises(ParameterError):
        ModelSpec(n_positions=2)
    with pytest.raises(ParameterError):
        load_or_train(TINY_GRAPH, sample_fraction=0.0)
    with pytest.raises(ParameterError):
        load_or_train(TINY_GRAPH, device="tpu")


def test_model_from_scratch(corpus):
    m1 = gpt2_from_scratch(corpus.vocab, TINY_MODEL, seed=1)
    m2 = gpt2_from_scratch(corpus.vocab, TINY_MODEL, seed=1)
    m3 = gpt2_from_scratch(corpus.vocab, TINY_MODEL, seed=2)
    assert m1.config.vocab_size == corpus.vocab.size and m1.config.pad_token_id == 0
    assert m1.config.eos_token_id == 0 and m1.config.n_layer == 1
    w1, w3 = m1.transformer.wte.weight, m3.transformer.wte.weight
    assert torch.equal(w1, m2.transformer.wte.weight) and not torch.equal(w1, w3)
    assert m1.lm_head.weight.data_ptr() == w1.data_ptr()  # tied
    assert count_parameters(m1) > 0


# ----------------------------------------------------------------------------- training


def _state_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_is_deterministic_for_a_seed(corpus):
    r1 = train_model(corpus, TINY_MODEL, TINY_CFG, seed=5, device="cpu", progress=False)
    r2 = train_model(corpus, TINY_MODEL, TINY_CFG, seed=5, device="cpu", progress=False)
    r3 = train_model(corpus, TINY_MODEL, TINY_CFG, seed=6, device="cpu", progress=False)
    assert _state_equal(r1.model, r2.model)
    assert not _state_equal(r1.model, r3.model)
    strip = lambda log: [{k: v for k, v in row.items() if "seconds" not in k} for row in log]  # noqa: E731
    assert strip(r1.log) == strip(r2.log)
    row = r1.log[0]
    for key in ("step", "epoch", "loss", "acc_train", "acc_all", "acc_val", "acc_test", "acc_est", "seconds"):
        assert key in row
    assert r1.report["stop_reason"] in ("target", "plateau", "max_epochs")
    assert r1.epochs <= TINY_CFG.max_epochs


def test_cache_key_covers_every_input():
    base = training_inputs(TINY_GRAPH, 5, 0.2, TINY_MODEL, TINY_CFG, 0, "cpu")
    key = cache.cache_key(base, "v1")
    assert cache.cache_key(training_inputs(TINY_GRAPH, 5, 0.2, TINY_MODEL, TINY_CFG, 0, "cpu"), "v1") == key
    variants = [
        training_inputs(GraphSpec(kind="ba", n_entities=8, n_relations=3, ba_m=1), 5, 0.2, TINY_MODEL, TINY_CFG, 0, "cpu"),
        training_inputs(TINY_GRAPH, 4, 0.2, TINY_MODEL, TINY_CFG, 0, "cpu"),
        training_inputs(TINY_GRAPH, 5, 0.02, TINY_MODEL, TINY_CFG, 0, "cpu"),
        training_inputs(TINY_GRAPH, 5, 0.2, ModelSpec(n_layers=2, n_embd=16, n_head=2), TINY_CFG, 0, "cpu"),
        training_inputs(TINY_GRAPH, 5, 0.2, TINY_MODEL, TrainConfig(lr=1e-2), 0, "cpu"),
        training_inputs(TINY_GRAPH, 5, 0.2, TINY_MODEL, TINY_CFG, 1, "cpu"),
        training_inputs(TINY_GRAPH, 5, 0.2, TINY_MODEL, TINY_CFG, 0, "cuda"),
    ]
    keys = {cache.cache_key(v, "v1") for v in variants}
    assert len(keys) == len(variants) and key not in keys
    assert cache.cache_key(base, "v2") != key


def test_load_or_train_caches_and_reloads_equal_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    first = load_or_train(TINY_GRAPH, 5, 0.2, TINY_MODEL, TINY_CFG, seed=0, device="cpu", progress=False)
    folder = Path(first.path)
    assert folder.is_relative_to(tmp_path) and cache.is_complete(folder)
    files = {p.name for p in folder.rglob("*") if p.is_file()}
    assert "model.safetensors" in files and "train_log.json" in files and "vocab.json" in files
    assert "tokenizer.json" in files
    assert not any(name.endswith((".bin", ".pt", ".pth", ".pkl")) for name in files)

    # the same inputs load from the cache: no training happens
    def no_training(*a, **k):
        raise AssertionError("trained again instead of loading")

    monkeypatch.setattr(training, "train_model", no_training)
    again = load_or_train(TINY_GRAPH, 5, 0.2, TINY_MODEL, TINY_CFG, seed=0, device="cpu", progress=False)
    assert again.path == first.path
    assert _state_equal(first.model, again.model)
    assert again.report == first.report and again.log == first.log
    assert (again.val_mask == first.val_mask).all()
    # a reloaded model gives the same accuracy as the freshly trained one did
    from kedit_utils.kg.alias_accuracy import accuracy_report

    rep = accuracy_report(again.model, again.corpus, again.val_mask)
    assert rep["acc_all"] == pytest.approx(first.report["acc_all"])

    # a changed parameter is a different artifact (and would train)
    with pytest.raises(AssertionError, match="trained again"):
        load_or_train(TINY_GRAPH, 5, 0.2, TINY_MODEL, TrainConfig(lr=2e-3, max_epochs=1), seed=0, device="cpu", progress=False)
    assert len([p for p in (tmp_path / training.ARTIFACT_KIND).iterdir() if not p.name.startswith(".")]) == 1


def test_eval_from_skips_full_evaluations_early(corpus):
    cfg = TrainConfig(lr=3e-3, batch_size=32, max_epochs=4, warmup=2, eval_every=2, patience=50, eval_from=0.5)
    tr = train_model(corpus, TINY_MODEL, cfg, seed=0, device="cpu", progress=False)
    skipped = [row for row in tr.log if "acc_all" not in row]
    full = [row for row in tr.log if "acc_all" in row]
    assert full, "the last step always evaluates"
    assert all(row["acc_batch"] < 0.5 for row in skipped)
    assert all(row["acc_batch"] >= 0.5 or row["step"] == tr.report["steps"] for row in full)
    assert tr.report["best_step"] in [row["step"] for row in full]


def test_training_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kedit_utils.book.figures.training import plot_accuracies, plot_metric_by_model, plot_training_curves

    log = [
        {"step": 10, "loss": 5.0, "acc_batch": 0.1},
        {"step": 20, "loss": 3.0, "acc_batch": 0.6, "acc_train": 0.7, "acc_all": 0.65, "acc_val": 0.6, "acc_test": 0.6},
        {"step": 30, "loss": 2.0, "acc_batch": 0.95, "acc_train": 0.995, "acc_all": 0.993, "acc_val": 0.99, "acc_test": 0.99},
    ]
    fig = plot_training_curves(log, best_step=30, title="ER 6L")
    assert len(fig.axes) == 2
    plt.close(fig)
    fig, ax = plt.subplots()
    assert plot_accuracies(log, ax=ax) is fig
    assert plot_metric_by_model({"ER 6L": log, "BA 6L": log}, ax=ax) is fig
    plt.close(fig)


@pytest.mark.parametrize("name", sorted(TRAINING))
def test_training_profiles_build_valid_graphs_and_configs(name):
    params = {**TRAINING[name], "seed": 0, "device": "cpu"}
    assert params["layers"] == [6, 12, 24]
    lrs = [trained_models.train_config(params, d).lr for d in params["layers"]]
    assert lrs == sorted(lrs, reverse=True)  # deeper never gets a larger rate
    assert trained_models.train_config(params, 6).lr == params["lr"]
    for kind in ("er", "ba"):
        kg = build_graph(trained_models.graph_spec(params, kind))  # raises if a subject needs > |R| relations
        assert kg.out_degree.max() <= params["n_relations"]
    assert trained_models.model_spec(params, 24).n_layers == 24


def test_a_fixed_epoch_training_runs_every_epoch_and_keeps_the_last_weights(corpus):
    from dataclasses import replace

    cfg = replace(TINY_CFG, target_accuracy=0.01, stop="epochs")  # the target would stop it at once
    tr = train_model(corpus, TINY_MODEL, cfg, seed=0, device="cpu", progress=False)
    assert tr.epochs == pytest.approx(cfg.max_epochs) and tr.report["stop_reason"] == "max_epochs"
    assert tr.report["best_step"] == tr.log[-1]["step"]  # the reported accuracies are the last weights'
    assert "stop" not in TINY_CFG.to_dict() and cfg.to_dict()["stop"] == "epochs"  # old cache keys kept
    with pytest.raises(ParameterError, match="stop"):
        TrainConfig(stop="never")


def test_a_fixed_epoch_training_evaluates_only_at_the_end_with_the_same_weights(corpus):
    """fixed_evals="end" skips the midway full evaluations: the same weights bit for bit and the
    same final accuracies as evaluating every eval_every steps, with one evaluated row."""
    from dataclasses import replace

    every = replace(TINY_CFG, stop="epochs", fixed_evals="every")
    end = replace(every, fixed_evals="end")
    a = train_model(corpus, TINY_MODEL, every, seed=3, device="cpu", progress=False)
    b = train_model(corpus, TINY_MODEL, end, seed=3, device="cpu", progress=False)
    assert _state_equal(a.model, b.model)
    assert len([r for r in a.log if "acc_all" in r]) == len(a.log) > 1
    assert [r["step"] for r in b.log if "acc_all" in r] == [b.report["steps"]]
    assert [(r["step"], r["loss"]) for r in a.log] == [(r["step"], r["loss"]) for r in b.log]
    acc = lambda rep: {k: v for k, v in rep.items() if k.startswith("acc_")}  # noqa: E731
    assert acc(a.report) == acc(b.report)
    assert "fixed_evals" not in end.to_dict() and every.to_dict()["fixed_evals"] == "every"
    assert "fixed_evals" not in replace(TINY_CFG, fixed_evals="every").to_dict()  # ignored with "target"
    with pytest.raises(ParameterError, match="fixed_evals"):
        TrainConfig(fixed_evals="never")
