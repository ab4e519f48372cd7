/* Report builder: axis ticks, escaping, and that each chart kind emits its elements. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "pipeline/run/report.h"

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void test_ticks(void) {
    double first, step;
    int n;
    qa_report_nice_ticks(0.0, 1.0, 5, &first, &step, &n);
    QA_CHECK_NEAR(step, 0.2, 1e-12, 0);
    QA_CHECK_NEAR(first, 0.0, 1e-12, 0);
    QA_CHECK_INT(n, 6);
    qa_report_nice_ticks(-0.37, 0.12, 5, &first, &step, &n);
    QA_CHECK_NEAR(step, 0.1, 1e-12, 0);
    QA_CHECK_NEAR(first, -0.3, 1e-12, 0);
    QA_CHECK_INT(n, 5); /* -0.3 -0.2 -0.1 0 0.1 */
    qa_report_nice_ticks(1234, 98765, 8, &first, &step, &n);
    QA_CHECK_NEAR(step, 10000, 0, 0);
}

static void test_document(void) {
    qa_report_t *r = NULL;
    QA_CHECK_OK(qa_report_create("Sweep <ma> & co", &r));
    qa_report_heading(r, "Best sets");
    qa_report_kv(r, "symbols", "%d", 16);
    const char *hdr[] = {"rank", "sharpe"};
    qa_report_table_begin(r, hdr, 2);
    const char *row[] = {"1", "1.5<2", NULL};
    qa_report_table_row(r, row);
    qa_report_table_end(r);
    double y[5] = {1, 1.1, NAN, 1.3, 1.2}, dd[5] = {0, -0.1, -0.05, 0, -0.2};
    qa_report_series s[2] = {{"eq", NULL, NULL, y, 5}, {"dd", NULL, NULL, dd, 5}};
    qa_report_chart c = {"Equity", "bar", "equity", 0, 0, 0};
    qa_report_line_chart(r, &c, s, 2);
    double hm[6] = {0.1, -0.2, 0.3, NAN, 0.5, -0.6};
    const char *rl[] = {"5", "10"}, *cl[] = {"20", "50", "100"};
    qa_report_heatmap(r, "Sharpe", hm, 2, 3, rl, cl, "fast", "slow", 0.0);
    double v[100];
    for (int i = 0; i < 100; i++) v[i] = i - 50;
    double mk[2] = {-40, -45};
    const char *ml[] = {"VaR 99%", "ES 99%"};
    qa_report_histogram(r, "Losses", "P&L", v, 100, 20, mk, ml, 2);
    const char *bl[] = {"AAPL", "TLT"};
    double bv[2] = {1.5, -0.5};
    qa_report_bar_chart(r, "Contributions", bl, bv, 2);
    const char *html = qa_report_html(r);
    QA_CHECK(strstr(html, "<title>Sweep &lt;ma&gt; &amp; co</title>") != NULL);
    QA_CHECK(strstr(html, "<td>1.5&lt;2</td>") != NULL);
    QA_CHECK_INT(count(html, "<svg"), 4);
    QA_CHECK_INT(count(html, "<path"), 2);              /* one path per series */
    QA_CHECK(count(html, " M") + count(html, "\"M") >= 3); /* the NaN splits the first line */
    QA_CHECK(strstr(html, "fill=\"#cccccc\"") != NULL); /* NaN heatmap cell */
    QA_CHECK(strstr(html, "VaR 99%") != NULL && strstr(html, "stroke-dasharray") != NULL);
    QA_CHECK_INT(count(html, "<rect x=") >= 20 + 6 + 2, 1);
    qa_report_free(r);
}

int main(void) {
    QA_RUN(test_ticks);
    QA_RUN(test_document);
    return qa_test_finish();
}
