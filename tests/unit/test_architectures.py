"""Module paths and W2 orientation for GPT-2 (Conv1D) and Llama (nn.Linear)."""
import pytest
import torch

from kedit_utils.core import architectures as A
from kedit_utils.core.validation import ParameterError
from kedit_utils.kg.gpt2 import ModelSpec, gpt2_from_scratch
from kedit_utils.kg.vocabulary import Vocabulary

VOCAB = Vocabulary(5, 2, 2)


def tiny_gpt2(n_layers=2):
    return gpt2_from_scratch(VOCAB, ModelSpec(n_layers=n_layers, n_embd=16, n_head=2), seed=0)


def tiny_llama(n_layers=2):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=VOCAB.size, hidden_size=16, intermediate_size=40, num_hidden_layers=n_layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16)
    return LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("make, name, d_in", [(tiny_gpt2, "gpt2", 64), (tiny_llama, "llama", 40)])
def test_arch_paths_and_dims(make, name, d_in):
    model = make(3)
    arch = A.arch_of(model)
    assert arch.name == name
    assert A.n_layers(model) == 3
    assert A.mlp_dims(model, 2) == (d_in, 16)
    assert A.edited_weight_name(model, 1) == arch.mlp_out.format(1) + ".weight"
    assert model.get_parameter(A.edited_weight_name(model, 1)) is A.edited_weight(model, 1)
    assert A.embedding_module(model) is model.get_input_embeddings()
    for fn in (A.layer_module, A.mlp_module, A.attn_module, A.mlp_out_module):
        assert isinstance(fn(model, 0), torch.nn.Module)


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama])
def test_weight_in_out_orientation_and_add(make):
    model = make()
    proj = A.mlp_out_module(model, 1)
    w = A.weight_in_out(model, 1)
    d_in, d_out = A.mlp_dims(model, 1)
    assert tuple(w.shape) == (d_in, d_out)
    x = torch.randn(3, d_in)
    bias = proj.bias if getattr(proj, "bias", None) is not None else 0.0
    with torch.no_grad():
        torch.testing.assert_close(proj(x), x @ w + bias)
        before = proj(x)
        delta = torch.randn(d_in, d_out)
        A.add_in_out(model, 1, delta)
        torch.testing.assert_close(proj(x), before + x @ delta, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [2, -1, True, 1.0])
def test_layer_out_of_range(bad):
    with pytest.raises(ParameterError) as e:
        A.mlp_module(tiny_gpt2(2), bad)
    assert e.value.name == "layer"
    with pytest.raises(ParameterError) as e:
        A.check_layer(tiny_gpt2(2), bad, "v_loss_layer")
    assert e.value.name == "v_loss_layer"


def test_unknown_architecture():
    with pytest.raises(ParameterError) as e:
        A.arch_of(torch.nn.Linear(2, 2))
    assert e.value.name == "model"


def test_load_hf_model_from_local_folder(tmp_path):
    from kedit_utils.core.pretrained import load_hf_model
    from kedit_utils.kg.vocabulary import hf_tokenizer

    model = tiny_gpt2()
    model.save_pretrained(tmp_path / "m")
    hf_tokenizer(VOCAB).save_pretrained(tmp_path / "m" / "tokenizer")
    loaded, tok = load_hf_model(tmp_path / "m")
    assert A.arch_of(loaded).name == "gpt2"
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    assert tok("e1_0 r0_1")["input_ids"] == [int(VOCAB.entity_ids[1, 0]), int(VOCAB.relation_ids[0, 1])]
    for bad in (tmp_path / "nowhere", tmp_path):
        with pytest.raises(ParameterError) as e:
            load_hf_model(bad)
        assert e.value.name == "path"


def test_default_covariance_texts_and_reader(tmp_path):
    from kedit_utils.core.pretrained import default_covariance_texts, read_texts

    texts = default_covariance_texts(300)
    assert len(texts) == len(set(texts)) == 300
    assert texts == default_covariance_texts(300)
    assert all(t[0].isupper() and t.endswith(".") for t in texts)
    (tmp_path / "c.txt").write_text("one line\n\n  two  \n")
    assert read_texts(tmp_path / "c.txt") == ["one line", "two"]
    with pytest.raises(ParameterError):
        read_texts(tmp_path / "missing.txt")


def test_smollm2_is_located_without_importing_the_package():
    import sys

    from kedit_utils.core.pretrained import SMOLLM2_PACKAGE, smollm2_gguf

    path = smollm2_gguf()
    assert SMOLLM2_PACKAGE not in sys.modules
    if path is not None:
        assert path.suffix == ".gguf" and path.is_file()


@pytest.mark.parametrize("make", [tiny_gpt2, tiny_llama])
def test_a_kv_cache_passes_under_the_name_the_installed_transformers_takes(make, recwarn):
    model = make().eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        cache = A.returned_kv_cache(model(input_ids=ids[:, :3], use_cache=True))
        last = model(input_ids=ids[:, 3:], position_ids=torch.tensor([[3]]), use_cache=False,
                     **A.with_kv_cache(model, cache)).logits[:, -1]
        whole = model(input_ids=ids).logits[:, -1]
    assert torch.allclose(last, whole, atol=1e-5)
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]  # no deprecated name
