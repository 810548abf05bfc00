"""The activation store: a capture over a dataset, streamed to disk, resumable, read by memory map.

Layout of one store, ``<out>/<config hash>/``::

    manifest.json          format, config_hash, config (model describe() with fingerprint, dataset
                           name/split/fingerprint/limit/seed/prompts_sha256, sites, reduce, span,
                           template, max_tokens, backend, seed, package versions), status
                           ("running" -> "complete"), n_rows, rows, world_size, shards per rank,
                           wall_s, and one entry per session (each start or resume)
    row_ids.json           the id of every dataset row (record ids; 0..n-1 for plain prompts)
    index-r<rank>.jsonl    one line per shard written by that rank: {"shard", "rank", "rows":
                           [dataset positions], "sha256", "bytes"}; appended and fsynced after the
                           shard file is in place, so a row counts as stored once its line is there
    shards/r<rank>-<first row>.safetensors
                           row_index int64 [k] (dataset positions); one float32 tensor per site,
                           [k, *feature] for mean/last, [k, tokens, *feature] for none,
                           [k, tokens(, heads)] for norm, plus mask bool [k, tokens] for none/norm
                           (tokens: the longest row of that shard); for stats, per site
                           "<site>/count" int64 [1], "<site>/mean" and "<site>/m2" float64 [*feature]:
                           the partial moments of the shard's rows
    .lock                  held (flock) by the writing process; the OS drops it if that process dies

The config hash (`StoreConfig.config_hash`) covers what determines the arrays (model
fingerprint, the exact prompts, sites, reduce, span, template, max_tokens, backend) and not the
package versions, which the manifest records per session.

Writes are atomic (temp file, fsync, rename). A killed capture resumes when run again: indexed
shards are checked (size and sha256; a lost or corrupt one is deleted and its rows captured
again), files without an index line are removed, and only the missing rows run. The stats
reducer is resumable too: each shard keeps the partial moments of its rows, merged in row order
when read (Chan et al.'s update, float64; equal to an in-memory capture up to float64 rounding).

Under torchrun / accelerate launch, rank r captures rows r, r + world, ... of the rows still
missing and writes its own shards and index; rank 0 prepares the store before and writes the
manifest after a barrier. Reading merges all ranks' shards back into dataset order.
"""

from .config import StoreConfig, package_versions
from .reader import Store
from .writer import capture_to_store, store_dir

__all__ = ["Store", "StoreConfig", "capture_to_store", "package_versions", "store_dir"]
