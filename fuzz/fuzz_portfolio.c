/* libFuzzer harness: portfolio files for risk runs (trading/book.h), as `qa risk` reads
 * them. Input: one option byte, then the file text.
 *   bits 0-1: file kind (.csv, .yaml, .json, .csv.gz: gzip or not, zlib reads both)
 *   bit 2:    a stated value override (1e6) instead of NaN (the file's own)
 *   bit 3:    check against the market file too (symbols known, option expiries after
 *             the valuation date 2000-06-01)
 * A portfolio that loads has every position's market value checked at a price of 100, the
 * check risk runs make before valuing anything. */
#include <math.h>    /* NAN */
#include <stdint.h>  /* uint8_t, INT64_MIN */
#include <unistd.h>  /* unlink */

#include "datasets/store.h"  /* the market file */
#include "fuzz_market.h"     /* qa_fuzz_market */
#include "fuzz_util.h"       /* scratch files */
#include "trading/book.h"    /* qa_book_load, qa_book_check_market */

static qa_store_t *market;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    qa_fuzz_quiet();
    const char *path = qa_fuzz_market();
    return !path || qa_store_open(path, NULL, QA_STORE_READ, &market) != QA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const char *const names[] = {"book.csv", "book.yaml", "book.json", "book.csv.gz"};
    uint8_t opt = data[0];
    char path[512];
    qa_fuzz_write(names[opt & 3], data + 1, size - 1, path, sizeof path);
    qa_book b;
    if (qa_book_load(path, opt & 4 ? 1e6 : NAN, &b) == QA_OK) {
        int64_t valuation = (int64_t)(10957 + 152) * 86400 * 1000000000LL; /* 2000-06-01 */
        if (opt & 8) (void)qa_book_check_market(&b, market, valuation);
        else (void)qa_book_check_market(&b, NULL, INT64_MIN);
        for (size_t i = 0; i < b.n; i++) {
            (void)qa_book_find(&b, b.pos[i].id);
            double q = isnan(b.pos[i].quantity) ? 1.0 : b.pos[i].quantity;
            (void)qa_book_check_value(&b, i, q, 100.0, "market value");
        }
        qa_book_free(&b);
    }
    unlink(path);
    return 0;
}
