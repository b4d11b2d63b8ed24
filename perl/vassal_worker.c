/*
 * vassal_worker.c - a worker's hot path in C: accept, read, parse (HTTP/1.x
 * or the uwsgi protocol), build the PSGI env, call the app, write the
 * response. Only what is not the common case - delayed and streaming
 * responses, bodies that are file handles or objects - goes back to Perl
 * (Vassal::Worker::respond) through a Vassal::Conn object.
 *
 * Why C: a Perl loop spends most of a small request's time in select(),
 * method calls and building strings; here a keep-alive request costs one
 * epoll_wait, one read, one send and the app call.
 *
 * Connections that wait - for the rest of a request, or idle between
 * keep-alive requests - sit in the worker's epoll set beside the listening
 * sockets, so a slow or idle client never keeps the worker from serving
 * others. A request whose head is complete is served at once, blocking,
 * with socket-timeout bounding every wait for the client.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <errno.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <poll.h>
#include <fcntl.h>
#include <unistd.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include "vassal.h"
#include "vassal_worker.h"

#define K_LISTENER 1
#define K_CONN     2
#define K_WAKE     3

#define LIST_NONE    0
#define LIST_PARTIAL 1      /* part of a request arrived: socket-timeout */
#define LIST_IDLE    2      /* between keep-alive requests: keepalive-timeout */
#define LIST_LINGER  3      /* response sent, write side shut: reading what the client still sends */
#define LIST_LAST    LIST_LINGER

#define INITIAL_BUF     4096
#define SCRATCH_SIZE    65536
#define SMALL_RESPONSE  65536   /* head and body copied into one send() */
#define CHUNK_LINE_MAX  4096
#define LINGER_SECONDS  0.5     /* after a closing response, read what the client still sends */
#define LINGER_BYTES    (256 * 1024)
#define UWSGI_MAX_PACKET (4 + 65535)
#define POOL_MAX        64      /* closed connection structs kept for reuse */
#define ACCEPT_BATCH    16      /* connections accepted in a row while each one is done at once */
#define LIMIT_POST_DEFAULT (1024 * 1024 * 1024)   /* limit_post not given: 1 GiB (0: none) */
#define MAX_CONNS_DEFAULT  1024    /* max_connections not given */
#define BODY_TIMEOUT_DEFAULT 300    /* body_timeout not given */
#define EMPTY_LINES_MAX 4       /* empty lines taken before a request line (RFC 9112 2.2: at least one) */

#define CLOCK_NONE 0
#define CLOCK_HEAD 1
#define CLOCK_BODY 2

typedef struct { char *p; size_t len, cap; } vbuf;

typedef struct {
    int kind;
    int fd;
    int proto;
    int is_unix;
    SV *server_name;
    SV *server_port;
} vlistener;

typedef struct vconn {
    int kind;
    int fd;
    vlistener *l;
    char *buf;
    size_t len, cap, scan;
    double deadline;
    int list;
    int registered;
    int closed;
    int more;                       /* the last read filled all the room: more may be waiting */
    int lingering;                  /* in LIST_LINGER */
    size_t lingered;                /* bytes read and dropped while lingering */
    UV nreq;
    struct vconn *prev, *next;      /* in W.lists[list] */
    /* the request's clock: the head's (header-timeout), running from the
     * accept, or on a keep-alive connection from the first byte after the
     * previous request, until the head is complete; then the body's
     * (body-timeout) until the body is complete. In W.clocks[clock]. */
    int clock;                      /* CLOCK_NONE, CLOCK_HEAD or CLOCK_BODY */
    double clock_deadline;
    struct vconn *cprev, *cnext;
    struct vbody *body;             /* the request whose body is being read */
    int empty_lines;                /* before this request line */
    struct vconn *dead_next;        /* in W.graveyard */
    int port;
    char addr[INET6_ADDRSTRLEN + 1];
} vconn;

typedef struct { vconn *head, *tail; } vlist;

typedef struct {
    IV content_length;      /* -1: none */
    const char *why;        /* what env_from_http refused the request for */
    int chunked;
    int bad_te;
    int te_codings, te_chunked, te_last_chunked;
    int conn_close;
    int conn_keepalive;
    int expect_continue;
} vreqinfo;

/* the keys of the env that every request has, with their hashes computed once */
enum {
    E_REQUEST_METHOD, E_SCRIPT_NAME, E_PATH_INFO, E_REQUEST_URI, E_QUERY_STRING,
    E_SERVER_NAME, E_SERVER_PORT, E_SERVER_PROTOCOL, E_REMOTE_ADDR, E_REMOTE_PORT,
    E_CONTENT_LENGTH, E_CONTENT_TYPE,
    E_PSGI_VERSION, E_PSGI_URL_SCHEME, E_PSGI_INPUT, E_PSGI_ERRORS,
    E_PSGI_MULTITHREAD, E_PSGI_MULTIPROCESS, E_PSGI_RUN_ONCE, E_PSGI_NONBLOCKING,
    E_PSGI_STREAMING, E_PSGIX_INPUT_BUFFERED, E_PSGIX_HARAKIRI, E_PSGIX_HARAKIRI_COMMIT,
    E_PSGIX_CLEANUP, E_PSGIX_CLEANUP_HANDLERS, E_PSGIX_IO,
    E_HTTP_TRANSFER_ENCODING, E_HTTP_CONTENT_LENGTH, E_HTTP_CONTENT_TYPE,
    E_HTTPS, E_UWSGI_SCHEME, E_REQUEST_SCHEME,
    E_COUNT
};
static const char *env_key[E_COUNT] = {
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "REQUEST_URI", "QUERY_STRING",
    "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT",
    "CONTENT_LENGTH", "CONTENT_TYPE",
    "psgi.version", "psgi.url_scheme", "psgi.input", "psgi.errors",
    "psgi.multithread", "psgi.multiprocess", "psgi.run_once", "psgi.nonblocking",
    "psgi.streaming", "psgix.input.buffered", "psgix.harakiri", "psgix.harakiri.commit",
    "psgix.cleanup", "psgix.cleanup.handlers", "psgix.io",
    "HTTP_TRANSFER_ENCODING", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE",
    "HTTPS", "UWSGI_SCHEME", "REQUEST_SCHEME",
};
static I32 env_key_len[E_COUNT];
static U32 env_key_hash[E_COUNT];
static int env_keys_ready = 0;

#define ESTORE(hv, k, v)  (void)hv_store((hv), env_key[k], env_key_len[k], (v), env_key_hash[k])
#define EFETCH(hv, k)     hv_fetch((hv), env_key[k], env_key_len[k], 0)
#define EDELETE(hv, k)    (void)hv_delete((hv), env_key[k], env_key_len[k], G_DISCARD)

static struct {
    int running;
    vlistener *ls;
    int nls;
    SV *app;
    SV *slow;
    GV *stderr_gv;
    AV *psgi_version;
    SV *empty_input;
    HV *conn_stash, *input_stash, *inet_stash, *unix_stash;
    double socket_timeout, keepalive_timeout;
    double header_timeout;          /* header-timeout: a request head's total time */
    int underscores_in_headers;     /* http-underscores-in-headers */
    UV buffer_size, limit_post, post_buffering, max_requests;
    int status_fd;
    vassal_slot *slot;
    char name[256];
    char tmpdir[1024];
    int epfd;
    int wake_r, wake_w;
    int wake_kind;
    int max_conns, nconns;
    vlist lists[LIST_LAST + 1];
    vlist clocks[CLOCK_BODY + 1];   /* connections whose clock runs, by clock_deadline */
    double body_timeout;            /* body-timeout: a request body's total time */
    vconn *graveyard;
    vconn *pool;            /* closed connections kept for reuse, with their buffers */
    int npool;
    UV served;
    UV serial;
    int told_served;
    const char *stop_reason;
    /* the master's death (PDEATHSIG SIGQUIT, see on_stop_signal) */
    pid_t master_pid;
    double orphan_timeout;
    int orphan_timer_state;     /* 0 none, 1 created, 2 armed */
    timer_t orphan_timer;
    vbuf out;
    vbuf key;
    char *scratch;
    struct {
        UV serial;
        int active;
        vconn *c;
        int proto;
        int minor;
        char protocol[16];
        int head;
        int keepalive;
        int started, finished, chunked, skip_body, failed;
        int io_taken;
    } r;
} W;

static volatile sig_atomic_t vassal_stop_signal = 0;

/* ------------------------------------------------------------------ small */

double
vassal_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
vbuf_reserve(vbuf *b, size_t more)
{
    if (b->len + more > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + more) cap *= 2;
        Renew(b->p, cap, char);
        b->cap = cap;
    }
}

static void
vbuf_add(vbuf *b, const char *s, size_t n)
{
    vbuf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define vbuf_adds(b, lit) vbuf_add((b), "" lit, sizeof(lit) - 1)

static void
vbuf_addnum(vbuf *b, UV n)
{
    char tmp[32];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    vbuf_add(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* One log line on STDERR, "[name pid N] message", written with one write(). */
static void
vlog(const char *fmt, ...)
{
    char buf[4096];
    int n = snprintf(buf, sizeof(buf), "[%s pid %d] ", W.name[0] ? W.name : "psgi-vassal", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2) n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    if (write(2, buf, (size_t)n) < 0) { /* nowhere left to complain */ }
}

/* Logs a Perl error (possibly several lines), each line prefixed. */
static void
vlog_sv(pTHX_ const char *what, SV *err)
{
    STRLEN len;
    const char *p = SvPV(err, len);
    const char *end = p + len;
    int first = 1;
    while (len && (end[-1] == '\n')) { end--; len--; }
    while (p < end || first) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (first) vlog("%s: %.*s", what, (int)(e - p), p);
        else       vlog("%.*s", (int)(e - p), p);
        first = 0;
        if (!nl) break;
        p = nl + 1;
    }
}

/* Waits until fd is ready for events, at most timeout seconds; a signal
 * does not shorten the wait. 1 ready, 0 timeout, -1 error. */
static int
wait_fd(int fd, short events, double timeout)
{
    double deadline = vassal_monotonic() + timeout;
    for (;;) {
        struct pollfd p;
        double left = deadline - vassal_monotonic();
        int rc;
        if (left <= 0) return 0;
        p.fd = fd;
        p.events = events;
        p.revents = 0;
        rc = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (rc > 0) return 1;
        if (rc == 0) continue;
        if (errno == EINTR) continue;
        return -1;
    }
}

/* Reads at most max bytes, waiting up to timeout for some.
 * >0 bytes, 0 EOF, -1 error, -2 timeout. */
static ssize_t
recv_some(int fd, char *dst, size_t max, double timeout)
{
    for (;;) {
        ssize_t n = read(fd, dst, max);
        int w;
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        w = wait_fd(fd, POLLIN, timeout);
        if (w == 0) return -2;
        if (w < 0) return -1;
    }
}

/* Sends everything; 0, or -1 with errno (ETIMEDOUT when the client stopped
 * reading). flags: MSG_MORE when the connection is closed right after, so
 * that the FIN close() adds leaves in the same segment as the data. */
static int
sendv_all_flags(int fd, struct iovec *iov, int cnt, double timeout, int flags)
{
    while (cnt > 0) {
        struct msghdr m;
        ssize_t n;
        memset(&m, 0, sizeof(m));
        m.msg_iov = iov;
        m.msg_iovlen = (size_t)(cnt > 64 ? 64 : cnt);
        n = sendmsg(fd, &m, MSG_NOSIGNAL | flags);
        if (n < 0) {
            int w;
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
            w = wait_fd(fd, POLLOUT, timeout);
            if (w == 0) { errno = ETIMEDOUT; return -1; }
            if (w < 0) return -1;
            continue;
        }
        while (cnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0 && n > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

static int
sendv_all(int fd, struct iovec *iov, int cnt, double timeout)
{
    return sendv_all_flags(fd, iov, cnt, timeout, 0);
}

static int
send_all(int fd, const char *p, size_t len, double timeout)
{
    struct iovec iov;
    iov.iov_base = (void *)p;
    iov.iov_len = len;
    if (!len) return 0;
    return sendv_all(fd, &iov, 1, timeout);
}

/* ------------------------------------------------------------ connections */

static void
list_remove(vconn *c)
{
    vlist *l;
    if (!c->list) return;
    l = &W.lists[c->list];
    if (c->prev) c->prev->next = c->next; else l->head = c->next;
    if (c->next) c->next->prev = c->prev; else l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = LIST_NONE;
}

static void
list_append(vconn *c, int which, double deadline)
{
    vlist *l = &W.lists[which];
    c->list = which;
    c->deadline = deadline;
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail) l->tail->next = c; else l->head = c;
    l->tail = c;
}

/* A request's clocks, the head's and then the body's: each started once,
 * never restarted by what arrives, so that a client sending its request a
 * byte (or an empty line) at a time cannot hold the connection longer than
 * header-timeout or body-timeout. Every clock of a kind runs for the same
 * time from when it starts: each of W.clocks is in deadline order by
 * appending. */
static void
clock_start(vconn *c, int which, double timeout, double now)
{
    vlist *l = &W.clocks[which];
    if (c->clock) return;
    c->clock = which;
    c->clock_deadline = now + timeout;
    c->cprev = l->tail;
    c->cnext = NULL;
    if (l->tail) l->tail->cnext = c; else l->head = c;
    l->tail = c;
}

static void
clock_stop(vconn *c)
{
    vlist *l = &W.clocks[c->clock];
    if (!c->clock) return;
    if (c->cprev) c->cprev->cnext = c->cnext; else l->head = c->cnext;
    if (c->cnext) c->cnext->cprev = c->cprev; else l->tail = c->cprev;
    c->cprev = c->cnext = NULL;
    c->clock = CLOCK_NONE;
}

static void
head_clock_start(vconn *c, double now)
{
    clock_start(c, CLOCK_HEAD, W.header_timeout, now);
}

static void
head_clock_stop(vconn *c)
{
    if (c->clock == CLOCK_HEAD) clock_stop(c);
    c->empty_lines = 0;
}

static void body_discard(vconn *c);

static void
conn_close(vconn *c)
{
    if (c->closed) return;
    list_remove(c);
    clock_stop(c);
    body_discard(c);
    /* an fd the app dup()ed (psgix.io) would keep the epoll registration alive */
    if (c->registered) epoll_ctl(W.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->closed = 1;
    W.nconns--;
    c->dead_next = W.graveyard;
    W.graveyard = c;
}

static void
bury(void)
{
    while (W.graveyard) {
        vconn *c = W.graveyard;
        W.graveyard = c->dead_next;
        if (W.npool < POOL_MAX && c->cap == INITIAL_BUF) {
            c->dead_next = W.pool;    /* buffer and all: no malloc for the next one */
            W.pool = c;
            W.npool++;
        }
        else {
            Safefree(c->buf);
            Safefree(c);
        }
    }
}

static vconn *
conn_new(void)
{
    vconn *c = W.pool;
    char *buf;
    if (c) {
        W.pool = c->dead_next;
        W.npool--;
        buf = c->buf;
    }
    else {
        Newx(c, 1, vconn);
        Newx(buf, INITIAL_BUF, char);
    }
    memset(c, 0, sizeof(*c));
    c->buf = buf;
    c->cap = INITIAL_BUF;
    return c;
}

/* Reads and drops what the client sent after the response, without
 * waiting. Returns 1 when that is over (EOF, an error, too much) and the
 * connection was closed, 0 when the client may still be sending. */
static int
linger_drain(vconn *c)
{
    for (;;) {
        ssize_t n = read(c->fd, W.scratch, SCRATCH_SIZE);
        if (n > 0) {
            c->lingered += (size_t)n;
            if (c->lingered < LINGER_BYTES) continue;
        }
        else if (n < 0 && errno == EINTR) continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        conn_close(c);
        return 1;
    }
}

static int conn_park(vconn *c, int which);

/* Closes a connection the client may still be sending on (an error
 * response before the whole request was read, pipelined requests that will
 * not be served, a close the client did not ask for) in stages, as RFC 9112
 * 9.6 says: shut the write side (the FIN follows the response at once), read
 * and drop what still comes until the client's FIN, LINGER_SECONDS or
 * LINGER_BYTES, then close - so that the response is not destroyed by the
 * TCP reset that closing with unread data sends. The reading waits in the
 * epoll set (LIST_LINGER), not in the worker, unless the worker is about
 * to stop. */
static void
conn_close_lingering(vconn *c)
{
    double deadline;
    if (c->closed) return;
    list_remove(c);
    clock_stop(c);
    body_discard(c);
    shutdown(c->fd, SHUT_WR);
    c->len = 0;
    if (!W.stop_reason && !vassal_stop_signal) {
        if (linger_drain(c)) return;
        c->lingering = 1;
        conn_park(c, LIST_LINGER);
        return;
    }
    /* the worker stops after this: its epoll set goes with it */
    deadline = vassal_monotonic() + LINGER_SECONDS;
    while (!linger_drain(c)) {
        double left = deadline - vassal_monotonic();
        if (left <= 0 || wait_fd(c->fd, POLLIN, left) <= 0) {
            conn_close(c);
            return;
        }
    }
}

static int
conn_park(vconn *c, int which)
{
    if (!c->registered) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = c;
        if (epoll_ctl(W.epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            vlog("epoll_ctl(ADD) failed: %s", strerror(errno));
            conn_close(c);
            return -1;
        }
        c->registered = 1;
    }
    list_append(c, which, vassal_monotonic()
                + (which == LIST_IDLE ? W.keepalive_timeout
                   : which == LIST_LINGER ? LINGER_SECONDS : W.socket_timeout));
    return 0;
}

static size_t
conn_limit(vconn *c)
{
    if (c->l->proto == VASSAL_PROTO_UWSGI)
        return W.buffer_size + 4 < UWSGI_MAX_PACKET ? W.buffer_size + 4 : UWSGI_MAX_PACKET;
    return W.buffer_size;
}

/* Reads into c->buf, growing it up to limit bytes. >0 bytes, 0 EOF, -1
 * error, -2 timeout, -3 the buffer is at its limit, -4 nothing there
 * (timeout 0 = do not wait). */
static ssize_t
conn_read(vconn *c, size_t limit, double timeout)
{
    if (c->len >= limit) return -3;
    if (c->len == c->cap) {
        size_t cap = c->cap * 2;
        if (cap > limit) cap = limit;
        Renew(c->buf, cap, char);
        c->cap = cap;
    }
    for (;;) {
        size_t room = (c->cap < limit ? c->cap : limit) - c->len;
        ssize_t n = read(c->fd, c->buf + c->len, room);
        int w;
        if (n > 0) { c->len += (size_t)n; c->more = (size_t)n == room; return n; }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (timeout <= 0) return -4;
        w = wait_fd(c->fd, POLLIN, timeout);
        if (w == 0) return -2;
        if (w < 0) return -1;
    }
}

/* Drops the first *pos bytes of c->buf (a request that was served). */
static void
conn_consume(vconn *c, size_t *pos)
{
    if (*pos >= c->len) c->len = 0;
    else if (*pos) {
        memmove(c->buf, c->buf + *pos, c->len - *pos);
        c->len -= *pos;
    }
    *pos = 0;
    c->scan = 0;
}

/* An error response (closing the connection) into buf; returns its length. */
static size_t
error_response(char *buf, size_t size, int status)
{
    const char *reason = vassal_status_reason(status);
    int blen = (int)strlen(reason) + 1;
    int n = snprintf(buf, size,
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %d\r\n\r\n%s\n", status, reason, blen, reason);
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

static void
send_error(vconn *c, int status)
{
    char buf[512];
    send_all(c->fd, buf, error_response(buf, sizeof(buf), status), W.socket_timeout);
}

/* An error response sent only if the socket takes it at once: for a
 * client too slow to wait for. */
static void
send_error_now(vconn *c, int status)
{
    char buf[512];
    size_t n = error_response(buf, sizeof(buf), status);
    if (send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* the client will see the close */ }
}

static void
refuse(vconn *c, int status, const char *why)
{
    vlog("bad request: %s", why);
    send_error(c, status);
    conn_close_lingering(c);
}

/* ----------------------------------------------------------------- input */

static int
open_tmp(void)
{
    int fd;
#ifdef O_TMPFILE
    fd = open(W.tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
#endif
    {
        char path[1100];
        snprintf(path, sizeof(path), "%s/vassal-body-XXXXXX", W.tmpdir);
        fd = mkstemp(path);
        if (fd < 0) return -1;
        unlink(path);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return fd;
}

static int
pwrite_all(int fd, const char *p, size_t len, Off_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* Moves an in-memory body to a temporary file (it grew over post-buffering). */
static int
input_spill(pTHX_ vassal_input *in)
{
    int fd = open_tmp();
    if (fd < 0) {
        vlog("cannot create a temporary file in %s for a request body: %s", W.tmpdir, strerror(errno));
        return -1;
    }
    if (in->data && SvCUR(in->data) && pwrite_all(fd, SvPVX(in->data), SvCUR(in->data), 0) < 0) {
        vlog("cannot write a request body to a temporary file: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (in->data) SvREFCNT_dec(in->data);
    in->data = NULL;
    in->fd = fd;
    return 0;
}

static int
input_append(pTHX_ vassal_input *in, const char *p, size_t n)
{
    if (!n) return 0;
    if (in->data && (UV)(SvCUR(in->data) + n) > W.post_buffering && input_spill(aTHX_ in) < 0)
        return -1;
    if (in->data) sv_catpvn(in->data, p, n);
    else if (pwrite_all(in->fd, p, n, in->size) < 0) {
        vlog("cannot write a request body to a temporary file: %s", strerror(errno));
        return -1;
    }
    in->size += (Off_t)n;
    return 0;
}

static vassal_input *
input_alloc(pTHX_ size_t expect)
{
    vassal_input *in;
    Newxz(in, 1, vassal_input);
    in->fd = -1;
    in->data = newSV(expect + 1);
    SvPOK_only(in->data);
    SvCUR_set(in->data, 0);
    *SvPVX(in->data) = '\0';
    return in;
}

static SV *
input_wrap(pTHX_ vassal_input *in, HV *stash)
{
    SV *obj = newSViv(PTR2IV(in));
    SV *rv = newRV_noinc(obj);
    sv_bless(rv, stash);
    return rv;
}

SV *
vassal_input_new_sv(pTHX_ const char *data, STRLEN len)
{
    vassal_input *in;
    Newxz(in, 1, vassal_input);
    in->fd = -1;
    in->data = newSVpvn(data, len);
    in->size = (Off_t)len;
    return input_wrap(aTHX_ in, gv_stashpvs("Vassal::Input", GV_ADD));
}

vassal_input *
vassal_input_from(pTHX_ SV *self)
{
    vassal_input *in;
    if (!SvROK(self) || !sv_derived_from(self, "Vassal::Input"))
        croak("not a Vassal::Input");
    in = INT2PTR(vassal_input *, SvIV(SvRV(self)));
    if (!in) croak("this Vassal::Input was destroyed");
    return in;
}

SSize_t
vassal_input_read(pTHX_ vassal_input *in, char *dst, size_t len)
{
    size_t n;
    if (in->pos >= in->size) return 0;
    n = (size_t)(in->size - in->pos);
    if (n > len) n = len;
    if (in->data) {
        memcpy(dst, SvPVX(in->data) + in->pos, n);
    }
    else {
        size_t got = 0;
        while (got < n) {
            ssize_t r = pread(in->fd, dst + got, n - got, in->pos + (Off_t)got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        n = got;
    }
    in->pos += (Off_t)n;
    return (SSize_t)n;
}

/* A request body being read in the event loop, before the app is called:
 * the connection waits in the epoll set like any other (LIST_PARTIAL, each
 * wait within socket-timeout) with its body clock running (body-timeout in
 * all), so a slow client holds a connection but never the worker. The env
 * is built from the head before (the head's bytes are gone by then). */
typedef struct vbody {
    SV *envrv;              /* the request's env, owned until the app is called */
    vassal_input *in;       /* its psgi.input */
    int chunked;
    int chunk_state;        /* chunked: which part of the framing comes next */
    UV left;                /* bytes still to come: of the body, or of this chunk */
    UV total;               /* chunked: data bytes so far */
    size_t trailer;         /* chunked: trailer bytes so far */
    /* for the response */
    UV serial;
    int keep, proto, minor, is_head;
    char protocol[16];
} vbody;

enum { CHUNK_SIZE_LINE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER };

/* Where reading a body stands. */
typedef enum {
    BODY_COMPLETE,          /* the app can be called */
    BODY_NEED_MORE,         /* the socket has nothing more for now */
    BODY_CLIENT_GONE,       /* EOF, a read error: close quietly */
    BODY_MALFORMED,         /* 400: bad chunked framing */
    BODY_TOO_LARGE,         /* 413: over limit-post */
    BODY_STORE_FAILED       /* 500: no memory or temporary file for it */
} body_state;

/* Frees a connection's unfinished body and the env it was for. */
static void
body_discard(vconn *c)
{
    vbody *b = c->body;
    if (!b) return;
    {
        dTHX;
        c->body = NULL;
        SvREFCNT_dec(b->envrv);
        Safefree(b);
    }
}

/* Takes the Content-Length body's bytes that are in c->buf. */
static body_state
length_take(pTHX_ vconn *c, vbody *b)
{
    size_t take = c->len < b->left ? c->len : (size_t)b->left;
    if (input_append(aTHX_ b->in, c->buf, take) < 0) return BODY_STORE_FAILED;
    b->left -= take;
    conn_consume(c, &take);     /* take is 0 after this */
    return b->left ? BODY_NEED_MORE : BODY_COMPLETE;
}

/* A chunk-size line (chunk-size [ chunk-ext ], its CRLF already checked
 * and cut) into *size; 0 when it is malformed. */
static int
chunk_size_line(const char *p, const char *e, UV *size)
{
    int digits = 0;
    *size = 0;
    while (p < e) {
        int v;
        char ch = *p;
        if (ch >= '0' && ch <= '9') v = ch - '0';
        else if (ch >= 'a' && ch <= 'f') v = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
        else break;
        if (++digits > 15) return 0;
        *size = *size * 16 + (UV)v;
        p++;
    }
    if (!digits) return 0;
    while (p < e && (*p == ' ' || *p == '\t')) p++;
    if (p < e) {
        if (*p != ';') return 0;
        for (; p < e; p++) {
            unsigned char ch = (unsigned char)*p;
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 0;
        }
    }
    return 1;
}

/* Takes what c->buf holds of a chunked body, a whole framing line (or the
 * CRLF after a chunk's data) at a time: an incomplete one stays in c->buf
 * until more arrives. */
static body_state
chunked_take(pTHX_ vconn *c, vbody *b)
{
    size_t pos = 0;
    body_state st = BODY_NEED_MORE;
    for (;;) {
        size_t avail = c->len - pos;
        const char *s = c->buf + pos, *nl;
        size_t l;
        if (b->chunk_state == CHUNK_DATA) {
            size_t take = avail < b->left ? avail : (size_t)b->left;
            if (!b->left) { b->chunk_state = CHUNK_DATA_END; continue; }
            if (!avail) break;
            if (input_append(aTHX_ b->in, s, take) < 0) { st = BODY_STORE_FAILED; break; }
            pos += take;
            b->left -= take;
            continue;
        }
        if (b->chunk_state == CHUNK_DATA_END) {
            if (avail && s[0] != '\r') { st = BODY_MALFORMED; break; }
            if (avail < 2) break;
            if (s[1] != '\n') { st = BODY_MALFORMED; break; }
            pos += 2;
            b->chunk_state = CHUNK_SIZE_LINE;
            continue;
        }
        /* a chunk-size line or a trailer field: framing lines end with CRLF,
         * no bare-LF leniency here */
        if (!(nl = memchr(s, '\n', avail))) {
            if (avail > (b->chunk_state == CHUNK_SIZE_LINE ? CHUNK_LINE_MAX : W.buffer_size))
                st = BODY_MALFORMED;
            break;
        }
        l = (size_t)(nl - s);
        if (!l || s[l - 1] != '\r') { st = BODY_MALFORMED; break; }
        l--;
        pos += l + 2;
        if (b->chunk_state == CHUNK_TRAILER) {     /* dropped, up to an empty line */
            if (!l) { st = BODY_COMPLETE; break; }
            b->trailer += l;
            if (b->trailer > W.buffer_size) { st = BODY_MALFORMED; break; }
            continue;
        }
        if (!chunk_size_line(s, s + l, &b->left)) { st = BODY_MALFORMED; break; }
        if (!b->left) { b->chunk_state = CHUNK_TRAILER; continue; }
        if (W.limit_post && b->total + b->left > W.limit_post) { st = BODY_TOO_LARGE; break; }
        b->total += b->left;
        b->chunk_state = CHUNK_DATA;
    }
    conn_consume(c, &pos);
    return st;
}

/* Reads without waiting. >0 bytes, 0 EOF, -1 error, -4 nothing there. */
static ssize_t
read_now(int fd, char *dst, size_t max)
{
    for (;;) {
        ssize_t n = read(fd, dst, max);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? -4 : -1;
    }
}

/* Reads c's body as far as the socket has it, without waiting. A
 * Content-Length body kept in memory is read straight into its SV, one
 * spooled through the scratch buffer; a chunked one through c->buf (its
 * framing is parsed there), at most buffer-size or 16 KiB. */
static body_state
body_pump(pTHX_ vconn *c)
{
    vbody *b = c->body;
    size_t chunk_room = W.buffer_size > 16384 ? W.buffer_size : 16384;
    for (;;) {
        body_state st = b->chunked ? chunked_take(aTHX_ c, b) : length_take(aTHX_ c, b);
        ssize_t r;
        if (st != BODY_NEED_MORE) return st;
        if (b->chunked) {
            r = conn_read(c, chunk_room, 0);
            if (r == -3) return BODY_MALFORMED;     /* a framing line that fills it */
        }
        else if (b->in->data) {
            r = read_now(c->fd, SvPVX(b->in->data) + SvCUR(b->in->data), (size_t)b->left);
            if (r > 0) {
                c->more = (UV)r == b->left;
                SvCUR_set(b->in->data, SvCUR(b->in->data) + (STRLEN)r);
                b->in->size += r;
                b->left -= (UV)r;
            }
        }
        else {
            r = read_now(c->fd, W.scratch, b->left < SCRATCH_SIZE ? (size_t)b->left : SCRATCH_SIZE);
            if (r > 0) {
                c->more = (UV)r == b->left || r == SCRATCH_SIZE;
                if (input_append(aTHX_ b->in, W.scratch, (size_t)r) < 0) return BODY_STORE_FAILED;
                b->left -= (UV)r;
            }
        }
        if (r == -4) return BODY_NEED_MORE;
        if (r <= 0) return BODY_CLIENT_GONE;
    }
}

/* Starts reading a body for the request whose env is envrv: Content-Length
 * bytes, or chunked when length < 0. The env's psgi.input is set here. */
static vbody *
body_begin(pTHX_ vconn *c, SV *envrv, IV length)
{
    vbody *b;
    vassal_input *in = input_alloc(aTHX_ length > 0 && length <= (IV)W.post_buffering ? (size_t)length : 0);
    ESTORE((HV *)SvRV(envrv), E_PSGI_INPUT, input_wrap(aTHX_ in, W.input_stash));
    Newxz(b, 1, vbody);
    b->envrv = SvREFCNT_inc_simple_NN(envrv);
    b->in = in;
    b->serial = W.serial;
    if (length < 0) {
        b->chunked = 1;
        b->chunk_state = CHUNK_SIZE_LINE;
    }
    else
        b->left = (UV)length;
    c->body = b;
    clock_start(c, CLOCK_BODY, W.body_timeout, vassal_monotonic());
    if (length > (IV)W.post_buffering && input_spill(aTHX_ in) < 0) {
        body_discard(c);
        return NULL;
    }
    return b;
}

static int run_request(pTHX_ vconn *c, SV *envrv, int keepalive);

/* The body is complete: calls the app. Returns run_request's answer. */
static int
body_run(pTHX_ vconn *c)
{
    vbody *b = c->body;
    HV *env = (HV *)SvRV(b->envrv);
    int rc;
    c->body = NULL;
    clock_stop(c);
    if (b->in->data) SvPVX(b->in->data)[SvCUR(b->in->data)] = '\0';
    if (b->chunked) {
        EDELETE(env, E_HTTP_TRANSFER_ENCODING);
        ESTORE(env, E_CONTENT_LENGTH, newSVuv(b->total));
    }
    W.r.serial = b->serial;
    W.r.proto = b->proto;
    W.r.minor = b->minor;
    W.r.head = b->is_head;
    memcpy(W.r.protocol, b->protocol, sizeof(W.r.protocol));
    ENTER;
    SAVETMPS;
    rc = run_request(aTHX_ c, sv_2mortal(b->envrv), b->keep);
    FREETMPS;
    LEAVE;
    Safefree(b);
    return rc;
}

/* Reads what has come of c's body; calls the app when it is complete,
 * parks the connection when more must come, refuses the request when the
 * body is bad. Returns 1 when the connection can take another request. */
static int
body_advance(pTHX_ vconn *c)
{
    body_state st = body_pump(aTHX_ c);
    switch (st) {
    case BODY_COMPLETE:
        return body_run(aTHX_ c);
    case BODY_NEED_MORE:
        conn_park(c, LIST_PARTIAL);
        return 0;
    case BODY_CLIENT_GONE:
        conn_close(c);
        return 0;
    case BODY_MALFORMED:
        refuse(c, 400, "malformed chunked body");
        return 0;
    case BODY_TOO_LARGE:
        vlog("chunked request body over limit-post (%" UVuf ")", W.limit_post);
        refuse(c, 413, "body too large");
        return 0;
    case BODY_STORE_FAILED:
        refuse(c, 500, "cannot store the body");
        return 0;
    }
    return 0;
}

/* --------------------------------------------------------------- the env */

static void
env_keys_init(pTHX)
{
    int i;
    if (env_keys_ready) return;
    for (i = 0; i < E_COUNT; i++) {
        env_key_len[i] = (I32)strlen(env_key[i]);
        PERL_HASH(env_key_hash[i], env_key[i], env_key_len[i]);
    }
    env_keys_ready = 1;
}

/* Stores an HTTP header as HTTP_NAME (CONTENT_LENGTH/CONTENT_TYPE without
 * the prefix); a repeated header is joined with ", ". */
static void
env_header(pTHX_ HV *env, const vassal_header *h)
{
    size_t i, klen;
    char *k;
    SV **old;
    int is_ct = h->name_len == 12 && vassal_ieq(h->name, 12, "content-type");
    vbuf_reserve(&W.key, h->name_len + 6);
    k = W.key.p;
    if (is_ct) {
        memcpy(k, "CONTENT_TYPE", 12);
        klen = 12;
    }
    else {
        memcpy(k, "HTTP_", 5);
        for (i = 0; i < h->name_len; i++) {
            char ch = h->name[i];
            if (ch >= 'a' && ch <= 'z') ch -= 32;
            else if (ch == '-') ch = '_';
            k[5 + i] = ch;
        }
        klen = 5 + h->name_len;
    }
    old = hv_fetch(env, k, (I32)klen, 0);
    if (old && SvOK(*old)) {
        sv_catpvs(*old, ", ");
        sv_catpvn(*old, h->value, h->value_len);
    }
    else
        (void)hv_store(env, k, (I32)klen, newSVpvn(h->value, h->value_len), 0);
}

/* Do the field names a and b (len bytes each) give the same env key, that
 * is, are they equal but for case and '-' against '_'? */
static int
same_env_key(const char *a, const char *b, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x == '_') x = '-';
        if (y == '_') y = '-';
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y) return 0;
    }
    return 1;
}

/* Header fields whose names have an underscore, with
 * http-underscores-in-headers (without it they are dropped, as nginx's
 * underscores_in_headers off does). Each becomes HTTP_NAME as any field
 * does, and several of them with one key are joined, but such a field
 * never shares a key with a field without an underscore - X_Forwarded_For
 * beside X-Forwarded-For is dropped, whichever comes first, so that a
 * client cannot add to what a proxy in front set - and never becomes
 * HTTP_CONTENT_LENGTH, HTTP_CONTENT_TYPE or HTTP_TRANSFER_ENCODING, which
 * PSGI forbids or which framing reads from the real fields only. */
static void
env_underscored(pTHX_ HV *env, const vassal_request *req)
{
    size_t i, j;
    for (i = 0; i < req->nheaders; i++) {
        const vassal_header *h = &req->headers[i];
        int clash = 0;
        if (!memchr(h->name, '_', h->name_len)) continue;
        if ((h->name_len == 14 && same_env_key(h->name, "content-length", 14))
            || (h->name_len == 12 && same_env_key(h->name, "content-type", 12))
            || (h->name_len == 17 && same_env_key(h->name, "transfer-encoding", 17)))
            continue;
        for (j = 0; j < req->nheaders && !clash; j++) {
            const vassal_header *o = &req->headers[j];
            clash = o->name_len == h->name_len && !memchr(o->name, '_', o->name_len)
                && same_env_key(h->name, o->name, h->name_len);
        }
        if (!clash) env_header(aTHX_ env, h);
    }
}

/* A 400 for env_from_http, with its reason for the log. */
static int
bad_header(vreqinfo *info, const char *why)
{
    info->why = why;
    return 400;
}

/* Fills the request part of the env from a parsed head. Returns 0 or an
 * HTTP status to refuse the request with (info->why says why). */
static int
env_from_http(pTHX_ HV *env, const vassal_request *req, vreqinfo *info)
{
    const char *t = req->target, *path, *q, *frag, *tend = req->target + req->target_len;
    size_t i;
    int underscored = 0, hosts = 0;
    SV *sv;

    info->content_length = -1;
    info->why = NULL;
    info->chunked = info->bad_te = info->conn_close = info->conn_keepalive = info->expect_continue = 0;
    info->te_codings = info->te_chunked = info->te_last_chunked = 0;

    ESTORE(env, E_REQUEST_METHOD, newSVpvn(req->method, req->method_len));
    ESTORE(env, E_REQUEST_URI, newSVpvn(req->target, req->target_len));
    ESTORE(env, E_SERVER_PROTOCOL, newSVpvn(req->protocol, req->protocol_len));

    /* absolute-form (a request to a proxy): the path starts after the authority */
    path = t;
    if ((req->target_len > 7 && vassal_ieq(t, 7, "http://"))
        || (req->target_len > 8 && vassal_ieq(t, 8, "https://"))) {
        const char *a = (const char *)memchr(t, ':', req->target_len) + 3;
        const char *slash = a < tend ? memchr(a, '/', (size_t)(tend - a)) : NULL;
        const char *qm = a < tend ? memchr(a, '?', (size_t)(tend - a)) : NULL;
        if (slash && (!qm || slash < qm)) path = slash;
        else path = qm ? qm : tend;
    }
    frag = memchr(path, '#', (size_t)(tend - path));
    if (frag) tend = frag;
    q = memchr(path, '?', (size_t)(tend - path));
    {
        const char *pend = q ? q : tend;
        size_t plen = (size_t)(pend - path);
        sv = newSV(plen + 1);
        SvPOK_only(sv);
        SvCUR_set(sv, vassal_percent_decode(path, plen, SvPVX(sv)));
        SvPVX(sv)[SvCUR(sv)] = '\0';
        ESTORE(env, E_PATH_INFO, sv);
    }
    ESTORE(env, E_QUERY_STRING, q ? newSVpvn(q + 1, (size_t)(tend - q - 1)) : newSVpvs(""));

    for (i = 0; i < req->nheaders; i++) {
        const vassal_header *h = &req->headers[i];
        /* X_Foo would become HTTP_X_FOO, as X-Foo does: see env_underscored */
        if (memchr(h->name, '_', h->name_len)) {
            underscored = 1;
            continue;
        }
        switch (h->name_len) {
        case 14:
            if (vassal_ieq(h->name, 14, "content-length")) {
                IV v = 0;
                size_t j;
                if (!h->value_len || h->value_len > 18) return bad_header(info, "invalid Content-Length");
                for (j = 0; j < h->value_len; j++) {
                    if (h->value[j] < '0' || h->value[j] > '9') return bad_header(info, "invalid Content-Length");
                    v = v * 10 + (h->value[j] - '0');
                }
                if (info->content_length >= 0 && info->content_length != v)
                    return bad_header(info, "conflicting Content-Length fields");
                if (info->content_length < 0)
                    ESTORE(env, E_CONTENT_LENGTH, newSViv(v));
                info->content_length = v;
                continue;
            }
            break;
        case 17:
            if (vassal_ieq(h->name, 17, "transfer-encoding")) {
                /* the codings of every Transfer-Encoding field, in order.
                 * Empty list elements are skipped (RFC 9110 5.6.1), but a
                 * field with no coding at all ("", ",", " , ") is refused:
                 * ignored, it would leave the body to a Content-Length that
                 * a proxy in front may not have framed it by. */
                size_t j = 0;
                int codings = 0;
                while (j < h->value_len) {
                    size_t s0, e0;
                    while (j < h->value_len && (h->value[j] == ' ' || h->value[j] == '\t' || h->value[j] == ',')) j++;
                    s0 = j;
                    while (j < h->value_len && h->value[j] != ',') j++;
                    e0 = j;
                    while (e0 > s0 && (h->value[e0 - 1] == ' ' || h->value[e0 - 1] == '\t')) e0--;
                    if (e0 == s0) continue;
                    codings++;
                    info->te_codings++;
                    info->te_last_chunked = vassal_ieq(h->value + s0, e0 - s0, "chunked");
                    if (info->te_last_chunked) info->te_chunked++;
                }
                if (!codings) return bad_header(info, "a Transfer-Encoding field without a coding");
            }
            break;
        case 10:
            if (vassal_ieq(h->name, 10, "connection")) {
                if (vassal_has_token(h->value, h->value_len, "close")) info->conn_close = 1;
                if (vassal_has_token(h->value, h->value_len, "keep-alive")) info->conn_keepalive = 1;
            }
            break;
        case 4:
            /* RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in
             * HTTP/1.0, and a valid one */
            if (vassal_ieq(h->name, 4, "host")) {
                if (hosts++) return bad_header(info, "more than one Host header field");
                if (!vassal_valid_authority(h->value, h->value_len, 0))
                    return bad_header(info, "an invalid Host header field");
            }
            break;
        case 6:
            if (vassal_ieq(h->name, 6, "expect")
                && vassal_ieq(h->value, h->value_len, "100-continue"))
                info->expect_continue = 1;
            break;
        }
        env_header(aTHX_ env, h);
    }
    if (!hosts && req->minor == 1) return bad_header(info, "an HTTP/1.1 request without a Host header field");
    if (underscored && W.underscores_in_headers) env_underscored(aTHX_ env, req);
    /* RFC 9112 6.1: chunked must be the last coding, applied once; other
     * codings are not implemented (501) */
    if (info->te_codings) {
        if (!info->te_last_chunked || info->te_chunked > 1)
            return bad_header(info, "chunked is not the last transfer coding, or comes twice");
        if (info->te_codings > 1) info->bad_te = 1;
        else info->chunked = 1;
    }
    return 0;
}

static int
io_magic_get(pTHX_ SV *sv, MAGIC *mg);

static MGVTBL io_vtbl = { io_magic_get, 0, 0, 0, 0, 0, 0, 0 };

/* psgix.io: created when the app first reads it - a handle on a dup() of the
 * connection, blessed into IO::Socket::INET or ::UNIX. Taking it means the
 * app owns the connection: it is not kept alive, and a delayed response
 * that never calls the responder writes nothing. */
static int
io_magic_get(pTHX_ SV *sv, MAGIC *mg)
{
    int fd2, fl;
    PerlIO *fp;
    GV *gv;
    SV *rv;
    if (mg->mg_private) return 0;
    mg->mg_private = 1;
    if (!W.r.active || !mg->mg_obj || SvUV(mg->mg_obj) != W.r.serial || !W.r.c || W.r.c->closed)
        return 0;
    fd2 = fcntl(W.r.c->fd, F_DUPFD_CLOEXEC, 3);
    if (fd2 < 0) return 0;
    fl = fcntl(fd2, F_GETFL);
    if (fl >= 0) fcntl(fd2, F_SETFL, fl & ~O_NONBLOCK);    /* the app expects a blocking socket */
    fp = PerlIO_fdopen(fd2, "r+");
    if (!fp) { close(fd2); return 0; }
    gv = (GV *)sv_newmortal();
    gv_init_pvn(gv, W.r.c->l->is_unix ? W.unix_stash : W.inet_stash, "__ANONIO__", 10, 0);
    if (!do_open(gv, "+<&", 3, FALSE, 0, 0, fp)) {
        PerlIO_close(fp);
        return 0;
    }
    rv = newRV_inc((SV *)gv);
    sv_bless(rv, W.r.c->l->is_unix ? W.unix_stash : W.inet_stash);
    sv_setsv(sv, rv);
    SvREFCNT_dec(rv);
    W.r.io_taken = 1;
    W.r.keepalive = 0;
    return 0;
}

/* The parts of the env every request has. */
static void
env_common(pTHX_ HV *env, vconn *c)
{
    AV *handlers;
    SV *io;
    ESTORE(env, E_PSGI_VERSION, newRV_inc((SV *)W.psgi_version));
    ESTORE(env, E_PSGI_ERRORS, newRV_inc((SV *)W.stderr_gv));
    ESTORE(env, E_PSGI_MULTITHREAD, newSVsv(&PL_sv_no));
    ESTORE(env, E_PSGI_MULTIPROCESS, newSVsv(&PL_sv_yes));
    ESTORE(env, E_PSGI_RUN_ONCE, newSVsv(&PL_sv_no));
    ESTORE(env, E_PSGI_NONBLOCKING, newSVsv(&PL_sv_no));
    ESTORE(env, E_PSGI_STREAMING, newSVsv(&PL_sv_yes));
    ESTORE(env, E_PSGIX_INPUT_BUFFERED, newSVsv(&PL_sv_yes));
    ESTORE(env, E_PSGIX_HARAKIRI, newSVsv(&PL_sv_yes));
    ESTORE(env, E_PSGIX_CLEANUP, newSVsv(&PL_sv_yes));
    handlers = newAV();
    ESTORE(env, E_PSGIX_CLEANUP_HANDLERS, newRV_noinc((SV *)handlers));
    io = newSV(0);
    sv_magicext(io, sv_2mortal(newSVuv(W.serial)), PERL_MAGIC_ext, &io_vtbl, NULL, 0);
    ESTORE(env, E_PSGIX_IO, io);
    PERL_UNUSED_ARG(c);
}

/* ------------------------------------------------------------ responses */

static int
plain_sv(pTHX_ SV *sv)
{
    if (!sv) return 1;
    if (SvROK(sv) || SvGMAGICAL(sv) || SvTYPE(sv) > SVt_PVMG) return 0;
    if (SvUTF8(sv) && !sv_utf8_downgrade(sv, TRUE)) return 0;
    return 1;
}

static int
plain_av(pTHX_ SV *ref)
{
    AV *av;
    SSize_t i;
    if (!ref || !SvROK(ref)) return 0;
    av = (AV *)SvRV(ref);
    if (SvTYPE(av) != SVt_PVAV || SvMAGICAL(av)) return 0;
    for (i = 0; i <= AvFILLp(av); i++)
        if (!plain_sv(aTHX_ AvARRAY(av)[i])) return 0;
    return 1;
}

/* Builds the status line and the headers into W.out and decides how the
 * body is framed. body_len: the length of an array body, -1 when unknown
 * (streaming: chunked for HTTP/1.1, the connection's end for HTTP/1.0).
 * Returns NULL or why the app's response cannot be sent. */
static const char *
build_head(pTHX_ SV *status_sv, AV *hav, IV body_len)
{
    vbuf *o = &W.out;
    IV status;
    const char *reason;
    int no_body, has_cl = 0, has_te = 0, has_date = 0;
    int keepalive = W.r.keepalive;
    SSize_t i, n;

    o->len = 0;
    if (!status_sv || !SvOK(status_sv) || !looks_like_number(status_sv))
        return "the status is not a number";
    status = SvIV(status_sv);
    if (status < 100 || status > 999) return "the status is not a 3-digit number";
    no_body = status < 200 || status == 204 || status == 304;
    reason = vassal_status_reason((int)status);

    if (W.r.proto == VASSAL_PROTO_HTTP) {
        if (W.r.minor) vbuf_adds(o, "HTTP/1.1 ");
        else           vbuf_adds(o, "HTTP/1.0 ");
    }
    else {
        vbuf_add(o, W.r.protocol, strlen(W.r.protocol));
        vbuf_adds(o, " ");
    }
    vbuf_addnum(o, (UV)status);
    vbuf_adds(o, " ");
    vbuf_add(o, reason, strlen(reason));
    vbuf_adds(o, "\r\n");

    n = hav ? av_len(hav) + 1 : 0;
    if (n % 2) return "the headers array has an odd number of elements";
    for (i = 0; i < n; i += 2) {
        SV **kp = av_fetch(hav, i, 0), **vp = av_fetch(hav, i + 1, 0);
        STRLEN kl, vl, j;
        const char *k, *v;
        if (!kp || !SvOK(*kp)) return "a header name is undefined";
        k = SvPVbyte(*kp, kl);
        if (!kl) return "a header name is empty";
        for (j = 0; j < kl; j++)
            if (!vassal_is_tchar((unsigned char)k[j])) return "a header name is not a token";
        if (vp && SvOK(*vp)) v = SvPVbyte(*vp, vl);
        else { v = ""; vl = 0; }
        for (j = 0; j < vl; j++)
            if (v[j] == '\r' || v[j] == '\n' || v[j] == '\0')
                return "a header value contains CR, LF or NUL";
        switch (kl) {
        case 14: if (vassal_ieq(k, kl, "content-length")) has_cl = 1; break;
        case 17: if (vassal_ieq(k, kl, "transfer-encoding")) has_te = 1; break;
        case 4:  if (vassal_ieq(k, kl, "date")) has_date = 1; break;
        case 10:
            if (vassal_ieq(k, kl, "connection")) {
                if (vassal_has_token(v, vl, "close")) keepalive = 0;
                /* HTTP: we write our own Connection header */
                if (W.r.proto == VASSAL_PROTO_HTTP) continue;
            }
            break;
        }
        vbuf_add(o, k, kl);
        vbuf_adds(o, ": ");
        vbuf_add(o, v, vl);
        vbuf_adds(o, "\r\n");
    }
    if (!has_cl && !has_te && !no_body && body_len >= 0) {
        vbuf_adds(o, "Content-Length: ");
        vbuf_addnum(o, (UV)body_len);
        vbuf_adds(o, "\r\n");
        has_cl = 1;
    }
    W.r.chunked = 0;
    W.r.skip_body = W.r.head || no_body;
    if (W.r.proto == VASSAL_PROTO_HTTP) {
        if (!has_cl && !has_te && !W.r.skip_body) {
            if (W.r.minor) {
                W.r.chunked = 1;
                vbuf_adds(o, "Transfer-Encoding: chunked\r\n");
            }
            else
                keepalive = 0;    /* the body ends with the connection */
        }
        if (has_te && !W.r.skip_body) keepalive = 0;   /* the app frames its own body */
        if (vassal_stop_signal || W.r.io_taken) keepalive = 0;
        if (!has_date) {
            vbuf_adds(o, "Date: ");
            vbuf_add(o, vassal_http_date(), 29);
            vbuf_adds(o, "\r\n");
        }
        if (!keepalive)      vbuf_adds(o, "Connection: close\r\n");
        else if (!W.r.minor) vbuf_adds(o, "Connection: keep-alive\r\n");
    }
    else
        keepalive = 0;
    vbuf_adds(o, "\r\n");
    W.r.keepalive = keepalive;
    return NULL;
}

static int
resp_send_flags(const char *p, size_t len, int flags)
{
    struct iovec iov;
    if (W.r.failed) return -1;
    if (!len) return 0;
    iov.iov_base = (void *)p;
    iov.iov_len = len;
    if (sendv_all_flags(W.r.c->fd, &iov, 1, W.socket_timeout, flags) < 0) {
        W.r.failed = 1;
        W.r.keepalive = 0;
        return -1;
    }
    return 0;
}

/* The last bytes of a response: with MSG_MORE when the connection is about
 * to be closed (nothing buffered from the client, no psgix.io), so that the
 * FIN rides along - one packet less per connection. */
static int
resp_send_last(const char *p, size_t len)
{
    int closing = !W.r.keepalive && !W.r.io_taken && W.r.c->len == 0;
    return resp_send_flags(p, len, closing ? MSG_MORE : 0);
}

static int
resp_send(const char *p, size_t len)
{
    if (W.r.failed) return -1;
    if (send_all(W.r.c->fd, p, len, W.socket_timeout) < 0) {
        W.r.failed = 1;
        W.r.keepalive = 0;
        return -1;
    }
    return 0;
}

/* A complete response with an array body. Returns NULL, or an error: the
 * response cannot be sent (nothing was written), or "write: ..." */
static const char *
send_array_response(pTHX_ SV *status_sv, AV *hav, AV *bav)
{
    SSize_t i, n = av_len(bav) + 1;
    IV body_len = 0;
    const char *err;
    for (i = 0; i < n; i++) {
        SV **e = av_fetch(bav, i, 0);
        STRLEN l;
        if (e && SvOK(*e)) { (void)SvPVbyte(*e, l); body_len += (IV)l; }
    }
    err = build_head(aTHX_ status_sv, hav, body_len);
    if (err) return err;
    W.r.started = 1;
    if (W.r.skip_body) {
        if (resp_send_last(W.out.p, W.out.len) < 0) return "write: the client went away";
    }
    else if (W.out.len + (size_t)body_len <= SMALL_RESPONSE) {
        for (i = 0; i < n; i++) {
            SV **e = av_fetch(bav, i, 0);
            STRLEN l;
            const char *p;
            if (!e || !SvOK(*e)) continue;
            p = SvPVbyte(*e, l);
            vbuf_add(&W.out, p, l);
        }
        if (resp_send_last(W.out.p, W.out.len) < 0) return "write: the client went away";
    }
    else {
        if (resp_send(W.out.p, W.out.len) < 0) return "write: the client went away";
        for (i = 0; i < n; i++) {
            SV **e = av_fetch(bav, i, 0);
            STRLEN l;
            const char *p;
            if (!e || !SvOK(*e)) continue;
            p = SvPVbyte(*e, l);
            if (resp_send(p, l) < 0) return "write: the client went away";
        }
    }
    W.r.finished = 1;
    return NULL;
}

/* The common case in C: [status, [headers], [body]] made of plain strings. */
static int
fast_response(pTHX_ SV *res)
{
    AV *av;
    SV **a;
    const char *err;
    if (!res || !SvROK(res)) return 0;
    av = (AV *)SvRV(res);
    if (SvTYPE(av) != SVt_PVAV || SvMAGICAL(av) || AvFILLp(av) != 2) return 0;
    a = AvARRAY(av);
    if (!a[0] || !plain_sv(aTHX_ a[0]) || !plain_av(aTHX_ a[1]) || !plain_av(aTHX_ a[2]))
        return 0;
    err = send_array_response(aTHX_ a[0], (AV *)SvRV(a[1]), (AV *)SvRV(a[2]));
    if (err && !W.r.started) {
        vlog("invalid response from the app: %s", err);
        send_error(W.r.c, 500);
        W.r.started = W.r.finished = 1;
        W.r.keepalive = 0;
    }
    return 1;
}

static SV *
new_conn_obj(pTHX)
{
    SV *rv = newRV_noinc(newSVuv(W.r.serial));
    return sv_bless(rv, W.conn_stash);
}

/* Everything else goes to Perl: Vassal::Worker::respond($conn, $env, $res). */
static void
slow_response(pTHX_ SV *envrv, SV *res)
{
    dSP;
    SV *err;
    ENTER;
    SAVETMPS;
    PUSHMARK(SP);
    EXTEND(SP, 3);
    PUSHs(sv_2mortal(new_conn_obj(aTHX)));
    PUSHs(envrv);
    PUSHs(res ? res : &PL_sv_undef);
    PUTBACK;
    call_sv(W.slow, G_DISCARD | G_EVAL);
    err = ERRSV;
    if (SvTRUE(err)) {
        if (!W.r.failed) vlog_sv(aTHX_ W.r.started ? "the response was cut" : "invalid response from the app", err);
        if (!W.r.started && !W.r.failed) {
            send_error(W.r.c, 500);
            W.r.started = W.r.finished = 1;
        }
        W.r.keepalive = 0;
        sv_setpvs(err, "");
    }
    else if (!W.r.started && !W.r.io_taken) {
        vlog("the app sent no response");
        send_error(W.r.c, 500);
        W.r.started = W.r.finished = 1;
        W.r.keepalive = 0;
    }
    FREETMPS;
    LEAVE;
}

static SV *
call_app(pTHX_ SV *envrv)
{
    dSP;
    int n;
    SV *res = NULL;
    PUSHMARK(SP);
    XPUSHs(envrv);
    PUTBACK;
    n = call_sv(W.app, G_SCALAR | G_EVAL);
    SPAGAIN;
    if (n == 1) res = sv_2mortal(SvREFCNT_inc(POPs));
    PUTBACK;
    if (SvTRUE(ERRSV)) {
        vlog_sv(aTHX_ "the app died", ERRSV);
        sv_setpvs(ERRSV, "");
        return NULL;
    }
    return res;
}

static void
run_cleanup(pTHX_ HV *env, SV *envrv)
{
    SV **h = EFETCH(env, E_PSGIX_CLEANUP_HANDLERS);
    AV *av;
    SSize_t i;
    if (!h || !SvROK(*h) || SvTYPE(SvRV(*h)) != SVt_PVAV) return;
    av = (AV *)SvRV(*h);
    for (i = 0; i <= av_len(av); i++) {
        SV **cb = av_fetch(av, i, 0);
        dSP;
        if (!cb || !SvOK(*cb)) continue;
        PUSHMARK(SP);
        XPUSHs(envrv);
        PUTBACK;
        call_sv(*cb, G_DISCARD | G_EVAL);
        if (SvTRUE(ERRSV)) {
            vlog_sv(aTHX_ "a psgix.cleanup handler died", ERRSV);
            sv_setpvs(ERRSV, "");
        }
    }
}

static void
tell_master(char what)
{
    char buf[32];
    int n;
    if (W.status_fd < 0) return;
    n = snprintf(buf, sizeof(buf), "%c%d\n", what, (int)getpid());
    if (write(W.status_fd, buf, (size_t)n) < 0) { /* the master is gone: PDEATHSIG follows */ }
}

/* Calls the app and sends its response. Returns 1 when the connection can
 * take another request, 0 when it was closed. */
static int
run_request(pTHX_ vconn *c, SV *envrv, int keepalive)
{
    HV *env = (HV *)SvRV(envrv);
    SV *res;
    SV **commit;

    W.r.c = c;
    W.r.active = 1;
    if (W.slot) W.slot->busy_since = vassal_monotonic();
    W.r.keepalive = keepalive && !vassal_stop_signal
        && !(W.max_requests && W.served + 1 >= W.max_requests);
    W.r.started = W.r.finished = W.r.chunked = W.r.skip_body = W.r.failed = W.r.io_taken = 0;

    res = call_app(aTHX_ envrv);
    commit = EFETCH(env, E_PSGIX_HARAKIRI_COMMIT);
    if (commit && SvTRUE(*commit)) W.r.keepalive = 0;    /* the worker goes after this one */
    if (!res) {
        send_error(c, 500);
        W.r.started = W.r.finished = 1;
        W.r.keepalive = 0;
    }
    else if (!fast_response(aTHX_ res))
        slow_response(aTHX_ envrv, res);
    if (W.r.started && !W.r.finished && !W.r.failed && W.r.chunked && !W.r.skip_body)
        resp_send("0\r\n\r\n", 5);
    W.r.active = 0;

    if (W.slot) {
        W.slot->busy_since = 0;
        W.slot->last_done = vassal_monotonic();
        W.slot->requests++;
    }
    W.served++;
    if (!W.told_served) {
        W.told_served = 1;
        tell_master('S');
    }
    commit = EFETCH(env, E_PSGIX_HARAKIRI_COMMIT);
    if (commit && SvTRUE(*commit)) W.stop_reason = "psgix.harakiri.commit";
    if (W.max_requests && W.served >= W.max_requests) W.stop_reason = "max-requests";

    /* close first: the client has its whole response before cleanup runs.
     * At once when the client asked for it (Connection: close, HTTP/1.0)
     * and sent nothing more that we know of: the common case of close mode,
     * four system calls a connection (accept4, read, sendmsg, close), the
     * FIN in the response's segment. In stages (conn_close_lingering) when
     * unread bytes may be there or coming: bytes after the request, a
     * read that filled the buffer, a client that expected the connection
     * to stay open and may have pipelined more. Not when the app took the
     * socket (psgix.io: shutdown would cut its copy too) or the client is
     * gone. */
    if (!W.r.keepalive || W.r.failed || W.r.io_taken || W.stop_reason) {
        if (!W.r.failed && !W.r.io_taken && (c->len || c->more || keepalive))
            conn_close_lingering(c);
        else conn_close(c);
        run_cleanup(aTHX_ env, envrv);
        return 0;
    }
    run_cleanup(aTHX_ env, envrv);
    return 1;
}

/* A new request's serial: psgix.io and Vassal::Conn objects of an earlier
 * request can tell they are stale. */
static void
request_begins(void)
{
    W.serial++;
    W.r.serial = W.serial;
}

/* One HTTP request whose head (head_len bytes) is in c->buf. */
static int
http_request(pTHX_ vconn *c, size_t head_len)
{
    vassal_request req;
    vreqinfo info;
    HV *env;
    SV *envrv;
    size_t pos = head_len;
    int rc, keep, is_head;

    rc = vassal_http_parse_head(c->buf, head_len, &req);
    if (rc) {
        if (rc == VASSAL_E_VERSION) refuse(c, 505, "unsupported protocol version");
        else if (rc == VASSAL_E_TOO_MANY) refuse(c, 431, "too many header fields");
        else refuse(c, 400, "malformed request");
        return 0;
    }
    /* req points into c->buf, which reading the body moves (compaction) or
     * reallocates: everything needed of the head is taken before that. */
    is_head = req.method_len == 4 && memcmp(req.method, "HEAD", 4) == 0;
    request_begins();
    ENTER;
    SAVETMPS;
    env = newHV();
    envrv = sv_2mortal(newRV_noinc((SV *)env));
    hv_ksplit(env, 48);
    rc = env_from_http(aTHX_ env, &req, &info);
    if (!rc && info.bad_te) rc = 501, info.why = "unsupported Transfer-Encoding";
    if (!rc && info.chunked && info.content_length >= 0)   /* smuggling */
        rc = bad_header(&info, "both Content-Length and Transfer-Encoding");
    if (rc) {
        refuse(c, rc, info.why ? info.why : "malformed header field");
        goto aborted;
    }
    if (!info.chunked && W.limit_post && info.content_length > 0 && (UV)info.content_length > W.limit_post) {
        vlog("request body of %" IVdf " bytes is over limit-post (%" UVuf ")", info.content_length, W.limit_post);
        send_error(c, 413);
        conn_close_lingering(c);
        goto aborted;
    }

    ESTORE(env, E_SCRIPT_NAME, newSVpvs(""));
    ESTORE(env, E_SERVER_NAME, newSVsv(c->l->server_name));
    ESTORE(env, E_SERVER_PORT, newSVsv(c->l->server_port));
    ESTORE(env, E_REMOTE_ADDR, newSVpv(c->addr, 0));
    ESTORE(env, E_REMOTE_PORT, newSViv(c->port));
    ESTORE(env, E_PSGI_URL_SCHEME, newSVpvs("http"));
    env_common(aTHX_ env, c);

    if (!info.chunked && info.content_length <= 0)
        ESTORE(env, E_PSGI_INPUT, newRV_inc(SvRV(W.empty_input)));
    else if (info.expect_continue && req.minor == 1 && pos == c->len)
        send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, W.socket_timeout);

    keep = req.minor == 1 ? !info.conn_close : info.conn_keepalive;
    /* RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has faulty
     * framing (an HTTP/1.0 hop in front frames it otherwise): it is served,
     * then the connection is closed - in stages, since bytes the sender
     * meant as this body may still be unread */
    if (!req.minor && info.te_codings) {
        keep = 0;
        c->more = 1;
    }
    conn_consume(c, &pos);
    if (info.chunked || info.content_length > 0) {
        vbody *b = body_begin(aTHX_ c, envrv, info.chunked ? -1 : info.content_length);
        if (!b) {
            refuse(c, 500, "cannot store the body");
            goto aborted;
        }
        b->keep = keep;
        b->proto = VASSAL_PROTO_HTTP;
        b->minor = req.minor;
        b->is_head = is_head;
        FREETMPS;
        LEAVE;
        return body_advance(aTHX_ c);
    }
    W.r.proto = VASSAL_PROTO_HTTP;
    W.r.minor = req.minor;
    W.r.head = is_head;
    rc = run_request(aTHX_ c, envrv, keep);
    FREETMPS;
    LEAVE;
    return rc;

  aborted:
    FREETMPS;
    LEAVE;
    return 0;
}

/* Is this key of the psgi.* or psgix.* namespace (case aside)? */
static int
psgi_key(const char *k, size_t kl)
{
    return (kl > 5 && vassal_ieq(k, 5, "psgi.")) || (kl > 6 && vassal_ieq(k, 6, "psgix."));
}

/* One uwsgi request (modifier1 0 or 5): the dict is the env, the body
 * follows. Keys of the psgi.* and psgix.* namespaces are the server's and
 * the app's, not the front end's: such keys from the wire are dropped
 * (psgix.harakiri.commit would stop the worker, psgix.io would be taken for
 * the connection), with one log line for the request - there is one
 * request a connection. */
static int
uwsgi_request(pTHX_ vconn *c, size_t pktsize)
{
    const unsigned char *p = (const unsigned char *)c->buf + 4;
    size_t off = 0, pos = 4 + pktsize;
    HV *env;
    SV *envrv;
    SV **svp;
    IV cl = 0;
    int dropped = 0;
    char first[65];

    request_begins();
    ENTER;
    SAVETMPS;
    env = newHV();
    envrv = sv_2mortal(newRV_noinc((SV *)env));
    hv_ksplit(env, 64);
    while (off < pktsize) {
        size_t kl, vl;
        const char *k, *v;
        if (pktsize - off < 2) goto malformed;
        kl = (size_t)(p[off] | (p[off + 1] << 8));
        off += 2;
        if (pktsize - off < kl) goto malformed;
        k = (const char *)p + off;
        off += kl;
        if (pktsize - off < 2) goto malformed;
        vl = (size_t)(p[off] | (p[off + 1] << 8));
        off += 2;
        if (pktsize - off < vl) goto malformed;
        v = (const char *)p + off;
        off += vl;
        if (!kl) continue;
        if (psgi_key(k, kl)) {
            if (!dropped++) {
                size_t j, n = kl < sizeof(first) - 1 ? kl : sizeof(first) - 1;
                for (j = 0; j < n; j++)
                    first[j] = k[j] > 0x20 && k[j] < 0x7f ? k[j] : '?';
                first[n] = '\0';
            }
            continue;
        }
        (void)hv_store(env, k, (I32)kl, newSVpvn(v, vl), 0);
    }
    if (dropped)
        vlog("uwsgi request: %d psgi.*/psgix.* key(s) from the front end dropped (%s%s)",
             dropped, first, dropped > 1 ? ", ..." : "");

    /* what PSGI needs that a front end may not send */
    if (!EFETCH(env, E_SCRIPT_NAME)) ESTORE(env, E_SCRIPT_NAME, newSVpvs(""));
    else {
        SV **sn = EFETCH(env, E_SCRIPT_NAME);
        STRLEN l;
        const char *s = SvPV(*sn, l);
        if (l == 1 && s[0] == '/') sv_setpvs(*sn, "");
    }
    if (!EFETCH(env, E_REQUEST_METHOD)) ESTORE(env, E_REQUEST_METHOD, newSVpvs("GET"));
    if (!EFETCH(env, E_PATH_INFO) || !EFETCH(env, E_QUERY_STRING)) {
        SV **uri = EFETCH(env, E_REQUEST_URI);
        STRLEN l = 0;
        const char *u = uri ? SvPV(*uri, l) : "";
        const char *q = memchr(u, '?', l);
        size_t plen = q ? (size_t)(q - u) : l;
        if (!EFETCH(env, E_PATH_INFO)) {
            SV *sv = newSV(plen + 1);
            SvPOK_only(sv);
            SvCUR_set(sv, vassal_percent_decode(u, plen, SvPVX(sv)));
            SvPVX(sv)[SvCUR(sv)] = '\0';
            ESTORE(env, E_PATH_INFO, sv);
        }
        if (!EFETCH(env, E_QUERY_STRING))
            ESTORE(env, E_QUERY_STRING, q ? newSVpvn(q + 1, l - plen - 1) : newSVpvs(""));
    }
    if (!EFETCH(env, E_SERVER_NAME)) ESTORE(env, E_SERVER_NAME, newSVsv(c->l->server_name));
    if (!EFETCH(env, E_SERVER_PORT)) ESTORE(env, E_SERVER_PORT, newSVsv(c->l->server_port));
    EDELETE(env, E_HTTP_CONTENT_LENGTH);
    EDELETE(env, E_HTTP_CONTENT_TYPE);
    {
        const char *scheme = "http";
        SV **s;
        if ((s = EFETCH(env, E_UWSGI_SCHEME)) && SvOK(*s)) scheme = SvPV_nolen(*s);
        else if ((s = EFETCH(env, E_HTTPS)) && SvOK(*s)
                 && (strEQ(SvPV_nolen(*s), "on") || strEQ(SvPV_nolen(*s), "1")))
            scheme = "https";
        else if ((s = EFETCH(env, E_REQUEST_SCHEME)) && SvOK(*s) && strEQ(SvPV_nolen(*s), "https"))
            scheme = "https";
        ESTORE(env, E_PSGI_URL_SCHEME, newSVpv(scheme, 0));
    }
    env_common(aTHX_ env, c);

    /* the status line is written with the front end's protocol */
    W.r.proto = VASSAL_PROTO_UWSGI;
    strcpy(W.r.protocol, "HTTP/1.1");
    W.r.minor = 1;
    if ((svp = EFETCH(env, E_SERVER_PROTOCOL)) && SvOK(*svp)) {
        STRLEN l;
        const char *s = SvPV(*svp, l);
        if (l == 8 && memcmp(s, "HTTP/", 5) == 0 && isDIGIT(s[5]) && s[6] == '.' && isDIGIT(s[7])) {
            memcpy(W.r.protocol, s, 8);
            W.r.protocol[8] = '\0';
            W.r.minor = s[5] == '1' && s[7] == '0' ? 0 : 1;
        }
    }
    else
        ESTORE(env, E_SERVER_PROTOCOL, newSVpvs("HTTP/1.1"));
    svp = EFETCH(env, E_REQUEST_METHOD);
    W.r.head = strEQ(SvPV_nolen(*svp), "HEAD");

    if ((svp = EFETCH(env, E_CONTENT_LENGTH)) && SvOK(*svp)) {
        STRLEN l, j;
        const char *s = SvPV(*svp, l);
        if (l > 18) goto bad_length;
        for (j = 0; j < l; j++) {
            if (!isDIGIT(s[j])) goto bad_length;
            cl = cl * 10 + (s[j] - '0');
        }
    }
    if (W.limit_post && cl > 0 && (UV)cl > W.limit_post) {
        vlog("request body of %" IVdf " bytes is over limit-post (%" UVuf ")", cl, W.limit_post);
        send_error(c, 413);
        conn_close_lingering(c);
        goto aborted;
    }
    conn_consume(c, &pos);
    if (cl > 0) {
        vbody *b = body_begin(aTHX_ c, envrv, cl);
        if (!b) {
            refuse(c, 500, "cannot store the body");
            goto aborted;
        }
        b->proto = VASSAL_PROTO_UWSGI;
        b->minor = W.r.minor;
        b->is_head = W.r.head;
        memcpy(b->protocol, W.r.protocol, sizeof(b->protocol));
        FREETMPS;
        LEAVE;
        body_advance(aTHX_ c);
        return 0;
    }
    ESTORE(env, E_PSGI_INPUT, newRV_inc(SvRV(W.empty_input)));
    run_request(aTHX_ c, envrv, 0);
    FREETMPS;
    LEAVE;
    return 0;

  bad_length:
    refuse(c, 400, "invalid CONTENT_LENGTH");
    goto aborted;
  malformed:
    vlog("bad request: malformed uwsgi packet (an item overruns the %lu-byte dict)", (unsigned long)pktsize);
    conn_close(c);
  aborted:
    FREETMPS;
    LEAVE;
    return 0;
}

/* Serves what c->buf holds; parks the connection when it needs more. */
static void
conn_serve(pTHX_ vconn *c)
{
    for (;;) {
        if (c->l->proto == VASSAL_PROTO_UWSGI) {
            size_t pktsize;
            unsigned m1;
            if (c->len < 4) { conn_park(c, LIST_PARTIAL); return; }
            m1 = (unsigned char)c->buf[0];
            pktsize = (size_t)((unsigned char)c->buf[1] | ((unsigned char)c->buf[2] << 8));
            if (m1 != 0 && m1 != 5) {
                vlog("bad request: uwsgi modifier1 %u is not a PSGI request (0 or 5)", m1);
                conn_close(c);
                return;
            }
            if (pktsize > W.buffer_size) {
                vlog("bad request: uwsgi request block of %lu bytes is over buffer-size (%" UVuf ")",
                     (unsigned long)pktsize, W.buffer_size);
                conn_close(c);
                return;
            }
            if (c->len < 4 + pktsize) { conn_park(c, LIST_PARTIAL); return; }
            head_clock_stop(c);
            uwsgi_request(aTHX_ c, pktsize);
            return;
        }
        else {
            size_t skip, end;
            /* a keep-alive connection's next head: its clock starts with its
             * first byte (the idle wait before is keepalive-timeout's) */
            if (c->len) head_clock_start(c, vassal_monotonic());
            skip = vassal_http_skip_empty_lines(c->buf, c->len);
            if (skip) {
                const char *p = c->buf, *e = c->buf + skip;
                while ((p = memchr(p, '\n', (size_t)(e - p)))) { p++; c->empty_lines++; }
                if (c->empty_lines > EMPTY_LINES_MAX) {
                    refuse(c, 400, "more than " STRINGIFY(EMPTY_LINES_MAX) " empty lines before the request line");
                    return;
                }
                conn_consume(c, &skip);
            }
            if (!c->len) {
                conn_park(c, c->nreq ? LIST_IDLE : LIST_PARTIAL);
                return;
            }
            end = vassal_http_head_end(c->buf, c->len, &c->scan);
            if (!end) {
                int rc = vassal_http_check_first_line(c->buf, c->len);
                if (rc == VASSAL_E_VERSION) { refuse(c, 505, "unsupported protocol version"); return; }
                if (rc) { refuse(c, 400, "malformed request"); return; }
                if (c->len >= W.buffer_size) {
                    if (!memchr(c->buf, '\n', c->len))
                        refuse(c, 414, "request line longer than buffer-size");
                    else
                        refuse(c, 431, "header section longer than buffer-size");
                    return;
                }
                conn_park(c, LIST_PARTIAL);
                return;
            }
            if (end > W.buffer_size) {
                refuse(c, 431, "header section longer than buffer-size");
                return;
            }
            head_clock_stop(c);
            if (!http_request(aTHX_ c, end)) return;
            c->nreq++;
        }
    }
}

static void
conn_ready(pTHX_ vconn *c)
{
    ssize_t r;
    int was = c->list;
    double deadline = c->deadline;
    if (c->closed) return;
    list_remove(c);
    if (c->lingering) {
        if (!linger_drain(c)) list_append(c, LIST_LINGER, deadline);
        return;
    }
    if (c->body) {
        if (body_advance(aTHX_ c)) {
            c->nreq++;
            conn_serve(aTHX_ c);
        }
        return;
    }
    r = conn_read(c, conn_limit(c), 0);
    if (r > 0 || r == -3) conn_serve(aTHX_ c);
    else if (r == -4) list_append(c, was ? was : LIST_PARTIAL, deadline);
    else conn_close(c);
}

static int
evict_oldest(void)
{
    vconn *victim = W.lists[LIST_LINGER].head ? W.lists[LIST_LINGER].head
                  : W.lists[LIST_IDLE].head ? W.lists[LIST_IDLE].head : W.lists[LIST_PARTIAL].head;
    if (!victim) return 0;
    conn_close(victim);
    return 1;
}

/* Accepts a connection and serves what came with it. Returns 1 when that
 * connection is already done (closed), so that the caller may take the next
 * one at once; 0 when it waits in the epoll set or nothing was accepted. */
static int
accept_one(pTHX_ vlistener *l)
{
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    vconn *c;
    ssize_t r;
    int fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
            || errno == ECONNABORTED || errno == EPROTO)
            return 0;
        if ((errno == EMFILE || errno == ENFILE) && evict_oldest()) return 0;
        vlog("accept failed: %s", strerror(errno));
        usleep(10000);    /* the listening socket stays readable: do not spin */
        return 0;
    }
    if (W.nconns >= W.max_conns) evict_oldest();
    c = conn_new();
    c->kind = K_CONN;
    c->fd = fd;
    c->l = l;
    W.nconns++;
    head_clock_start(c, vassal_monotonic());
    if (sa.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &s4->sin_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(s4->sin_port);
    }
    else if (sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, c->addr, sizeof(c->addr));
        c->port = ntohs(s6->sin6_port);
    }
    /* try at once: the request usually came with the connection */
    r = conn_read(c, conn_limit(c), 0);
    if (r > 0) conn_serve(aTHX_ c);
    else if (r == -4) conn_park(c, LIST_PARTIAL);
    else conn_close(c);
    return c->closed;
}

/* A listener is readable: take connections while each one is done at once
 * (Connection: close, the uwsgi protocol), saving an epoll_wait per
 * connection; stop at one that waits, or after ACCEPT_BATCH. */
static void
accept_some(pTHX_ vlistener *l)
{
    int n;
    for (n = 0; n < ACCEPT_BATCH && !W.stop_reason && !vassal_stop_signal; n++)
        if (!accept_one(aTHX_ l)) break;
}

/* A request head that did not arrive within header-timeout: a 408 when
 * some of it came (sent if the socket takes it at once: the worker does not
 * wait for a client that is this slow), then the connection is closed. */
static void
head_timed_out(vconn *c)
{
    int some = c->len || c->empty_lines;
    head_clock_stop(c);
    if (!some) {
        conn_close(c);
        return;
    }
    vlog("bad request: the request head did not arrive within header-timeout (%g s)", W.header_timeout);
    send_error_now(c, 408);
    conn_close_lingering(c);
}

/* A request body that did not arrive within body-timeout: 408 (sent if
 * the socket takes it at once), then the connection is closed. */
static void
body_timed_out(vconn *c)
{
    vlog("bad request: the request body did not arrive within body-timeout (%g s)", W.body_timeout);
    clock_stop(c);
    send_error_now(c, 408);
    conn_close_lingering(c);
}

static void
expire(double now)
{
    int w;
    while (W.clocks[CLOCK_HEAD].head && W.clocks[CLOCK_HEAD].head->clock_deadline <= now)
        head_timed_out(W.clocks[CLOCK_HEAD].head);
    while (W.clocks[CLOCK_BODY].head && W.clocks[CLOCK_BODY].head->clock_deadline <= now)
        body_timed_out(W.clocks[CLOCK_BODY].head);
    for (w = LIST_PARTIAL; w <= LIST_LAST; w++)
        while (W.lists[w].head && W.lists[w].head->deadline <= now)
            conn_close(W.lists[w].head);
}

static int
next_timeout_ms(void)
{
    double next = 0, now;
    int w;
    for (w = LIST_PARTIAL; w <= LIST_LAST; w++)
        if (W.lists[w].head && (!next || W.lists[w].head->deadline < next))
            next = W.lists[w].head->deadline;
    for (w = CLOCK_HEAD; w <= CLOCK_BODY; w++)
        if (W.clocks[w].head && (!next || W.clocks[w].head->clock_deadline < next))
            next = W.clocks[w].head->clock_deadline;
    if (!next) return -1;
    now = vassal_monotonic();
    if (next <= now) return 0;
    return (int)((next - now) * 1000.0) + 1;
}

/* Has the master gone? A worker is re-parented when it dies. */
static int
orphaned(void)
{
    return W.master_pid > 0 && getppid() != W.master_pid;
}

/* An orphaned worker finishes its request in flight, then goes: nobody
 * enforces harakiri or the graceful-stop timeout for it any more, so a
 * CLOCK_MONOTONIC timer sends SIGKILL after orphan_timeout seconds - a
 * signal the app cannot catch or re-arm, unlike alarm(). timer_settime and
 * getppid are async-signal-safe. */
static void
orphan_deadline(void)
{
    struct itimerspec its;
    if (W.orphan_timer_state != 1 || !orphaned()) return;
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)W.orphan_timeout;
    its.it_value.tv_nsec = (long)((W.orphan_timeout - (double)its.it_value.tv_sec) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    if (timer_settime(W.orphan_timer, 0, &its, NULL) == 0) W.orphan_timer_state = 2;
}

/* SIGQUIT and SIGHUP: a graceful stop. The master sends SIGQUIT, and the
 * kernel sends it too when the master dies (Vassal::Server sets it as the
 * worker's PR_SET_PDEATHSIG): the flag stops the accepting at once, the
 * request in flight is finished. */
static void
on_stop_signal(int sig)
{
    int saved = errno;
    char b = 'q';
    vassal_stop_signal = 1;
    orphan_deadline();
    if (W.wake_w >= 0 && write(W.wake_w, &b, 1) < 0) { /* the pipe is full: already woken */ }
    errno = saved;
    PERL_UNUSED_ARG(sig);
}

/* ------------------------------------------------------------ the loop */

static SV *
opt_fetch(pTHX_ HV *opts, const char *key)
{
    SV **svp = hv_fetch(opts, key, (I32)strlen(key), 0);
    return svp && SvOK(*svp) ? *svp : NULL;
}

static double
opt_num(pTHX_ HV *opts, const char *key, double dflt)
{
    SV *sv = opt_fetch(aTHX_ opts, key);
    return sv ? SvNV(sv) : dflt;
}

static void
setup(pTHX_ HV *opts)
{
    SV *sv;
    AV *lav;
    SSize_t i;
    struct rlimit rl;
    int pfd[2];

    env_keys_init(aTHX);
    memset(&W.lists, 0, sizeof(W.lists));
    memset(&W.clocks, 0, sizeof(W.clocks));
    W.graveyard = NULL;
    W.nconns = 0;
    W.served = 0;
    W.told_served = 0;
    W.stop_reason = NULL;
    W.wake_r = W.wake_w = -1;
    vassal_stop_signal = 0;

    if (!(sv = opt_fetch(aTHX_ opts, "app")) || !SvROK(sv))
        croak("worker_run: app must be a code reference");
    W.app = sv;
    if (!(sv = opt_fetch(aTHX_ opts, "slow")) || !SvROK(sv))
        croak("worker_run: slow must be a code reference");
    W.slow = sv;
    if (!(sv = opt_fetch(aTHX_ opts, "listeners")) || !SvROK(sv) || SvTYPE(SvRV(sv)) != SVt_PVAV)
        croak("worker_run: listeners must be an array reference");
    lav = (AV *)SvRV(sv);
    W.nls = (int)(av_len(lav) + 1);
    if (W.nls < 1) croak("worker_run: no listener");
    Newxz(W.ls, W.nls, vlistener);
    for (i = 0; i < W.nls; i++) {
        SV **e = av_fetch(lav, i, 0);
        HV *lh;
        SV *v;
        if (!e || !SvROK(*e) || SvTYPE(SvRV(*e)) != SVt_PVHV) croak("worker_run: listener %d is not a hash", (int)i);
        lh = (HV *)SvRV(*e);
        W.ls[i].kind = K_LISTENER;
        if (!(v = opt_fetch(aTHX_ lh, "fd"))) croak("worker_run: listener %d has no fd", (int)i);
        W.ls[i].fd = (int)SvIV(v);
        v = opt_fetch(aTHX_ lh, "proto");
        W.ls[i].proto = v && strEQ(SvPV_nolen(v), "uwsgi") ? VASSAL_PROTO_UWSGI : VASSAL_PROTO_HTTP;
        v = opt_fetch(aTHX_ lh, "unix");
        W.ls[i].is_unix = v && SvTRUE(v);
        v = opt_fetch(aTHX_ lh, "server_name");
        W.ls[i].server_name = v ? newSVsv(v) : newSVpvs("localhost");
        v = opt_fetch(aTHX_ lh, "server_port");
        W.ls[i].server_port = v ? newSVsv(v) : newSVpvs("0");
        /* accept4() must not block when another worker took the connection */
        fcntl(W.ls[i].fd, F_SETFL, fcntl(W.ls[i].fd, F_GETFL) | O_NONBLOCK);
    }
    W.socket_timeout = opt_num(aTHX_ opts, "socket_timeout", 4);
    W.keepalive_timeout = opt_num(aTHX_ opts, "keepalive_timeout", W.socket_timeout);
    sv = opt_fetch(aTHX_ opts, "underscores_in_headers");
    W.underscores_in_headers = sv && SvTRUE(sv);
    W.buffer_size = (UV)opt_num(aTHX_ opts, "buffer_size", 65536);
    W.limit_post = (UV)opt_num(aTHX_ opts, "limit_post", LIMIT_POST_DEFAULT);
    W.post_buffering = (UV)opt_num(aTHX_ opts, "post_buffering", 1024 * 1024);
    W.max_requests = (UV)opt_num(aTHX_ opts, "max_requests", 0);
    W.status_fd = (int)opt_num(aTHX_ opts, "status_fd", -1);
    W.master_pid = (pid_t)opt_num(aTHX_ opts, "master_pid", 0);
    W.orphan_timeout = opt_num(aTHX_ opts, "orphan_timeout", 0);
    W.orphan_timer_state = 0;
    if (W.master_pid > 0 && W.orphan_timeout > 0) {
        struct sigevent se;
        memset(&se, 0, sizeof(se));
        se.sigev_notify = SIGEV_SIGNAL;
        se.sigev_signo = SIGKILL;
        if (timer_create(CLOCK_MONOTONIC, &se, &W.orphan_timer) == 0) W.orphan_timer_state = 1;
        else vlog("timer_create failed: %s (an orphaned worker is not bounded)", strerror(errno));
    }
    if (W.socket_timeout <= 0) W.socket_timeout = 4;
    if (W.keepalive_timeout <= 0) W.keepalive_timeout = W.socket_timeout;
    W.header_timeout = opt_num(aTHX_ opts, "header_timeout", 0);
    if (W.header_timeout <= 0) W.header_timeout = 3 * W.socket_timeout;
    W.body_timeout = opt_num(aTHX_ opts, "body_timeout", BODY_TIMEOUT_DEFAULT);
    if (W.body_timeout <= 0) W.body_timeout = BODY_TIMEOUT_DEFAULT;
    if (W.buffer_size < 512) W.buffer_size = 512;
    /* TCP_DEFER_ACCEPT, as uWSGI (unless no-defer-accept): a TCP connection
     * is queued for accept() once its first bytes have arrived (or after
     * about socket-timeout seconds without any), not at the end of the
     * handshake. Without it a worker that is faster than its clients takes
     * the connection before the request, finds nothing to read, parks it in
     * epoll and is woken a second time: twice the wake-ups (each one paid
     * by the client's system call that completes the handshake or sends the
     * request) and four more system calls per connection. The option
     * belongs to the listening socket, shared by every worker and kept
     * across reloads: set (or cleared) by each worker alike. */
    sv = opt_fetch(aTHX_ opts, "defer_accept");
    {
        int defer = sv && !SvTRUE(sv) ? 0 : (int)(W.socket_timeout + 0.999);
        for (i = 0; i < W.nls; i++)
            if (!W.ls[i].is_unix)
                (void)setsockopt(W.ls[i].fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer));
    }
    W.slot = NULL;
    if ((sv = opt_fetch(aTHX_ opts, "scoreboard")) && SvROK(sv)) {
        vassal_board *board = INT2PTR(vassal_board *, SvIV(SvRV(sv)));
        int idx = (int)opt_num(aTHX_ opts, "slot", 0);
        if (idx < 0 || idx >= board->n) croak("worker_run: slot %d is not on the scoreboard", idx);
        W.slot = board->slots + idx;
    }
    sv = opt_fetch(aTHX_ opts, "name");
    snprintf(W.name, sizeof(W.name), "%s", sv ? SvPV_nolen(sv) : "psgi-vassal");
    sv = opt_fetch(aTHX_ opts, "tmpdir");
    snprintf(W.tmpdir, sizeof(W.tmpdir), "%s", sv ? SvPV_nolen(sv) : "/tmp");

    W.stderr_gv = gv_fetchpvs("STDERR", GV_ADD, SVt_PVIO);
    W.psgi_version = newAV();
    av_push(W.psgi_version, newSViv(1));
    av_push(W.psgi_version, newSViv(1));
    SvREADONLY_on((SV *)W.psgi_version);
    W.conn_stash = gv_stashpvs("Vassal::Conn", GV_ADD);
    W.input_stash = gv_stashpvs("Vassal::Input", GV_ADD);
    W.inet_stash = gv_stashpvs("IO::Socket::INET", GV_ADD);
    W.unix_stash = gv_stashpvs("IO::Socket::UNIX", GV_ADD);
    W.empty_input = input_wrap(aTHX_ input_alloc(aTHX_ 0), W.input_stash);
    if (!W.scratch) Newx(W.scratch, SCRATCH_SIZE, char);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        W.max_conns = (int)rl.rlim_cur - 64;
    else
        W.max_conns = 4096;
    if (W.max_conns > 65536) W.max_conns = 65536;
    if (W.max_conns < 8) W.max_conns = 8;
    {
        /* each holds up to buffer_size bytes: a bound on the worker's memory */
        double mc = opt_num(aTHX_ opts, "max_connections", MAX_CONNS_DEFAULT);
        if (mc >= 1 && mc < W.max_conns) W.max_conns = (int)mc;
    }

    W.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (W.epfd < 0) croak("epoll_create1 failed: %s", strerror(errno));
    for (i = 0; i < W.nls; i++) {
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        /* Not EPOLLEXCLUSIVE: the listening socket may be shared with another
         * generation of the vassal (the Emperor holds it), and a worker that
         * stops right after the kernel chose it alone for a connection would
         * leave that connection unannounced to every other worker until the
         * next one arrives. Level-triggered and shared, every idle worker
         * hears of it and one wins accept4() (uWSGI's default, no thunder lock). */
        ev.events = EPOLLIN;
        ev.data.ptr = &W.ls[i];
        if (epoll_ctl(W.epfd, EPOLL_CTL_ADD, W.ls[i].fd, &ev) < 0)
            croak("epoll_ctl(ADD) of listener fd %d failed: %s", W.ls[i].fd, strerror(errno));
    }
    /* the stop signal's self-pipe, so that no signal is lost between checks */
    if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) < 0) croak("pipe2 failed: %s", strerror(errno));
    W.wake_r = pfd[0];
    W.wake_w = pfd[1];
    W.wake_kind = K_WAKE;
    {
        struct epoll_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = &W.wake_kind;
        epoll_ctl(W.epfd, EPOLL_CTL_ADD, W.wake_r, &ev);
    }
}

static void
teardown(pTHX)
{
    int i, w;
    /* lingering connections get the rest of their time (at most
     * LINGER_SECONDS in all: the deadlines are absolute) */
    while (W.lists[LIST_LINGER].head) {
        vconn *c = W.lists[LIST_LINGER].head;
        double left = c->deadline - vassal_monotonic();
        list_remove(c);
        if (left > 0 && wait_fd(c->fd, POLLIN, left) > 0 && !linger_drain(c))
            list_append(c, LIST_LINGER, c->deadline);
        else
            conn_close(c);
    }
    for (w = LIST_PARTIAL; w <= LIST_LAST; w++)
        while (W.lists[w].head) conn_close(W.lists[w].head);
    bury();
    while (W.pool) {
        vconn *c = W.pool;
        W.pool = c->dead_next;
        Safefree(c->buf);
        Safefree(c);
    }
    W.npool = 0;
    /* an armed deadline stays: the orphaned worker is on its way out */
    if (W.orphan_timer_state == 1) timer_delete(W.orphan_timer);
    W.orphan_timer_state = 0;
    close(W.epfd);
    close(W.wake_r);
    close(W.wake_w);
    W.wake_r = W.wake_w = -1;
    for (i = 0; i < W.nls; i++) {
        SvREFCNT_dec(W.ls[i].server_name);
        SvREFCNT_dec(W.ls[i].server_port);
    }
    Safefree(W.ls);
    W.ls = NULL;
    SvREFCNT_dec(W.empty_input);
    SvREFCNT_dec((SV *)W.psgi_version);
}

const char *
vassal_worker_run(pTHX_ HV *opts)
{
    struct epoll_event evs[64];
    struct sigaction sa, old_quit, old_hup, old_pipe;
    const char *reason;

    if (W.running) croak("worker_run: already running");
    setup(aTHX_ opts);
    W.running = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;     /* the app's own system calls carry on */
    sigaction(SIGQUIT, &sa, &old_quit);
    sigaction(SIGHUP, &sa, &old_hup);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);

    if (W.slot) {
        W.slot->pid = (int)getpid();
        W.slot->busy_since = 0;
        W.slot->accepting = 1;
    }
    tell_master('A');
    /* the master died before the handler was installed */
    if (orphaned()) {
        vassal_stop_signal = 1;
        orphan_deadline();
    }

    while (!W.stop_reason) {
        int n, i;
        if (vassal_stop_signal) {
            W.stop_reason = orphaned() ? "the master is gone" : "graceful stop";
            break;
        }
        n = epoll_wait(W.epfd, evs, 64, next_timeout_ms());
        if (n < 0) {
            if (errno == EINTR) continue;
            vlog("epoll_wait failed: %s", strerror(errno));
            W.stop_reason = "epoll_wait failed";
            break;
        }
        for (i = 0; i < n && !W.stop_reason && !vassal_stop_signal; i++) {
            int kind = *(int *)evs[i].data.ptr;
            if (kind == K_LISTENER) accept_some(aTHX_ (vlistener *)evs[i].data.ptr);
            else if (kind == K_CONN) conn_ready(aTHX_ (vconn *)evs[i].data.ptr);
        }
        expire(vassal_monotonic());
        bury();
    }
    reason = W.stop_reason ? W.stop_reason : "graceful stop";

    sigaction(SIGQUIT, &old_quit, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    teardown(aTHX);
    W.running = 0;
    return reason;
}

/* --------------------------------------------------------- for tests */

IV
vassal_parse_http_request(pTHX_ SV *bufsv, HV *env)
{
    STRLEN len;
    const char *buf = SvPVbyte(bufsv, len);
    size_t scan = 0, end, skip;
    vassal_request req;
    vreqinfo info;
    int rc;
    env_keys_init(aTHX);
    skip = vassal_http_skip_empty_lines(buf, len);
    buf += skip;
    len -= skip;
    end = vassal_http_head_end(buf, len, &scan);
    if (!end) {
        rc = vassal_http_check_first_line(buf, len);
        if (rc == VASSAL_E_VERSION) return -3;
        return rc ? -1 : -2;
    }
    rc = vassal_http_parse_head(buf, end, &req);
    if (rc == VASSAL_E_VERSION) return -3;
    if (rc == VASSAL_E_TOO_MANY) return -4;
    if (rc) return -1;
    if (env_from_http(aTHX_ env, &req, &info)) return -1;
    if (info.chunked && info.content_length >= 0) return -1;
    return (IV)(end + skip);
}

/* ------------------------------------------------------ Vassal::Conn */

void
vassal_conn_check(pTHX_ SV *self)
{
    if (!SvROK(self) || !W.r.active || SvUV(SvRV(self)) != W.r.serial)
        croak("this response is already finished");
}

void
vassal_conn_send(pTHX_ SV *self, SV *status, SV *headers, SV *body)
{
    const char *err;
    vassal_conn_check(aTHX_ self);
    if (W.r.started) croak("the response was already started");
    if (headers && SvOK(headers) && (!SvROK(headers) || SvTYPE(SvRV(headers)) != SVt_PVAV))
        croak("invalid response: the headers are not an array reference");
    if (!SvROK(body) || SvTYPE(SvRV(body)) != SVt_PVAV)
        croak("invalid response: the body is not an array reference");
    err = send_array_response(aTHX_ status,
                              headers && SvOK(headers) ? (AV *)SvRV(headers) : NULL,
                              (AV *)SvRV(body));
    if (err) croak("%s%s", W.r.started ? "" : "invalid response: ", err);
}

void
vassal_conn_start(pTHX_ SV *self, SV *status, SV *headers)
{
    const char *err;
    vassal_conn_check(aTHX_ self);
    if (W.r.started) croak("the response was already started");
    if (headers && SvOK(headers) && (!SvROK(headers) || SvTYPE(SvRV(headers)) != SVt_PVAV))
        croak("invalid response: the headers are not an array reference");
    err = build_head(aTHX_ status, headers && SvOK(headers) ? (AV *)SvRV(headers) : NULL, -1);
    if (err) croak("invalid response: %s", err);
    W.r.started = 1;
    if (resp_send(W.out.p, W.out.len) < 0) croak("write: the client went away");
}

void
vassal_conn_write(pTHX_ SV *self, SV *data)
{
    STRLEN l;
    const char *p;
    vassal_conn_check(aTHX_ self);
    if (!W.r.started) croak("write before the response was started");
    if (W.r.finished) croak("write after close");
    if (!data || !SvOK(data)) return;
    p = SvPVbyte(data, l);
    if (!l || W.r.skip_body) return;
    if (W.r.failed) croak("write: the client went away");
    if (W.r.chunked) {
        char hex[24];
        struct iovec iov[3];
        int hl = snprintf(hex, sizeof(hex), "%lx\r\n", (unsigned long)l);
        iov[0].iov_base = hex;          iov[0].iov_len = (size_t)hl;
        iov[1].iov_base = (void *)p;    iov[1].iov_len = l;
        iov[2].iov_base = (void *)"\r\n"; iov[2].iov_len = 2;
        if (sendv_all(W.r.c->fd, iov, 3, W.socket_timeout) < 0) {
            W.r.failed = 1;
            W.r.keepalive = 0;
            croak("write: the client went away");
        }
    }
    else if (resp_send(p, l) < 0)
        croak("write: the client went away");
}

void
vassal_conn_finish(pTHX_ SV *self)
{
    vassal_conn_check(aTHX_ self);
    if (!W.r.started || W.r.finished) return;
    W.r.finished = 1;
    if (W.r.chunked && !W.r.skip_body && resp_send("0\r\n\r\n", 5) < 0)
        croak("write: the client went away");
}

int
vassal_conn_flag(pTHX_ SV *self, const char *which)
{
    if (!SvROK(self) || SvUV(SvRV(self)) != W.r.serial) {
        if (strEQ(which, "active")) return 0;
        return 1;    /* an old response: started, finished */
    }
    if (strEQ(which, "active")) return W.r.active;
    if (strEQ(which, "started")) return W.r.started;
    if (strEQ(which, "finished")) return W.r.finished;
    if (strEQ(which, "io_taken")) return W.r.io_taken;
    if (strEQ(which, "keepalive")) return W.r.keepalive;
    croak("unknown flag %s", which);
    return 0;
}

void
vassal_conn_no_keepalive(pTHX_ SV *self)
{
    vassal_conn_check(aTHX_ self);
    W.r.keepalive = 0;
}

/* ------------------------------------------------------ the scoreboard */

vassal_board *
vassal_scoreboard_new(int n)
{
    vassal_board *b;
    void *p = mmap(NULL, sizeof(vassal_slot) * (size_t)n, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    memset(p, 0, sizeof(vassal_slot) * (size_t)n);
    b = (vassal_board *)malloc(sizeof(*b));
    if (!b) { munmap(p, sizeof(vassal_slot) * (size_t)n); return NULL; }
    b->n = n;
    b->slots = (vassal_slot *)p;
    return b;
}
