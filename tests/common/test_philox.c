/* Philox-4x32-10: Random123 known-answer vectors and distribution sanity. */
#include <math.h>

#include "common/philox.h"
#include "harness.h"

/* Known-answer vectors from Random123's kat_vectors (philox4x32 10 rounds). */
static void test_known_answers(void) {
    static const struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t t = 0; t < sizeof kat / sizeof kat[0]; t++) {
        qa_philox_block c = {{kat[t].ctr[0], kat[t].ctr[1], kat[t].ctr[2], kat[t].ctr[3]}};
        qa_philox_block r = qa_philox4x32_10(c, kat[t].key[0], kat[t].key[1]);
        for (int w = 0; w < 4; w++)
            QA_CHECK_MSG(r.v[w] == kat[t].out[w], "vector %zu word %d: %08x != %08x", t, w, r.v[w], kat[t].out[w]);
    }
}

/* (seed, stream, block) maps onto (key, counter) as documented in common/philox.h. */
static void test_layout(void) {
    uint64_t seed = 0x299f31d0a4093822ull, stream = 0x0370734413198a2eull, block = 0x85a308d3243f6a88ull;
    qa_philox_block r = qa_rng_block(seed, stream, block);
    QA_CHECK(r.v[0] == 0xd16cfe09 && r.v[3] == 0x24126ea1);
    /* u32 element i is word i%4 of block i/4. */
    qa_philox_block b = qa_rng_block(seed, stream, 12345);
    for (int w = 0; w < 4; w++) QA_CHECK(qa_rng_u32(seed, stream, 12345 * 4 + (uint64_t)w) == b.v[w]);
}

static void test_uniform_range_and_moments(void) {
    const int n = 200000;
    double sum = 0, sumsq = 0, lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        double u = qa_rng_uniform(42, 7, (uint64_t)i);
        QA_CHECK(u > 0.0 && u < 1.0);
        sum += u;
        sumsq += u * u;
        lo = fmin(lo, u);
        hi = fmax(hi, u);
        float f = qa_rng_uniformf(42, 7, (uint64_t)i);
        if (!(f > 0.0f && f < 1.0f)) QA_CHECK(f > 0.0f && f < 1.0f);
    }
    double mean = sum / n, var = sumsq / n - mean * mean;
    /* Standard errors: mean 1/sqrt(12 n) = 6.5e-4, variance ~ 1/(sqrt(180 n)) ~ 1.7e-4:
     * 6 sigma bounds make a false failure practically impossible. */
    QA_CHECK_NEAR(mean, 0.5, 6 * 6.5e-4, 0);
    QA_CHECK_NEAR(var, 1.0 / 12.0, 6 * 1.7e-4, 0);
    QA_CHECK(lo < 1e-4 && hi > 1 - 1e-4);
}

static void test_normal_moments(void) {
    const int n = 400000;
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double z = qa_rng_normal(2026, 1, (uint64_t)i);
        s1 += z;
        s2 += z * z;
        s3 += z * z * z;
        s4 += z * z * z * z;
    }
    double m = s1 / n, v = s2 / n, skew = s3 / n, kurt = s4 / n;
    /* SE: mean 1/sqrt(n)=1.6e-3, var sqrt(2/n)=2.2e-3, E z^3 sqrt(15/n)=6.1e-3,
     * E z^4 sqrt(96/n)=1.5e-2; 6-sigma bounds. */
    QA_CHECK_NEAR(m, 0.0, 6 * 1.6e-3, 0);
    QA_CHECK_NEAR(v, 1.0, 6 * 2.2e-3, 0);
    QA_CHECK_NEAR(skew, 0.0, 6 * 6.1e-3, 0);
    QA_CHECK_NEAR(kurt, 3.0, 6 * 1.5e-2, 0);
}

/* Different streams and seeds give different numbers; the same triple the same. */
static void test_streams_differ(void) {
    QA_CHECK(qa_rng_u32(1, 0, 0) != qa_rng_u32(1, 1, 0));
    QA_CHECK(qa_rng_u32(1, 0, 0) != qa_rng_u32(2, 0, 0));
    QA_CHECK(qa_rng_u32(1, 0, 5) == qa_rng_u32(1, 0, 5));
    int same = 0;
    for (uint64_t i = 0; i < 1000; i++) same += qa_rng_u32(9, 3, i) == qa_rng_u32(9, 4, i);
    QA_CHECK(same < 3);
}

int main(void) {
    QA_RUN(test_known_answers);
    QA_RUN(test_layout);
    QA_RUN(test_uniform_range_and_moments);
    QA_RUN(test_normal_moments);
    QA_RUN(test_streams_differ);
    return qa_test_finish();
}
