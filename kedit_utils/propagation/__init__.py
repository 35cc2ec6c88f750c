"""Meta-learning so that edits propagate (Paper B): FOMAML (:mod:`.fomaml`) and Paper B's
evaluation protocol for any editor (:mod:`.protocol`).

    from kedit_utils.propagation import FOMAMLConfig, meta_train, evaluate_base_and_meta

    cfg = FOMAMLConfig(scope="attn+mlp", layers=(8,), inner_lr=1e-4)  # defaults: Paper B's
    result = meta_train(model, tok, train_cases, cfg, model_id="smollm2")  # in place, cached
    reports = evaluate_base_and_meta(model, tok, ood_cases, result)        # same FT edit on both
    reports["meta"].summary()   # acc, 95 % Wilson interval, single hop, locality, s/edit
    result.restore()            # the base model, bit for bit

Baselines (Paper B Table 2) go through the same function:
``evaluate_cases(model, tok, cases, "rome", cov=covs)``.
"""
from kedit_utils.propagation.fomaml import (
                                            SCOPES,
                                            FOMAMLConfig,
                                            MetaResult,
                                            Task,
                                            TaskLog,
                                            cases_hash,
                                            inner_loop,
                                            meta_cache_key,
                                            meta_step,
                                            meta_train,
                                            related_gradient,
                                            related_loss,
                                            scope_parameter_names,
                                            task_order,
                                            tasks_from_cases,
)
from kedit_utils.propagation.protocol import (
                                            CaseResult,
                                            PropagationReport,
                                            accuracy_callback,
                                            contains_any,
                                            evaluate_base_and_meta,
                                            evaluate_case,
                                            evaluate_cases,
                                            wilson_interval,
)

__all__ = ["SCOPES", "CaseResult", "FOMAMLConfig", "MetaResult", "PropagationReport", "Task", "TaskLog",
           "accuracy_callback", "cases_hash", "contains_any", "evaluate_base_and_meta", "evaluate_case",
           "evaluate_cases", "inner_loop", "meta_cache_key", "meta_step", "meta_train", "related_gradient",
           "related_loss", "scope_parameter_names", "task_order", "tasks_from_cases", "wilson_interval"]
