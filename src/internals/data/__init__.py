"""Datasets as `Record`s: BIG-bench tasks, FanOutQA and the user's own JSONL/CSV, found by name.

>>> from internals.data import load_dataset, list_datasets
>>> train = load_dataset("qa_wikidata", split="train", limit=600)
"""

from .records import Dataset, Record
from .registry import DatasetInfo, list_datasets, load_dataset, split_of

__all__ = ["Dataset", "DatasetInfo", "Record", "list_datasets", "load_dataset", "split_of"]
