/* Block shard plans: coverage, balance, order, owner inverse and halos. */
#include "harness.h"
#include "mpi/shard.h"

static void test_small_cases(void) {
    /* 10 items over 4 parts: 3,3,2,2 */
    qa_shard s0 = qa_shard_block(10, 4, 0), s3 = qa_shard_block(10, 4, 3);
    QA_CHECK(s0.begin == 0 && s0.end == 3);
    QA_CHECK(s3.begin == 8 && s3.end == 10);
    qa_shard e = qa_shard_block(2, 4, 3); /* more parts than items: empty tail parts */
    QA_CHECK(e.begin == e.end && e.begin == 2);
    qa_shard bad = qa_shard_block(10, 0, 0);
    QA_CHECK(bad.begin == 0 && bad.end == 0);
}

static void test_properties(void) {
    for (size_t n = 0; n < 300; n += 7) {
        for (int parts = 1; parts <= 17; parts++) {
            size_t expect = 0, min = (size_t)-1, max = 0;
            for (int p = 0; p < parts; p++) {
                qa_shard s = qa_shard_block(n, parts, p);
                QA_CHECK(s.begin == expect); /* contiguous, ordered, no gaps */
                expect = s.end;
                size_t sz = s.end - s.begin;
                if (sz < min) min = sz;
                if (sz > max) max = sz;
                for (size_t i = s.begin; i < s.end; i++)
                    if (qa_shard_owner(n, parts, i) != p) QA_CHECK(qa_shard_owner(n, parts, i) == p);
            }
            QA_CHECK(expect == n);  /* full coverage */
            QA_CHECK(max - min <= 1); /* balanced */
        }
    }
    QA_CHECK(qa_shard_owner(10, 4, 10) == -1);
}

static void test_halo(void) {
    qa_shard s = qa_shard_block_halo(100, 4, 2, 30); /* owns [50, 75) */
    QA_CHECK(s.begin == 50 && s.end == 75 && s.read_begin == 20);
    qa_shard f = qa_shard_block_halo(100, 4, 0, 30);
    QA_CHECK(f.read_begin == 0);
    qa_shard g = qa_shard_block_halo(100, 4, 1, 25); /* owns [25, 50): clipped exactly to 0 */
    QA_CHECK(g.read_begin == 0);
}

int main(void) {
    QA_RUN(test_small_cases);
    QA_RUN(test_properties);
    QA_RUN(test_halo);
    return qa_test_finish();
}
