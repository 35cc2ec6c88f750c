"""What ``kedit run`` prints when a chapter stops (issue 29 §9): a parameter error reads as
one clear message, without ipykernel's "Kernel is running over TCP without encryption"
warning or its "KeyboardInterrupt caught in kernel" line (kedit_utils.book.kernel_output);
a real exception still names its error and the failing cell, and whatever else the kernel
process writes to its own stdout / stderr still reaches the terminal."""
import jupytext
import pytest

from kedit_utils.book import cli, runner

pytestmark = pytest.mark.slow  # integration tier: starts kernels

FALSE_ALARMS = ("Kernel is running over TCP without encryption", "KeyboardInterrupt caught in kernel")


def test_a_parameter_error_prints_its_message_and_no_kernel_false_alarm(capfd):
    assert cli.main(["run", "01_knowledge_graphs", "-p", "n_entities", "-5", "--rerun"]) == 2
    captured = capfd.readouterr()
    shown = captured.out + captured.err
    assert "kedit: error: notebook '01_knowledge_graphs' failed in cell" in captured.err
    assert "ParameterError: parameter 'n_entities' = -5 is not allowed: must be >= 2" in captured.err
    assert not [alarm for alarm in FALSE_ALARMS if alarm in shown], shown[-3000:]


BROKEN = '''# %% tags=["parameters"]
n = 3

# %%
import os
import sys

os.write(2, b"a library's warning on the kernel's own stderr\\n")
os.write(1, b"KeyboardInterrupt caught in kernel\\n")
print("[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.", file=sys.__stderr__, flush=True)

# %%
counts = {"facts": n}
counts["missing facts"]
'''


def test_a_real_error_shows_its_message_and_cell_and_the_kernels_own_output(tmp_path, capfd):
    nb = jupytext.reads(BROKEN, fmt="py:percent")
    with pytest.raises(runner.NotebookFailed) as failed:
        runner._execute("99_broken", nb, {}, tmp_path, log_output=False, progress=False)
    message = str(failed.value)
    assert "notebook '99_broken' failed in cell" in message and "KeyError: 'missing facts'" in message
    assert 'counts["missing facts"]' in message  # the failing cell's source
    assert 'raised by line 2 of the cell:\n    counts["missing facts"]' in message
    assert not (tmp_path / "99_broken.ipynb").exists()  # no half-executed page
    captured = capfd.readouterr()
    shown = captured.out + captured.err
    assert "a library's warning on the kernel's own stderr" in captured.err
    assert not [alarm for alarm in FALSE_ALARMS if alarm in shown], shown[-3000:]
