/* FIX 4.4 sessions over QuickFIX (live/fix.h): a C interface over one SocketInitiator or
 * SocketAcceptor per handle. QuickFIX's thread calls the Application below, which queues
 * application messages for qa_fix_poll and counts session events; everything else is
 * QuickFIX's own Session. Every exported function catches all exceptions and returns
 * them as a qa_status with the exception text.
 *
 * Built as C++14, not 17: Debian's QuickFIX 1.15.1 headers use dynamic exception
 * specifications (throw(FieldNotFound, ...)), which C++17 removed. */
#include "live/fix.h"

#include <quickfix/Application.h>     /* FIX::Application: the callbacks */
#include <quickfix/FileLog.h>         /* FIX::FileLogFactory */
#include <quickfix/FileStore.h>       /* FIX::FileStoreFactory: seqnums + sent messages */
#include <quickfix/Session.h>         /* FIX::Session: send, seqnums, logout */
#include <quickfix/SessionSettings.h> /* FIX::SessionSettings, FIX::Dictionary */
#include <quickfix/SocketAcceptor.h>  /* FIX::SocketAcceptor: one thread, one port */
#include <quickfix/SocketInitiator.h> /* FIX::SocketInitiator: one thread, reconnects */

#include <arpa/inet.h>  /* htonl */
#include <errno.h>      /* errno, EEXIST */
#include <netinet/in.h> /* sockaddr_in */
#include <sys/socket.h> /* socket, bind, getsockname */
#include <sys/stat.h>   /* mkdir */
#include <unistd.h>     /* close */

#include <chrono>             /* timeouts */
#include <condition_variable> /* queue and logon waits */
#include <cstdio>             /* snprintf */
#include <climits>            /* INT_MAX */
#include <cstdlib>            /* strtod, strtol */
#include <cstring>            /* strchr, strlen */
#include <deque>              /* the receive queue */
#include <memory>             /* unique_ptr */
#include <mutex>              /* the handle's lock */
#include <new>                /* std::bad_alloc, std::nothrow */
#include <string>

static const char QA_FIX_BEGIN[] = "FIX.4.4";

struct qa_fix_msg {
    FIX::Message m;
};

namespace {

/* Turns the exception being handled into a status; call only inside a catch block. */
qa_status fail_exc(const char *doing)
{
    try {
        throw;
    } catch (const FIX::ConfigError &e) {
        return QA_FAIL(QA_ERR_CONFIG, "FIX %s: %s", doing, e.what());
    } catch (const FIX::Exception &e) {
        return QA_FAIL(QA_ERR_IO, "FIX %s: %s: %s", doing, e.type.c_str(), e.detail.c_str());
    } catch (const std::bad_alloc &) {
        return QA_FAIL(QA_ERR_NOMEM, "FIX %s", doing);
    } catch (const std::exception &e) {
        return QA_FAIL(QA_ERR_IO, "FIX %s: %s", doing, e.what());
    } catch (...) {
        return QA_FAIL(QA_ERR_IO, "FIX %s: unknown exception", doing);
    }
}

/* The admin message's Text(58) into last_text. */
void copy_text(const FIX::Message &m, char *dst, size_t cap)
{
    if (!m.isSetField(FIX::FIELD::Text)) return;
    snprintf(dst, cap, "%s", m.getField(FIX::FIELD::Text).c_str());
}

/* Creates dir and its parents (mkdir -p). */
bool mkdir_p(const std::string &dir)
{
    std::string path;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = dir.find('/', pos + 1);
        path = dir.substr(0, pos);
        if (path.empty()) continue;
        if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return false;
    }
    return true;
}

/* A port free right now on INADDR_ANY (QuickFIX binds the acceptor port itself and does
 * not report the one the kernel chose for port 0, so it is chosen here; a collision in
 * the window before QuickFIX binds it makes qa_fix_start try another). */
int free_port()
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(s, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(s);
    return port;
}

} // namespace

struct qa_fix : public FIX::Application {
    qa_fix_cfg cfg{};
    FIX::SessionID sid;
    FIX::Session *session = nullptr; /* owned by the initiator/acceptor */
    std::unique_ptr<FIX::SessionSettings> settings;
    std::unique_ptr<FIX::FileStoreFactory> stores;
    std::unique_ptr<FIX::FileLogFactory> logs;
    std::unique_ptr<FIX::Initiator> initiator; /* one of these two */
    std::unique_ptr<FIX::Acceptor> acceptor;

    mutable std::mutex mu; /* guards everything below */
    std::condition_variable cv;
    std::deque<qa_fix_msg *> queue;
    qa_fix_stats stats;
    bool logged_on = false;

    qa_fix() { memset(&stats, 0, sizeof stats); }
    ~qa_fix() override
    {
        for (qa_fix_msg *m : queue) delete m;
    }

    /* QuickFIX's callbacks, on its thread. None may throw: the base class declares what
     * each may throw and anything else would terminate the process. */
    void onCreate(const FIX::SessionID &) noexcept override {}
    void onLogon(const FIX::SessionID &) noexcept override
    {
        std::lock_guard<std::mutex> l(mu);
        logged_on = true;
        stats.logons++;
        cv.notify_all();
    }
    void onLogout(const FIX::SessionID &) noexcept override
    {
        /* QuickFIX calls this on the Logout and again on the disconnect that follows:
         * count sessions that ended, not calls. */
        std::lock_guard<std::mutex> l(mu);
        if (logged_on) stats.logouts++;
        logged_on = false;
        cv.notify_all();
    }
    void toAdmin(FIX::Message &m, const FIX::SessionID &) noexcept override { count_admin(m, false); }
    void toApp(FIX::Message &, const FIX::SessionID &) noexcept override
    {
        std::lock_guard<std::mutex> l(mu);
        stats.app_out++;
    }
    void fromAdmin(const FIX::Message &m, const FIX::SessionID &) noexcept override { count_admin(m, true); }
    /* Queues a copy. Returning tells QuickFIX the message was received (it then advances
     * the next target seqnum). Should the copy fail (out of memory) the message is lost
     * to this process: the caller's durable seqnum and next_target_seqnum at restart get
     * it again, as after a crash. */
    void fromApp(const FIX::Message &m, const FIX::SessionID &) noexcept override
    {
        try {
            std::unique_ptr<qa_fix_msg> copy(new qa_fix_msg{m});
            std::lock_guard<std::mutex> l(mu);
            queue.push_back(nullptr);      /* may throw: copy still owns the message */
            queue.back() = copy.release(); /* cannot throw */
            stats.app_in++;
            cv.notify_all();
        } catch (...) {
        }
    }

    void count_admin(const FIX::Message &m, bool in) noexcept
    {
        try {
            const FIX::Header &h = m.getHeader();
            if (!h.isSetField(FIX::FIELD::MsgType)) return;
            const std::string &t = h.getField(FIX::FIELD::MsgType);
            std::lock_guard<std::mutex> l(mu);
            if (t == FIX::MsgType_ResendRequest) {
                (in ? stats.resend_requests_in : stats.resend_requests_out)++;
            } else if (t == FIX::MsgType_SequenceReset) {
                bool gap = m.isSetField(FIX::FIELD::GapFillFlag) && m.getField(FIX::FIELD::GapFillFlag) == "Y";
                if (gap)
                    (in ? stats.gap_fills_in : stats.gap_fills_out)++;
                else if (in)
                    stats.seq_resets_in++;
            } else if (t == FIX::MsgType_Reject) {
                (in ? stats.rejects_in : stats.rejects_out)++;
                if (in) copy_text(m, stats.last_text, sizeof stats.last_text);
            } else if (t == FIX::MsgType_Logout && in) {
                copy_text(m, stats.last_text, sizeof stats.last_text);
            }
        } catch (...) {
        }
    }
};

namespace {

/* One session's settings: FIX 4.4, no data dictionary (Debian ships none), a daily
 * session 00:00-00:00 UTC (QuickFIX resets the sequence when the stored session was
 * created on an earlier day), the FileStore and optional FileLog. */
void fill_settings(qa_fix *f)
{
    const qa_fix_cfg &c = f->cfg;
    FIX::Dictionary d;
    d.setString("ConnectionType", c.acceptor ? "acceptor" : "initiator");
    d.setString("BeginString", QA_FIX_BEGIN);
    d.setString("SenderCompID", c.sender);
    d.setString("TargetCompID", c.target);
    d.setString("StartTime", "00:00:00");
    d.setString("EndTime", "00:00:00");
    d.setString("UseDataDictionary", "N");
    d.setString("FileStorePath", c.store_dir);
    if (c.log_dir[0]) d.setString("FileLogPath", c.log_dir);
    d.setString("PersistMessages", "Y");
    d.setString("SocketNodelay", "Y");
    if (c.acceptor) {
        d.setInt("SocketAcceptPort", c.port);
        d.setString("SocketReuseAddress", "Y");
    } else {
        d.setString("SocketConnectHost", c.host);
        d.setInt("SocketConnectPort", c.port);
        d.setInt("HeartBtInt", c.heartbeat_s);
        d.setInt("ReconnectInterval", c.reconnect_s);
    }
    f->settings.reset(new FIX::SessionSettings());
    FIX::Dictionary defaults;
    defaults.setString("ConnectionType", c.acceptor ? "acceptor" : "initiator");
    /* SocketInitiator reads ReconnectInterval from the defaults only (else 30 s). */
    if (!c.acceptor) defaults.setInt("ReconnectInterval", c.reconnect_s);
    f->settings->set(defaults);
    f->settings->set(f->sid, d);
}

/* Builds the session and starts QuickFIX's thread; throws what QuickFIX throws. */
void build_and_start(qa_fix *f)
{
    fill_settings(f);
    f->stores.reset(new FIX::FileStoreFactory(std::string(f->cfg.store_dir)));
    if (f->cfg.log_dir[0]) f->logs.reset(new FIX::FileLogFactory(std::string(f->cfg.log_dir)));
    if (f->cfg.acceptor) {
        if (f->logs)
            f->acceptor.reset(new FIX::SocketAcceptor(*f, *f->stores, *f->settings, *f->logs));
        else
            f->acceptor.reset(new FIX::SocketAcceptor(*f, *f->stores, *f->settings));
    } else {
        if (f->logs)
            f->initiator.reset(new FIX::SocketInitiator(*f, *f->stores, *f->settings, *f->logs));
        else
            f->initiator.reset(new FIX::SocketInitiator(*f, *f->stores, *f->settings));
    }
    /* The initiator/acceptor constructor created (and registered) the session and loaded
     * its store; nothing is connected until start(), so seqnums set here are in force at
     * the first logon. */
    f->session = FIX::Session::lookupSession(f->sid);
    if (!f->session) throw FIX::ConfigError("session was not created");
    if (f->cfg.next_target_seqnum > 0) f->session->setNextTargetMsgSeqNum(f->cfg.next_target_seqnum);
    if (f->acceptor)
        f->acceptor->start();
    else
        f->initiator->start();
}

/* Stops the thread (no logout) and frees the QuickFIX objects; the session pointer dies
 * with them. */
void teardown(qa_fix *f) noexcept
{
    try {
        if (f->initiator) f->initiator->stop(true);
        if (f->acceptor) f->acceptor->stop(true);
    } catch (...) {
    }
    f->initiator.reset();
    f->acceptor.reset();
    f->session = nullptr;
    f->logs.reset();
    f->stores.reset();
    f->settings.reset();
}

bool check_value(const char *v)
{
    return v && v[0] && !strchr(v, '\x01');
}

} // namespace

extern "C" {

void qa_fix_cfg_default(qa_fix_cfg *cfg)
{
    if (!cfg) return;
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
    cfg->heartbeat_s = 5;
    cfg->reconnect_s = 1;
}

qa_status qa_fix_start(const qa_fix_cfg *cfg, qa_fix_t **out)
{
    if (!cfg || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_fix_start: NULL argument");
    if (!cfg->sender[0] || !cfg->target[0])
        return QA_FAIL(QA_ERR_INVALID_ARG, "FIX session: sender and target CompIDs are required");
    if (!cfg->store_dir[0]) return QA_FAIL(QA_ERR_INVALID_ARG, "FIX session %s->%s: store_dir is required", cfg->sender, cfg->target);
    if (cfg->port < 0 || cfg->port > 65535 || (!cfg->acceptor && cfg->port == 0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "FIX session %s->%s: port %d", cfg->sender, cfg->target, cfg->port);
    if (cfg->heartbeat_s <= 0 || cfg->reconnect_s <= 0 || cfg->next_target_seqnum < 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "FIX session %s->%s: heartbeat_s %d, reconnect_s %d, next_target_seqnum %d",
                       cfg->sender, cfg->target, cfg->heartbeat_s, cfg->reconnect_s, cfg->next_target_seqnum);
    if (!mkdir_p(cfg->store_dir)) return QA_FAIL(QA_ERR_IO, "FIX store directory %s: %s", cfg->store_dir, strerror(errno));
    if (cfg->log_dir[0] && !mkdir_p(cfg->log_dir))
        return QA_FAIL(QA_ERR_IO, "FIX log directory %s: %s", cfg->log_dir, strerror(errno));

    qa_fix *f = new (std::nothrow) qa_fix;
    if (!f) return QA_FAIL(QA_ERR_NOMEM, "FIX session");
    f->cfg = *cfg;
    f->cfg.host[sizeof f->cfg.host - 1] = 0;
    f->cfg.sender[sizeof f->cfg.sender - 1] = 0;
    f->cfg.target[sizeof f->cfg.target - 1] = 0;
    f->cfg.store_dir[sizeof f->cfg.store_dir - 1] = 0;
    f->cfg.log_dir[sizeof f->cfg.log_dir - 1] = 0;
    qa_status st = QA_OK;
    /* Port 0: a port found free here, retried should another process take it first. */
    int tries = (cfg->acceptor && cfg->port == 0) ? 5 : 1;
    for (int t = 0; t < tries; t++) {
        try {
            f->sid = FIX::SessionID(QA_FIX_BEGIN, f->cfg.sender, f->cfg.target);
            if (cfg->acceptor && cfg->port == 0) {
                f->cfg.port = free_port();
                if (f->cfg.port <= 0) {
                    st = QA_FAIL(QA_ERR_IO, "FIX acceptor: no free port: %s", strerror(errno));
                    break;
                }
            }
            build_and_start(f);
            st = QA_OK;
            break;
        } catch (...) {
            st = fail_exc(cfg->acceptor ? "starting the acceptor" : "starting the initiator");
            qa_err_prefix("%s->%s port %d: ", f->cfg.sender, f->cfg.target, f->cfg.port);
            teardown(f);
            if (st != QA_ERR_IO) break; /* a configuration error will not pass on a retry */
        }
    }
    if (st != QA_OK) {
        delete f;
        return st;
    }
    *out = f;
    return QA_OK;
}

void qa_fix_stop(qa_fix_t *f)
{
    if (!f) return;
    try {
        /* Initiator/Acceptor::stop(false) would wait for the logout in whole seconds (at
         * least one); log out here and wait for the peer's Logout on our condition. The
         * session writes the Logout on its next timer tick (QuickFIX's loop wakes every
         * second at most). */
        bool on;
        {
            std::lock_guard<std::mutex> l(f->mu);
            on = f->logged_on;
        }
        if (on && f->session) {
            f->session->logout();
            std::unique_lock<std::mutex> l(f->mu);
            f->cv.wait_for(l, std::chrono::milliseconds(2000), [f] { return !f->logged_on; });
        }
    } catch (...) {
    }
    teardown(f);
    delete f;
}

int qa_fix_port(const qa_fix_t *f)
{
    return f ? f->cfg.port : 0;
}

int qa_fix_logged_on(const qa_fix_t *f)
{
    if (!f) return 0;
    std::lock_guard<std::mutex> l(f->mu);
    return f->logged_on ? 1 : 0;
}

qa_status qa_fix_wait_logon(qa_fix_t *f, int timeout_ms)
{
    if (!f) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_fix_wait_logon: NULL handle");
    std::unique_lock<std::mutex> l(f->mu);
    if (!f->cv.wait_for(l, std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : 0), [f] { return f->logged_on; }))
        return QA_FAIL(QA_ERR_STATE, "FIX %s->%s: not logged on after %d ms", f->cfg.sender, f->cfg.target, timeout_ms);
    return QA_OK;
}

void qa_fix_get_stats(qa_fix_t *f, qa_fix_stats *out)
{
    if (!f || !out) return;
    std::lock_guard<std::mutex> l(f->mu);
    *out = f->stats;
}

int qa_fix_poll(qa_fix_t *f, int timeout_ms, qa_fix_msg_t **out)
{
    if (!f || !out) return 0;
    std::unique_lock<std::mutex> l(f->mu);
    if (!f->cv.wait_for(l, std::chrono::milliseconds(timeout_ms > 0 ? timeout_ms : 0), [f] { return !f->queue.empty(); }))
        return 0;
    *out = f->queue.front();
    f->queue.pop_front();
    return 1;
}

qa_fix_msg_t *qa_fix_msg_new(const char *msgtype)
{
    if (!check_value(msgtype)) return nullptr;
    try {
        std::unique_ptr<qa_fix_msg> m(new qa_fix_msg);
        m->m.getHeader().setField(FIX::FIELD::BeginString, QA_FIX_BEGIN);
        m->m.getHeader().setField(FIX::FIELD::MsgType, msgtype);
        return m.release();
    } catch (...) {
        fail_exc("new message");
        return nullptr;
    }
}

void qa_fix_msg_free(qa_fix_msg_t *m)
{
    delete m;
}

const char *qa_fix_msg_type(const qa_fix_msg_t *m)
{
    return qa_fix_msg_get(m, FIX::FIELD::MsgType);
}

qa_status qa_fix_msg_set(qa_fix_msg_t *m, int tag, const char *value)
{
    if (!m || tag <= 0 || !check_value(value))
        return QA_FAIL(QA_ERR_INVALID_ARG, "FIX field %d: empty value, SOH in the value or bad tag", tag);
    try {
        if (FIX::Message::isHeaderField(tag))
            m->m.getHeader().setField(tag, value);
        else if (FIX::Message::isTrailerField(tag))
            m->m.getTrailer().setField(tag, value);
        else
            m->m.setField(tag, value);
        return QA_OK;
    } catch (...) {
        return fail_exc("setting a field");
    }
}

qa_status qa_fix_msg_set_double(qa_fix_msg_t *m, int tag, double v)
{
    if (v != v || v - v != 0) return QA_FAIL(QA_ERR_INVALID_ARG, "FIX field %d: %g is not a finite number", tag, v);
    /* The shortest %.*g that reads back exactly (17 significant digits always do). */
    char buf[400];
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, v);
        if (strtod(buf, nullptr) == v) break;
    }
    if (p > 17) p = 17;
    const char *e = strchr(buf, 'e');
    if (e) {
        /* FIX floats have no exponent: the same digits in fixed notation. */
        int exp10 = (int)strtol(e + 1, nullptr, 10); /* our own %g output: a valid exponent */
        int decimals = p - 1 - exp10;
        snprintf(buf, sizeof buf, "%.*f", decimals > 0 ? decimals : 0, v);
    }
    return qa_fix_msg_set(m, tag, buf);
}

qa_status qa_fix_msg_set_int(qa_fix_msg_t *m, int tag, long long v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return qa_fix_msg_set(m, tag, buf);
}

const char *qa_fix_msg_get(const qa_fix_msg_t *m, int tag)
{
    if (!m || tag <= 0) return nullptr;
    try {
        if (m->m.isSetField(tag)) return m->m.getField(tag).c_str();
        if (m->m.getHeader().isSetField(tag)) return m->m.getHeader().getField(tag).c_str();
        if (m->m.getTrailer().isSetField(tag)) return m->m.getTrailer().getField(tag).c_str();
    } catch (...) {
    }
    return nullptr;
}

int qa_fix_msg_possdup(const qa_fix_msg_t *m)
{
    const char *v = qa_fix_msg_get(m, FIX::FIELD::PossDupFlag);
    return v && v[0] == 'Y' && !v[1];
}

int qa_fix_msg_seqnum(const qa_fix_msg_t *m)
{
    const char *v = qa_fix_msg_get(m, FIX::FIELD::MsgSeqNum);
    if (!v) return 0;
    char *end = nullptr;
    errno = 0;
    long n = strtol(v, &end, 10);
    return end != v && *end == '\0' && errno == 0 && n > 0 && n <= INT_MAX ? (int)n : 0;
}

static qa_status send_msg(qa_fix_t *f, qa_fix_msg_t *m, bool store_when_down)
{
    if (!f || !m) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_fix_send: NULL argument");
    try {
        if (!f->session) return QA_FAIL(QA_ERR_STATE, "FIX %s->%s: no session", f->cfg.sender, f->cfg.target);
        const char *type = qa_fix_msg_type(m);
        if (!type || FIX::Message::isAdminMsgType(FIX::MsgType(type)))
            return QA_FAIL(QA_ERR_INVALID_ARG, "FIX %s->%s: only application messages are sent here (MsgType %s)",
                           f->cfg.sender, f->cfg.target, type ? type : "(none)");
        if (!store_when_down && !f->session->isLoggedOn())
            return QA_FAIL(QA_ERR_STATE, "FIX %s->%s: not logged on", f->cfg.sender, f->cfg.target);
        /* Fields from an earlier send (or a received message being forwarded) would be
         * taken as this message's: QuickFIX fills the header afresh. */
        FIX::Header &h = m->m.getHeader();
        h.removeField(FIX::FIELD::MsgSeqNum);
        h.removeField(FIX::FIELD::PossDupFlag);
        h.removeField(FIX::FIELD::OrigSendingTime);
        if (!f->session->send(m->m))
            return QA_FAIL(QA_ERR_STATE, "FIX %s->%s: QuickFIX refused to send (session down and due for a reset)",
                           f->cfg.sender, f->cfg.target);
        return QA_OK;
    } catch (...) {
        return fail_exc("send");
    }
}

qa_status qa_fix_send(qa_fix_t *f, qa_fix_msg_t *m)
{
    return send_msg(f, m, false);
}

qa_status qa_fix_send_or_store(qa_fix_t *f, qa_fix_msg_t *m)
{
    return send_msg(f, m, true);
}

qa_status qa_fix_next_seqnums(qa_fix_t *f, int *next_sender, int *next_target)
{
    if (!f || !f->session) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_fix_next_seqnums: no session");
    try {
        int s = f->session->getExpectedSenderNum();
        int t = f->session->getExpectedTargetNum();
        if (next_sender) *next_sender = s;
        if (next_target) *next_target = t;
        return QA_OK;
    } catch (...) {
        return fail_exc("reading sequence numbers");
    }
}

qa_status qa_fix_set_next_target_seqnum(qa_fix_t *f, int n)
{
    if (!f || !f->session || n < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_fix_set_next_target_seqnum: %d", n);
    try {
        f->session->setNextTargetMsgSeqNum(n);
        return QA_OK;
    } catch (...) {
        return fail_exc("setting the next target seqnum");
    }
}

} /* extern "C" */
