/* Status table and last-error text. */
#include <string.h>

#include "common/status.h"
#include "harness.h"

static qa_status fails_with_detail(void) { return QA_FAIL(QA_ERR_FORMAT, "data.csv:7: field 'close': 'abc' is not a number"); }

static void test_table(void) {
    QA_CHECK_STR(qa_status_str(QA_OK), "ok");
    QA_CHECK_STR(qa_status_str(QA_ERR_HDF5), "HDF5 error");
    QA_CHECK_STR(qa_status_name(QA_ERR_CONFIG), "QA_ERR_CONFIG");
    QA_CHECK_STR(qa_status_str((qa_status)-999), "unknown status");
    QA_CHECK_STR(qa_status_str((qa_status)5), "unknown status");
    /* Every code in range has a distinct non-empty message. */
    for (int i = 0; i < QA_STATUS_COUNT; i++)
        for (int j = i + 1; j < QA_STATUS_COUNT; j++)
            QA_CHECK(strcmp(qa_status_str((qa_status)-i), qa_status_str((qa_status)-j)) != 0);
}

static void test_last_error(void) {
    qa_err_clear();
    QA_CHECK_STR(qa_err_msg(), "");
    QA_CHECK_INT(qa_err_code(), QA_OK);
    QA_CHECK_INT(fails_with_detail(), QA_ERR_FORMAT);
    QA_CHECK_STR(qa_err_msg(), "data.csv:7: field 'close': 'abc' is not a number");
    QA_CHECK_INT(qa_err_code(), QA_ERR_FORMAT);
    QA_CHECK(strstr(qa_err_where(), "test_status.c:") != NULL);
    qa_err_prefix("importing %s: ", "AAPL");
    QA_CHECK_STR(qa_err_msg(), "importing AAPL: data.csv:7: field 'close': 'abc' is not a number");
    qa_err_clear();
    QA_CHECK_STR(qa_err_msg(), "");
}

static void test_long_text_truncates(void) {
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    (void)QA_FAIL(QA_ERR_IO, "%s", big);
    QA_CHECK(strlen(qa_err_msg()) < 2048);
    qa_err_prefix("p: ");
    QA_CHECK(strncmp(qa_err_msg(), "p: xxx", 6) == 0);
    QA_CHECK(strlen(qa_err_msg()) < 2048);
}

int main(void) {
    QA_RUN(test_table);
    QA_RUN(test_last_error);
    QA_RUN(test_long_text_truncates);
    return qa_test_finish();
}
