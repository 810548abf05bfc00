"""Teach a tiny random model the answers of some questions, so a probe sees both classes."""

from __future__ import annotations

from pathlib import Path

import torch


def teach_answers(model_dir: Path, data, out: Path, steps: int) -> Path:
    """Fine-tune the checkpoint at `model_dir` on every other record of `data` (its chat prompt
    followed by its first answer and "."), for `steps` Adam steps, and save it to `out`."""
    from internals import load_model
    from internals.prompts import render

    torch.manual_seed(0)
    lm = load_model(model_dir, device="cpu")
    tok = lm.tokenizer
    prompts = render(data, "chat", tok)
    pairs = [
        (prompts[i], tok(data[i].answers[0] + ".", add_special_tokens=False)["input_ids"])
        for i in range(0, len(data), 2)
    ]
    width = max(len(p) + len(a) for p, a in pairs)
    ids = torch.full((len(pairs), width), tok.pad_token_id)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    rows, cols, targets = [], [], []
    for k, (p, a) in enumerate(pairs):
        ids[k, : len(p) + len(a)] = torch.tensor(p + a)
        mask[k, : len(p) + len(a)] = 1
        for j, t in enumerate(a):  # the logits at position len(p)+j-1 predict answer token j
            rows.append(k), cols.append(len(p) + j - 1), targets.append(t)
    rows_t, cols_t, targets_t = torch.tensor(rows), torch.tensor(cols), torch.tensor(targets)
    opt = torch.optim.Adam(lm.model.parameters(), lr=3e-3)
    for _ in range(steps):  # logits only at answer positions: the 49k-word head is the costly part
        h = lm.model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        loss = torch.nn.functional.cross_entropy(lm.model.lm_head(h[rows_t, cols_t]), targets_t)
        opt.zero_grad()
        loss.backward()
        opt.step()
    lm.model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
