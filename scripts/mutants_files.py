"""Mutants in the tricks and the output folder (the list: ``mutant_list.py``)."""

from __future__ import annotations

from mutant_base import OUT, SAFE, TR, M, Mutant

FILES: list[Mutant] = [
    # --- tricks ---------------------------------------------------------------------------------------------
    M(
        "tricks",
        TR + "momentum.py",
        '{"momentum": self.params.beta,',
        '{"momentum": 0.9,',
        "momentum ignores beta",
    ),
    M(
        "tricks",
        TR + "momentum.py",
        '"nesterov": self.params.nesterov}',
        '"nesterov": False}',
        "nesterov ignored",
    ),
    M(
        "tricks",
        TR + "weight_decay.py",
        '{"weight_decay": self.params.l2}',
        '{"weight_decay": 0.0}',
        "weight decay applies 0",
    ),
    M(
        "tricks",
        TR + "init.py",
        "m.weight.mul_(params.scale * gains.get(name, 1.0))",
        "m.weight.mul_(gains.get(name, 1.0))",
        "init ignores scale",
    ),
    M(
        "tricks",
        TR + "init.py",
        "if params.zero_bias and m.bias is not None:",
        "if m.bias is not None:",
        "init zeroes biases even when asked not to",
    ),
    M(
        "tricks",
        TR + "warmup.py",
        "return min(1.0, (step + 1) / self.params.steps)",
        "return min(1.0, step / self.params.steps)",
        "warmup's first step has lr 0",
    ),
    M(
        "tricks",
        TR + "warmup.py",
        "if run.step > self.params.steps:",
        "if run.step >= self.params.steps:",
        "warmup stops one step earlier",
        equivalent="the factor is already 1 at step `steps - 1`, so skipping step `steps` changes nothing",
    ),
    M(
        "tricks",
        TR + "grad_clip.py",
        "clip_grad_norm_(model.parameters(), self.params.max_norm)",
        "clip_grad_norm_(model.parameters(), 1.0)",
        "grad_clip ignores max_norm",
    ),
    M(
        "tricks",
        TR + "layer_normalized_updates.py",
        "p.dim() < 2 and not",
        "p.dim() < 1 and not",
        "include_bias=false still normalises biases",
    ),
    M(
        "tricks",
        TR + "layer_normalized_updates.py",
        "p.grad.div_(p.grad.norm() + self.params.eps)",
        "p.grad.div_(p.grad.norm().square() + self.params.eps)",
        "gradient divided by its squared norm",
    ),
    M("tricks", TR + "dropout.py", '{"dropout": self.params.p}', '{"dropout": 0.1}', "dropout ignores p"),
    M(
        "tricks",
        TR + "layernorm.py",
        'return {"norm": "layer"}',
        'return {"norm": "batch"}',
        "layernorm trick asks for batch norm",
    ),
    # --- output ---------------------------------------------------------------------------------------------
    M(
        "output",
        OUT,
        "return value if math.isfinite(value) else None",
        "return value",
        "NaN written into run.json (not JSON)",
    ),
    M(
        "output",
        SAFE,
        "            os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)\n",
        (
            "            with open(temporary, 'rb', opener=lambda p, f: os.open(p, f, dir_fd=fd)) as new:\n"
            "                with open(name, 'wb', opener=lambda p, f: os.open(p, f, dir_fd=fd)) as old:\n"
            "                    old.write(new.read())\n"
            "            os.unlink(temporary, dir_fd=fd)\n"
        ),
        "outputs written in place (copied over the old file, no rename): a hard link's other name changes",
    ),
    M(
        "output",
        SAFE,
        "        os.close(fd)\n        os.unlink(name, dir_fd=folder_fd)\n        raise",
        "        os.close(fd)\n        raise",
        "a failed write leaves its temporary file",
    ),
    M(
        "output",
        SAFE,
        "        for fd, temporary, _ in staged:\n            os.unlink(temporary, dir_fd=fd)",
        "        for fd, temporary, _ in staged:\n            pass",
        "the files written aside before the one that failed are left behind",
    ),
    M(
        "output",
        SAFE,
        "            os.fchmod(fd, FILE_MODE)",
        "            pass",
        "outputs keep the temporary file's 0600",
    ),
    M(
        "output",
        SAFE,
        "                _refuse_entry(fds[folder], name, root.joinpath(*folder, name), want_folder=False)",
        "                pass",
        "a link where a report file goes is silently replaced, not refused",
    ),
    M(
        "output",
        SAFE,
        "fd = os.open(path, os.O_RDONLY | NOFOLLOW | ",
        "fd = os.open(path, os.O_RDONLY | ",
        "a link in a run folder is followed when read",
    ),
    M(
        "output",
        SAFE,
        "if e.name.startswith(prefix) and e.name not in written]",
        "if False]",
        "the previous dashboard event file is kept beside the new one",
    ),
    M(
        "output",
        OUT,
        "    if not isinstance(info, dict):\n        return None",
        "    if False:\n        return None",
        "run.json that is not an object is accepted",
    ),
    M(
        "output",
        OUT,
        "    if any(key in info and not isinstance",
        "    if False and any(key in info and not isinstance",
        "run.json key types not checked",
    ),
    M(
        "output",
        OUT,
        "        if child.name == LOCK_NAME:\n            continue",
        "        if False:\n            continue",
        "clearing deletes the lock file",
    ),
    M(
        "output",
        OUT,
        "        if child.is_dir() and not child.is_symlink():",
        "        if child.is_dir():",
        "clearing follows a link to a folder",
    ),
    M(
        "output",
        OUT,
        "        if here.is_symlink():",
        "        if here == path and here.is_symlink():",
        "only the run folder itself is checked for a link",
    ),
    M(
        "output",
        OUT,
        "        except ValueError:\n            continue\n    return sorted(rows, key=_step_of)",
        "        except ValueError:\n            break\n    return sorted(rows, key=_step_of)",
        "a garbled metrics line drops every later row",
    ),
    M(
        "output",
        OUT,
        "if len(os.fsencode(p)) > name_max",
        "if len(os.fsencode(p)) >= name_max",
        "a name of exactly NAME_MAX bytes refused",
    ),
]
