/*
 * vassal_worker_int.h - what the files of the worker's hot path share (not
 * for Vassal.xs, which sees vassal_worker.h): its constants, connections,
 * the env's keys, the one struct worker, and the functions one file calls
 * in another. Needs perl.h first.
 *
 *   vassal_conn.c         connections: lists, clocks, reads, closes, errors
 *   vassal_body.c         request bodies: read in the loop, psgi.input
 *   vassal_env.c          the PSGI env common to both front ends
 *   vassal_response.c     calling the app, writing its response, Vassal::Conn
 *   vassal_http_front.c   the HTTP/1.x front end (vassal_http.c parses)
 *   vassal_uwsgi_front.c  the uwsgi front end (vassal_uwsgi.c walks its dict)
 *   vassal_loop.c         the event loop: accept, readiness, deadlines, signals
 *   vassal_setup.c        a worker's options, setup and teardown
 */
#ifndef VASSAL_WORKER_INT_H
#define VASSAL_WORKER_INT_H

#include <signal.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>
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
#define BODY_MEMORY_MAX (64 * 1024 * 1024)   /* held by the bodies being read, beyond: files */
#define EMPTY_LINES_MAX 4       /* empty lines taken before a request line (RFC 9112 2.2: at least one) */

#define CLOCK_NONE 0
#define CLOCK_HEAD 1
#define CLOCK_BODY 2

typedef struct { char *p; size_t len, cap; } vbuf;

#define vbuf_adds(b, lit) vbuf_add((b), "" lit, sizeof(lit) - 1)

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
    struct vconn *prev, *next;      /* in worker.lists[list] */
    /* the request's clock: the head's (header-timeout), running from the
     * accept, or on a keep-alive connection from the first byte after the
     * previous request, until the head is complete; then the body's
     * (body-timeout) until the body is complete. In worker.clocks[clock]. */
    int clock;                      /* CLOCK_NONE, CLOCK_HEAD or CLOCK_BODY */
    double clock_deadline;
    struct vconn *cprev, *cnext;
    struct vbody *body;             /* the request whose body is being read */
    int empty_lines;                /* before this request line */
    struct vconn *dead_next;        /* in worker.graveyard */
    int port;
    char addr[INET6_ADDRSTRLEN + 1];
} vconn;

typedef struct { vconn *head, *tail; } vlist;

/* What a read without waiting got. */
typedef enum {
    READ_SOME,              /* bytes */
    READ_NOTHING_YET,       /* EAGAIN: wait in the epoll set */
    READ_EOF,
    READ_ERROR,
    READ_BUFFER_FULL        /* conn_read: the buffer is at its limit */
} read_result;

typedef struct {
    IV content_length;      /* -1: none */
    int status;             /* what env_from_http refused the request with */
    const char *why;        /* and why */
    int chunked;
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
extern const char *env_key[E_COUNT];
extern I32 env_key_len[E_COUNT];
extern U32 env_key_hash[E_COUNT];

#define ESTORE(hv, k, v)  (void)hv_store((hv), env_key[k], env_key_len[k], (v), env_key_hash[k])
#define EFETCH(hv, k)     hv_fetch((hv), env_key[k], env_key_len[k], 0)
#define EDELETE(hv, k)    (void)hv_delete((hv), env_key[k], env_key_len[k], G_DISCARD)

/* the worker: its options, its connections and the request in flight */
struct worker {
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
    size_t body_memory;             /* bytes the bodies being read hold in memory */
    double body_timeout;            /* body-timeout: a request body's total time */
    vconn *graveyard;
    vconn *pool;            /* closed connections kept for reuse, with their buffers */
    int npool;
    UV served;
    UV serial;
    int told_served;
    const char *stop_reason;
    int draining;               /* a graceful stop: finishing the requests under way (vassal_loop.c) */
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
    } inflight;             /* the request being served and its response */
};
extern struct worker worker;

/* SIGQUIT or SIGHUP came: a graceful stop */
extern volatile sig_atomic_t vassal_stop_signal;

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
    size_t memory;          /* bytes it holds in memory (in worker.body_memory) */
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

/* vassal_conn.c */
read_result read_now(int fd, char *dst, size_t max, size_t *got);
void vbuf_reserve(vbuf *b, size_t more);
void vbuf_add(vbuf *b, const char *s, size_t n);
void vbuf_addnum(vbuf *b, UV n);
void vlog(const char *fmt, ...);
void vlog_sv(pTHX_ const char *what, SV *err);
int wait_fd(int fd, short events, double timeout);
int sendv_all_flags(int fd, struct iovec *iov, int cnt, double timeout, int flags);
int sendv_all(int fd, struct iovec *iov, int cnt, double timeout);
int send_all(int fd, const char *p, size_t len, double timeout);
void list_remove(vconn *c);
void list_append(vconn *c, int which, double deadline);
void clock_start(vconn *c, int which, double timeout, double now);
void clock_stop(vconn *c);
void head_clock_start(vconn *c, double now);
void head_clock_stop(vconn *c);
void conn_close(vconn *c);
void bury(void);
vconn *conn_new(void);
int linger_drain(vconn *c);
void conn_close_lingering(vconn *c);
int conn_park(vconn *c, int which);
size_t conn_limit(vconn *c);
read_result conn_read(vconn *c, size_t limit);
void conn_consume(vconn *c, size_t *pos);
void send_error(vconn *c, int status);
void send_error_now(vconn *c, int status);
void refuse(vconn *c, int status, const char *why);

/* vassal_body.c */
vassal_input *input_alloc(pTHX_ size_t expect);
SV *input_wrap(pTHX_ vassal_input *in, HV *stash);
int body_over_limit(vconn *c, long long length);
void body_discard(vconn *c);
vbody *body_begin(pTHX_ vconn *c, SV *envrv, IV length);
int body_advance(pTHX_ vconn *c);

/* vassal_env.c */
void env_keys_init(pTHX);
void env_header(pTHX_ HV *env, const vassal_header *h);
void env_underscored(pTHX_ HV *env, const vassal_request *req);
void env_common(pTHX_ HV *env, vconn *c);
void request_begins(void);

/* vassal_response.c */
void tell_master(char what);
int run_request(pTHX_ vconn *c, SV *envrv, int keepalive);

/* the front ends: serve what a connection's buffer holds */
void http_serve(pTHX_ vconn *c);
void uwsgi_serve(pTHX_ vconn *c);

/* vassal_setup.c */
void worker_setup(pTHX_ HV *opts);
void worker_teardown(pTHX);

#endif
