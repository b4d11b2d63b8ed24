/*
 * vassal_env.c - the PSGI env: its keys (hashed once), header fields as HTTP_*
 * keys, the parts every request has, and psgix.io.
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

const char *env_key[E_COUNT] = {
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
I32 env_key_len[E_COUNT];
U32 env_key_hash[E_COUNT];
static int env_keys_ready = 0;

void
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
void
env_header(pTHX_ HV *env, const vassal_header *h)
{
    size_t i, klen;
    char *k;
    SV **old;
    int is_ct = h->name_len == 12 && vassal_ieq(h->name, 12, "content-type");
    vbuf_reserve(&worker.key, h->name_len + 6);
    k = worker.key.p;
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
void
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
    if (!worker.inflight.active || !mg->mg_obj || SvUV(mg->mg_obj) != worker.inflight.serial || !worker.inflight.c || worker.inflight.c->closed)
        return 0;
    fd2 = fcntl(worker.inflight.c->fd, F_DUPFD_CLOEXEC, 3);
    if (fd2 < 0) return 0;
    fl = fcntl(fd2, F_GETFL);
    if (fl >= 0) fcntl(fd2, F_SETFL, fl & ~O_NONBLOCK);    /* the app expects a blocking socket */
    fp = PerlIO_fdopen(fd2, "r+");
    if (!fp) { close(fd2); return 0; }
    gv = (GV *)sv_newmortal();
    gv_init_pvn(gv, worker.inflight.c->l->is_unix ? worker.unix_stash : worker.inet_stash, "__ANONIO__", 10, 0);
    if (!do_open(gv, "+<&", 3, FALSE, 0, 0, fp)) {
        PerlIO_close(fp);
        return 0;
    }
    rv = newRV_inc((SV *)gv);
    sv_bless(rv, worker.inflight.c->l->is_unix ? worker.unix_stash : worker.inet_stash);
    sv_setsv(sv, rv);
    SvREFCNT_dec(rv);
    worker.inflight.io_taken = 1;
    worker.inflight.keepalive = 0;
    return 0;
}

/* The parts of the env every request has. */
void
env_common(pTHX_ HV *env, vconn *c)
{
    AV *handlers;
    SV *io;
    ESTORE(env, E_PSGI_VERSION, newRV_inc((SV *)worker.psgi_version));
    ESTORE(env, E_PSGI_ERRORS, newRV_inc((SV *)worker.stderr_gv));
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
    sv_magicext(io, sv_2mortal(newSVuv(worker.serial)), PERL_MAGIC_ext, &io_vtbl, NULL, 0);
    ESTORE(env, E_PSGIX_IO, io);
    PERL_UNUSED_ARG(c);
}

/* A new request's serial: psgix.io and Vassal::Conn objects of an earlier
 * request can tell they are stale. */
void
request_begins(void)
{
    worker.serial++;
    worker.inflight.serial = worker.serial;
}
