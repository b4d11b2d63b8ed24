/*
 * vassal_worker.h - the worker loop (vassal_loop.c and the files of
 * vassal_worker_int.h), for Vassal.xs.
 * Needs perl.h first.
 */
#ifndef VASSAL_WORKER_H
#define VASSAL_WORKER_H

#define VASSAL_PROTO_HTTP  1
#define VASSAL_PROTO_UWSGI 2

/* One scoreboard slot per worker, in memory shared by the master and its
 * workers (mmap MAP_SHARED before the workers are forked). A worker writes
 * its own slot; the master only reads (harakiri, idle, stats). Times are
 * CLOCK_MONOTONIC seconds. 64 bytes so that slots do not share cache lines. */
typedef struct {
    volatile int pid;
    volatile int accepting;                 /* the worker entered its loop */
    volatile double busy_since;             /* 0 when no request is in flight */
    volatile double last_done;              /* end of the last request */
    volatile unsigned long long requests;   /* served by this worker */
    char pad[64 - 2 * sizeof(int) - 2 * sizeof(double) - sizeof(unsigned long long)];
} vassal_slot;

/* the scoreboard: n slots in shared memory */
typedef struct {
    int n;
    vassal_slot *slots;
} vassal_board;

double vassal_monotonic(void);

/* Runs the accept/serve loop until a graceful stop (SIGQUIT or SIGHUP),
 * max-requests or psgix.harakiri.commit; returns why it stopped. opts: see
 * Vassal::XS::worker_run. Croaks on a bad option before serving. */
const char *vassal_worker_run(pTHX_ HV *opts);

/* Parses one HTTP request head the way the worker does, for tests: what
 * came of it, and with VASSAL_HEAD_PARSED its length in *head_len. */
typedef enum {
    VASSAL_HEAD_PARSED,
    VASSAL_HEAD_INCOMPLETE,
    VASSAL_HEAD_MALFORMED,          /* 400 */
    VASSAL_HEAD_BAD_VERSION,        /* 505 */
    VASSAL_HEAD_TOO_MANY_FIELDS     /* 431 */
} vassal_head_result;
vassal_head_result vassal_parse_http_request(pTHX_ SV *buf, HV *env, size_t *head_len);

/* Vassal::Conn: the response in flight, for the Perl slow path. */
void vassal_conn_check(pTHX_ SV *self);
void vassal_conn_send(pTHX_ SV *self, SV *status, SV *headers, SV *body);
void vassal_conn_start(pTHX_ SV *self, SV *status, SV *headers);
void vassal_conn_write(pTHX_ SV *self, SV *data);
void vassal_conn_finish(pTHX_ SV *self);
int  vassal_conn_flag(pTHX_ SV *self, const char *which);
void vassal_conn_no_keepalive(pTHX_ SV *self);

/* Vassal::Input: psgi.input */
typedef struct {
    SV *data;          /* in memory, or NULL when spooled to fd */
    int fd;            /* an unlinked temporary file, or -1 */
    Off_t size;
    Off_t pos;
} vassal_input;

vassal_input *vassal_input_from(pTHX_ SV *self);
SSize_t vassal_input_read(pTHX_ vassal_input *in, char *dst, size_t len);
SV *vassal_input_new_sv(pTHX_ const char *data, STRLEN len);

/* the scoreboard: NULL (errno set) when mmap fails */
vassal_board *vassal_scoreboard_new(int n);

#endif
