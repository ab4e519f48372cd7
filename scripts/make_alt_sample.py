"""Builds datasets/sample/alt_text/ (the demo's few hundred rows of alternative data) from
the full files in ../shared/datasets/alt_text: Reuters headlines of August 2011 for ten of
the sample's stocks (every 8th row, plus the whole 2011-08-24 AAPL day), StockNet tweets of
2014-06-02..09 for five of them (every 6th row, plus AAPL on the split day 2014-06-09), and
the VADER lexicon rows whose token occurs in those texts (VADER only looks tokens up, so
the subset scores these texts exactly as the whole lexicon does). Same layout and quoting
as the source files; rows unchanged. Run once: /usr/bin/python3 scripts/make_alt_sample.py"""
import csv, gzip, io, os, re, sys

SRC = sys.argv[1] if len(sys.argv) > 1 else '../shared/datasets/alt_text'
OUT = 'datasets/sample/alt_text'


def read(name):
    with gzip.open(os.path.join(SRC, name), 'rt', encoding='utf-8', newline='') as f:
        rd = csv.reader(f)
        return next(rd), list(rd)


def write(name, header, rows):
    buf = io.StringIO(newline='')
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator='\n')
    w.writerow(header)
    w.writerows(rows)
    with open(os.path.join(OUT, name), 'wb') as f:  # gzip -9 -n: reproducible bytes
        with gzip.GzipFile(filename='', mode='wb', compresslevel=9, fileobj=f, mtime=0) as g:
            g.write(buf.getvalue().encode('utf-8'))


os.makedirs(OUT, exist_ok=True)
rh, rr = read('reuters_headlines_by_ticker_2011H2_2018-06.csv.gz')
ti, da = rh.index('ticker'), rh.index('date')
sel = [r for r in rr if r[ti] in ('AAPL', 'MSFT', 'JPM', 'BAC', 'XOM', 'WMT', 'AMZN', 'CVX', 'PFE', 'KO')
       and r[da].startswith('201108')]
news = [r for k, r in enumerate(sel) if k % 8 == 0 or (r[ti] == 'AAPL' and r[da] == '20110824')]
th, tr = read('stocknet_tweets_2014-2016.csv.gz')
ti, fd = th.index('ticker'), th.index('file_date')
sel = [r for r in tr if r[ti] in ('AAPL', 'MSFT', 'AMZN', 'JPM', 'XOM') and '2014-06-02' <= r[fd] <= '2014-06-09']
tweets = [r for k, r in enumerate(sel) if k % 6 == 0 or (r[ti] == 'AAPL' and r[fd] == '2014-06-09' and k % 2 == 0)]
texts = [r[rh.index('title')] + ' ' + r[rh.index('summary')] for r in news] + [r[th.index('text')] for r in tweets]
words = set()
for t in texts:
    for w in t.split():
        words.add(w.lower())
        words.add(re.sub(r"^[^\w]+|[^\w]+$", '', w).lower())
lh, lr = read('vader_lexicon.csv.gz')
lex = [r for r in lr if r[0].lower() in words]
write('reuters_headlines_by_ticker_2011H2_2018-06.csv.gz', rh, news)
write('stocknet_tweets_2014-2016.csv.gz', th, tweets)
write('vader_lexicon.csv.gz', lh, lex)
print(len(news), 'headlines,', len(tweets), 'tweets,', len(lex), 'lexicon rows')
