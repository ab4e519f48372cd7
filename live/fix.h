/* FIX 4.4 sessions over QuickFIX (Debian's libquickfix 1.15.1), for C code: the broker
 * adapter is an initiator (connects host:port), the paper exchange an acceptor (listens).
 * One handle = one FIX session with QuickFIX's own threads; session-level protocol
 * (logon, heartbeats, test requests, resend requests, gap fills, sequence resets, logout)
 * is QuickFIX's; this API hands the caller application messages and sequence numbers.
 *
 * Threads: QuickFIX runs one thread per handle (its socket loop; it calls back into this
 * module, which queues application messages and counts session events). Every function
 * here may be called from any thread; a handle's poll should have one consumer.
 *
 * Persistence: sequence numbers and every sent message live in QuickFIX's FileStore under
 * store_dir (files named after BeginString-Sender-Target). A process restarted on the same
 * store_dir continues the session's sequence numbers, and resends what the peer asks for
 * (application messages again with PossDupFlag(43)=Y, OrigSendingTime(122); session
 * messages replaced by SequenceReset-GapFill). FileStore flushes its files after each
 * write but does not fsync: it survives a process kill, not a machine crash.
 *
 * Delivery contract on receipt: QuickFIX counts an incoming application message as
 * received (advances the next expected target seqnum) once this module has queued it in
 * memory. A caller that processes messages durably records the seqnum it processed last
 * (qa_fix_msg_seqnum) and, after a restart, sets next_target_seqnum to that + 1: QuickFIX
 * then sees a gap at logon and asks the peer to resend the rest (they arrive with
 * PossDup=Y; handle them idempotently, e.g. by ExecID).
 *
 * Validation: Debian ships no FIX44.xml data dictionary (not in libquickfix-dev nor
 * libquickfix17), so sessions run with UseDataDictionary=N: QuickFIX checks framing,
 * BodyLength, CheckSum, CompIDs, sequence numbers and SendingTime, but not which fields a
 * message type requires; fields are flat (repeating groups are not modelled here).
 *
 * Errors: QA_ERR_INVALID_ARG (bad argument), QA_ERR_CONFIG (QuickFIX refused the
 * settings), QA_ERR_IO (socket or store failure), QA_ERR_STATE (not logged on),
 * QA_ERR_NOT_FOUND (absent field), QA_ERR_NOMEM; the detail, with QuickFIX's exception
 * text, is in qa_err_msg(). No C++ exception crosses this interface. */
#ifndef QA_LIVE_FIX_H
#define QA_LIVE_FIX_H

#include "common/status.h" /* qa_status, QA_ERR_* */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_fix qa_fix_t;         /* one session, initiator or acceptor */
typedef struct qa_fix_msg qa_fix_msg_t; /* one FIX 4.4 message */

typedef struct qa_fix_cfg {
    int acceptor;                 /* 1: acceptor (listens on port), 0: initiator (connects host:port) */
    char host[64];                /* initiator: the acceptor's address (default "127.0.0.1") */
    int port;                     /* acceptor: 0 = a free port chosen here, read back with qa_fix_port() */
    char sender[32], target[32];  /* our SenderCompID(49) and the peer's, TargetCompID(56) */
    char store_dir[512];          /* FileStore directory (created): sequence numbers and sent messages */
    char log_dir[512];            /* FileLog directory ("" = no log): messages and session events */
    int heartbeat_s;              /* HeartBtInt(108) the initiator proposes (default 5) */
    int reconnect_s;              /* initiator: seconds between connection attempts (default 1) */
    int next_target_seqnum;       /* > 0: replaces the stored next expected incoming seqnum before
                                     connecting (see "Delivery contract" above); 0 = keep the store's */
} qa_fix_cfg;

/* Session events QuickFIX handled itself, counted since qa_fix_start. */
typedef struct qa_fix_stats {
    long logons, logouts;                         /* sessions begun / ended (Logout or disconnect) */
    long app_in;                                  /* application messages queued for qa_fix_poll */
    long app_out;                                 /* application messages written, resends included */
    long resend_requests_in, resend_requests_out; /* ResendRequest(2) received / sent */
    long gap_fills_in, gap_fills_out;             /* SequenceReset(4) GapFillFlag=Y received / sent */
    long seq_resets_in;                           /* SequenceReset(4) without GapFill (hard reset) received */
    long rejects_in, rejects_out;                 /* session Reject(3) received / sent */
    char last_text[256];                          /* Text(58) of the last Logout/Reject received, or "" */
} qa_fix_stats;

/* Defaults: initiator, 127.0.0.1, port 0, heartbeat 5 s, reconnect 1 s, no ids or dirs. */
void qa_fix_cfg_default(qa_fix_cfg *cfg);

/* Creates the session (loading store_dir), applies next_target_seqnum, and starts
 * QuickFIX's thread: an acceptor is listening when this returns, an initiator keeps
 * connecting every reconnect_s until logged on, and again after every disconnect.
 * QuickFIX registers sessions process-wide: one handle per (sender, target) pair per
 * process. Sessions are daily, 00:00-00:00 UTC: QuickFIX resets both sequences to 1 when
 * the stored session was created on an earlier UTC day. The caller owns *out
 * (qa_fix_stop). */
qa_status qa_fix_start(const qa_fix_cfg *cfg, qa_fix_t **out);
/* Logs out (waiting up to 2 s for the peer's Logout), stops the thread, closes the
 * store and frees the handle and any messages still queued. NULL is ignored. */
void qa_fix_stop(qa_fix_t *f);

/* The acceptor's listening port (the one chosen when cfg.port was 0); the initiator's
 * configured port. */
int qa_fix_port(const qa_fix_t *f);
/* 1 while a Logon has been exchanged both ways and no Logout/disconnect followed. */
int qa_fix_logged_on(const qa_fix_t *f);
/* Waits until logged on: QA_OK, or QA_ERR_STATE after timeout_ms. */
qa_status qa_fix_wait_logon(qa_fix_t *f, int timeout_ms);
/* Copies the event counters. */
void qa_fix_get_stats(qa_fix_t *f, qa_fix_stats *out);

/* Application messages received (QuickFIX's fromApp, resends included) are queued in
 * arrival order: takes the next one into *out (the caller owns it: qa_fix_msg_free) and
 * returns 1; 0 when none arrived within timeout_ms (0 = do not wait). */
int qa_fix_poll(qa_fix_t *f, int timeout_ms, qa_fix_msg_t **out);

/* A new FIX 4.4 message of MsgType(35) msgtype ("D", "F", "G", "H", "8", "AF", ...) with
 * an empty body; NULL when out of memory or msgtype is empty. The caller owns it. */
qa_fix_msg_t *qa_fix_msg_new(const char *msgtype);
void qa_fix_msg_free(qa_fix_msg_t *m);
/* MsgType(35); valid while m lives. */
const char *qa_fix_msg_type(const qa_fix_msg_t *m);
/* Sets (replaces) a body field; header tags (8, 9, 34, 35, 43, 49, 52, 56, 97, 122, ...)
 * go to the header. QA_ERR_INVALID_ARG for tag <= 0, NULL or empty value, or a value
 * holding SOH (\x01). */
qa_status qa_fix_msg_set(qa_fix_msg_t *m, int tag, const char *value);
/* A float field written in plain decimal (FIX allows no exponent) with the fewest digits
 * that read back to the same double (at most 17 significant): strtod(get) == v exactly.
 * QA_ERR_INVALID_ARG for NaN or infinity. */
qa_status qa_fix_msg_set_double(qa_fix_msg_t *m, int tag, double v);
qa_status qa_fix_msg_set_int(qa_fix_msg_t *m, int tag, long long v);
/* The field's text, looked up in the body, then the header, then the trailer; NULL if
 * absent. Valid until m is changed or freed. */
const char *qa_fix_msg_get(const qa_fix_msg_t *m, int tag);
/* 1 when PossDupFlag(43)=Y (a resend), else 0. */
int qa_fix_msg_possdup(const qa_fix_msg_t *m);
/* MsgSeqNum(34): set by QuickFIX on received messages and, after qa_fix_send, on sent
 * ones; 0 when absent or not a positive int. */
int qa_fix_msg_seqnum(const qa_fix_msg_t *m);

/* Sends an application message now. QA_ERR_STATE "not logged on" when the session is
 * down: the message is then neither sent nor stored. QA_OK means QuickFIX gave it the
 * next sender seqnum, stored it in store_dir and wrote it to the socket (should the
 * connection drop between the check and the write, it is in the store and goes out when
 * the peer asks for it after the next logon). m is not consumed: QuickFIX fills its
 * header (SenderCompID, TargetCompID, MsgSeqNum, SendingTime), readable afterwards. */
qa_status qa_fix_send(qa_fix_t *f, qa_fix_msg_t *m);
/* Like qa_fix_send, but when the session is down the message still takes the next
 * sender seqnum and is stored; it is delivered (PossDup=Y) when the peer logs on and
 * asks for the gap. For the exchange side: fills that happen while a client is away. */
qa_status qa_fix_send_or_store(qa_fix_t *f, qa_fix_msg_t *m);

/* Sequence numbers, for recovery. next_sender: the seqnum our next message will carry;
 * next_target: the one expected from the peer next. Either pointer may be NULL.
 * QuickFIX advances next_target after its callback returns, so just after qa_fix_poll
 * handed a message over it may still name that message. An initiator's every
 * connection attempt writes a Logon that takes a sender seqnum, also when the connect
 * is refused; the peer sees a gap at the next logon and QuickFIX gap-fills it. */
qa_status qa_fix_next_seqnums(qa_fix_t *f, int *next_sender, int *next_target);
/* Sets the next expected incoming seqnum (n >= 1) and stores it. Lowering it makes
 * QuickFIX ask for a resend of [n, ...] at the next message it receives, at logon or
 * during the session; prefer cfg.next_target_seqnum at restart (applied before the
 * first connection). */
qa_status qa_fix_set_next_target_seqnum(qa_fix_t *f, int n);

#ifdef __cplusplus
}
#endif
#endif
