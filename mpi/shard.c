/* Block shard plans: balanced contiguous ranges, by arithmetic only. */
#include "mpi/shard.h"

qa_shard qa_shard_block(size_t n, int parts, int index) {
    qa_shard s = {0, 0, 0};
    if (parts <= 0 || index < 0 || index >= parts) return s;
    size_t p = (size_t)parts, i = (size_t)index;
    size_t base = n / p, extra = n % p;
    s.begin = i * base + (i < extra ? i : extra);
    s.end = s.begin + base + (i < extra ? 1 : 0);
    s.read_begin = s.begin;
    return s;
}

qa_shard qa_shard_block_halo(size_t n, int parts, int index, size_t halo) {
    qa_shard s = qa_shard_block(n, parts, index);
    s.read_begin = s.begin > halo ? s.begin - halo : 0;
    return s;
}

int qa_shard_owner(size_t n, int parts, size_t i) {
    if (parts <= 0 || i >= n) return -1;
    size_t p = (size_t)parts, base = n / p, extra = n % p;
    size_t big = extra * (base + 1); /* items held by the parts with one extra */
    if (i < big) return (int)(i / (base + 1));
    return (int)(extra + (i - big) / base);
}
