/*
 * vassal_body.c - request bodies, read in the event loop before the app is called (memory
 * up to post-buffering, then an unlinked temporary file) with a total
 * deadline, Content-Length or chunked, for both front ends; and
 * Vassal::Input, the psgi.input they become.
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

#include "vassal_worker_int.h"

static int
open_tmp(void)
{
    int fd;
#ifdef O_TMPFILE
    fd = open(worker.tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
#endif
    {
        char path[1100];
        snprintf(path, sizeof(path), "%s/vassal-body-XXXXXX", worker.tmpdir);
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
        vlog("cannot create a temporary file in %s for a request body: %s", worker.tmpdir, strerror(errno));
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
    if (in->data && (UV)(SvCUR(in->data) + n) > worker.post_buffering && input_spill(aTHX_ in) < 0)
        return -1;
    if (in->data) sv_catpvn(in->data, p, n);
    else if (pwrite_all(in->fd, p, n, in->size) < 0) {
        vlog("cannot write a request body to a temporary file: %s", strerror(errno));
        return -1;
    }
    in->size += (Off_t)n;
    return 0;
}

vassal_input *
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

SV *
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

/* Frees a connection's unfinished body and the env it was for. */
void
body_discard(vconn *c)
{
    vbody *b = c->body;
    if (!b) return;
    {
        dTHX;
        c->body = NULL;
        worker.body_memory -= b->memory;
        SvREFCNT_dec(b->envrv);
        Safefree(b);
    }
}

/* Stores n more bytes of b's body: in memory while the body stays within
 * post-buffering and the bodies being read hold at most BODY_MEMORY_MAX
 * (or post-buffering, when larger) of memory in all; else in its temporary
 * file. Memory grows with what arrives, never with what a Content-Length
 * announces. -1 when it cannot be stored. */
static int
body_store(pTHX_ vbody *b, const char *p, size_t n)
{
    vassal_input *in = b->in;
    size_t budget = worker.post_buffering > BODY_MEMORY_MAX ? (size_t)worker.post_buffering : BODY_MEMORY_MAX;
    if (in->data && worker.body_memory - b->memory + SvCUR(in->data) + n > budget) {
        if (input_spill(aTHX_ in) < 0) return -1;
    }
    if (input_append(aTHX_ in, p, n) < 0) return -1;
    worker.body_memory -= b->memory;
    b->memory = in->data ? SvLEN(in->data) : 0;
    worker.body_memory += b->memory;
    return 0;
}

/* Takes the Content-Length body's bytes that are in c->buf. */
static body_state
length_take(pTHX_ vconn *c, vbody *b)
{
    size_t take = c->len < b->left ? c->len : (size_t)b->left;
    if (body_store(aTHX_ b, c->buf, take) < 0) return BODY_STORE_FAILED;
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
            if (body_store(aTHX_ b, s, take) < 0) { st = BODY_STORE_FAILED; break; }
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
            if (avail > (b->chunk_state == CHUNK_SIZE_LINE ? CHUNK_LINE_MAX : worker.buffer_size))
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
            if (b->trailer > worker.buffer_size) { st = BODY_MALFORMED; break; }
            continue;
        }
        if (!chunk_size_line(s, s + l, &b->left)) { st = BODY_MALFORMED; break; }
        if (!b->left) { b->chunk_state = CHUNK_TRAILER; continue; }
        if (worker.limit_post && b->total + b->left > worker.limit_post) { st = BODY_TOO_LARGE; break; }
        b->total += b->left;
        b->chunk_state = CHUNK_DATA;
    }
    conn_consume(c, &pos);
    return st;
}

/* Reads c's body as far as the socket has it, without waiting: a
 * Content-Length body through the scratch buffer, a chunked one through
 * c->buf (its framing is parsed there), at most buffer-size or 16 KiB. */
static body_state
body_pump(pTHX_ vconn *c)
{
    vbody *b = c->body;
    size_t chunk_room = worker.buffer_size > 16384 ? worker.buffer_size : 16384;
    for (;;) {
        body_state st = b->chunked ? chunked_take(aTHX_ c, b) : length_take(aTHX_ c, b);
        read_result r;
        size_t got = 0;
        if (st != BODY_NEED_MORE) return st;
        if (b->chunked) {
            r = conn_read(c, chunk_room);
            if (r == READ_BUFFER_FULL) return BODY_MALFORMED;   /* a framing line that fills it */
        }
        else {
            size_t max = b->left < SCRATCH_SIZE ? (size_t)b->left : SCRATCH_SIZE;
            r = read_now(c->fd, worker.scratch, max, &got);
            if (r == READ_SOME) {
                c->more = got == max;
                if (body_store(aTHX_ b, worker.scratch, got) < 0) return BODY_STORE_FAILED;
                b->left -= got;
            }
        }
        if (r == READ_NOTHING_YET) return BODY_NEED_MORE;
        if (r != READ_SOME) return BODY_CLIENT_GONE;
    }
}

/* A body of length bytes over limit-post: 413, before any of it is read.
 * Returns 1 when the request was refused so. */
int
body_over_limit(vconn *c, long long length)
{
    if (!worker.limit_post || length <= 0 || (UV)length <= worker.limit_post) return 0;
    vlog("request body of %lld bytes is over limit-post (%" UVuf ")", length, worker.limit_post);
    send_error(c, 413);
    conn_close_lingering(c);
    return 1;
}

/* Starts reading a body for the request whose env is envrv: Content-Length
 * bytes, or chunked when length < 0. The env's psgi.input is set here. */
vbody *
body_begin(pTHX_ vconn *c, SV *envrv, IV length)
{
    vbody *b;
    /* room for what has come (all of a small body, usually), not for what
     * the Content-Length announces: a client that sends nothing more gets
     * no memory for it */
    size_t expect = length > 0 && (UV)length <= worker.post_buffering ? (size_t)length : 0;
    vassal_input *in = input_alloc(aTHX_ expect < c->len ? expect : c->len);
    ESTORE((HV *)SvRV(envrv), E_PSGI_INPUT, input_wrap(aTHX_ in, worker.input_stash));
    Newxz(b, 1, vbody);
    b->envrv = SvREFCNT_inc_simple_NN(envrv);
    b->in = in;
    b->serial = worker.serial;
    if (length < 0) {
        b->chunked = 1;
        b->chunk_state = CHUNK_SIZE_LINE;
    }
    else
        b->left = (UV)length;
    c->body = b;
    clock_start(c, CLOCK_BODY, worker.body_timeout, vassal_monotonic());
    if (length > (IV)worker.post_buffering && input_spill(aTHX_ in) < 0) {
        body_discard(c);
        return NULL;
    }
    return b;
}

/* The body is complete: calls the app. Returns run_request's answer. */
static int
body_run(pTHX_ vconn *c)
{
    vbody *b = c->body;
    HV *env = (HV *)SvRV(b->envrv);
    int rc;
    c->body = NULL;
    clock_stop(c);
    worker.body_memory -= b->memory;      /* the app's from here */
    if (b->in->data) SvPVX(b->in->data)[SvCUR(b->in->data)] = '\0';
    if (b->chunked) {
        EDELETE(env, E_HTTP_TRANSFER_ENCODING);
        ESTORE(env, E_CONTENT_LENGTH, newSVuv(b->total));
    }
    worker.inflight.serial = b->serial;
    worker.inflight.proto = b->proto;
    worker.inflight.minor = b->minor;
    worker.inflight.head = b->is_head;
    memcpy(worker.inflight.protocol, b->protocol, sizeof(worker.inflight.protocol));
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
int
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
        vlog("chunked request body over limit-post (%" UVuf ")", worker.limit_post);
        refuse(c, 413, "body too large");
        return 0;
    case BODY_STORE_FAILED:
        refuse(c, 500, "cannot store the body");
        return 0;
    }
    return 0;
}
