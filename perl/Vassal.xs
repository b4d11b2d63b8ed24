/*
 * Vassal.xs - the parts of the vassal that Perl cannot do well:
 * descriptor passing (SCM_RIGHTS), peer credentials, bounded reads of one
 * uwsgi packet, the strict uwsgi packet/array/dict codec, prctl(),
 * madvise(MADV_COLLAPSE) of the preloaded heap, and the
 * Perl side of the worker's hot path (vassal_loop.c, vassal_worker_int.h): worker_run, the
 * scoreboard, Vassal::Conn (the response in flight) and Vassal::Input
 * (psgi.input).
 *
 * Wire format: see PROTOCOL.md (uwsgi 2.1). All integers are little-endian.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <poll.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25    /* Linux 6.1; older kernels answer EINVAL */
#endif
#endif
#include <stdio.h>
#include <stdint.h>

#include "vassal.h"
#include "vassal_worker.h"

#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0
#endif

#define VASSAL_MAX_FDS      8     /* accepted per request */
#define VASSAL_CMSG_FDS     253   /* SCM_MAX_FD: room to receive (then refuse) any excess */
#define VASSAL_MAX_BODY     65535
#define VASSAL_ERRLEN       512

/* ---------------------------------------------------------------- helpers */

/* The grandchild of an adoption waits until its parent, the first child, has
 * exited: by then the kernel has re-parented it to the Emperor (a subreaper),
 * so the pid it replies with is the Emperor's child. A pidfd of the first
 * child becomes readable only after that re-parenting. */
static void
vassal_wait_reparented(pid_t first)
{
    int i;
#ifdef SYS_pidfd_open
    if (getppid() == first) {
        int pfd = (int)syscall(SYS_pidfd_open, first, 0);
        /* still our parent after pidfd_open: the pidfd is the first child's */
        if (pfd >= 0 && getppid() == first) {
            struct pollfd p;
            p.fd = pfd;
            p.events = POLLIN;
            p.revents = 0;
            while (poll(&p, 1, 2000) < 0 && errno == EINTR)
                ;
        }
        if (pfd >= 0)
            close(pfd);
    }
#endif
    /* no pidfd (Linux < 5.3): look every 100 us, for at most 2 s */
    for (i = 0; i < 20000 && getppid() == first; i++)
        usleep(100);
}

static double
vassal_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
vassal_close_fds(int *fds, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
}

static U16
vassal_u16(const unsigned char *p)
{
    return (U16)(p[0] | (p[1] << 8));
}

static void
vassal_put_u16(unsigned char *p, UV v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
}

/* Append one length-prefixed item to sv; croak when it cannot be encoded. */
static void
vassal_append_item(pTHX_ SV *out, SV *item, const char *what, IV idx)
{
    STRLEN len;
    const char *p;
    unsigned char lenbuf[2];

    if (!SvOK(item))
        croak("%s %" IVdf " is undefined", what, idx);
    p = SvPVbyte(item, len);
    if (len > VASSAL_MAX_BODY)
        croak("%s %" IVdf " is %lu bytes, more than 65535", what, idx, (unsigned long)len);
    vassal_put_u16(lenbuf, len);
    sv_catpvn(out, (const char *)lenbuf, 2);
    sv_catpvn(out, p, len);
}

static void
vassal_check_body_size(pTHX_ SV *out, const char *what)
{
    if (SvCUR(out) > VASSAL_MAX_BODY)
        croak("%s body is %lu bytes, more than 65535", what, (unsigned long)SvCUR(out));
}

/* Croaks with a precise reason for a malformed item at offset at. */
static void
vassal_item_croak(pTHX_ const unsigned char *p, STRLEN len, STRLEN at,
                  const char *what, IV idx, vassal_item_result why)
{
    if (why == VASSAL_ITEM_TRUNCATED_LENGTH)
        croak("malformed: %s %" IVdf " at offset %lu: truncated length (%lu byte(s) left, need 2)",
              what, idx, (unsigned long)at, (unsigned long)(len - at));
    croak("malformed: %s %" IVdf " at offset %lu: length %u overruns the body (%lu byte(s) left)",
          what, idx, (unsigned long)at, (unsigned)vassal_u16(p + at), (unsigned long)(len - at - 2));
}

/* Decode one array item at *off; croak when it overruns. */
static SV *
vassal_take_item(pTHX_ const unsigned char *p, STRLEN len, STRLEN *off,
                 const char *what, IV idx)
{
    const char *item;
    size_t item_len, at = *off;
    vassal_item_result why = vassal_uwsgi_item(p, len, off, &item, &item_len);
    if (why != VASSAL_ITEM_OK) vassal_item_croak(aTHX_ p, len, at, what, idx, why);
    return newSVpvn(item, item_len);
}

static void
vassal_check_decode_size(pTHX_ STRLEN len, const char *what)
{
    if (len > VASSAL_MAX_BODY)
        croak("malformed: %s body is %lu bytes, more than 65535", what, (unsigned long)len);
}

/* A fork-server request being read: have of need bytes of the packet (need
 * is 4 until its header is in), and the descriptors that came with them -
 * only the first VASSAL_MAX_FDS are kept, any more are closed on arrival
 * and only counted. The packet's bytes are kept by the caller. */
typedef struct {
    size_t have, need;
    int nfds;
    int ctrunc;
    int fds[VASSAL_MAX_FDS];
} vassal_rx;

static void
vassal_rx_init(vassal_rx *rx)
{
    memset(rx, 0, sizeof(*rx));
    rx->need = 4;
}

/* Closes the descriptors received so far. */
static void
vassal_rx_abort(vassal_rx *rx)
{
    vassal_close_fds(rx->fds, rx->nfds < VASSAL_MAX_FDS ? rx->nfds : VASSAL_MAX_FDS);
    rx->nfds = 0;
}

/* One recvmsg, without waiting, of what is missing of the packet, into
 * data (room for rx->need bytes). Returns 1 when the packet is complete,
 * 2 when bytes came but more are to come, 0 when there was nothing to
 * read, -1 on an error (err; the descriptors received are closed). Never
 * reads past the packet. */
static int
vassal_rx_step(int fd, vassal_rx *rx, unsigned char *data, char *err)
{
    struct msghdr msg;
    struct iovec iov;
    union {
        char buf[CMSG_SPACE(sizeof(int) * VASSAL_CMSG_FDS)];
        struct cmsghdr align;
    } cbuf;
    struct cmsghdr *cmsg;
    ssize_t n;

    memset(&msg, 0, sizeof(msg));
    iov.iov_base = data + rx->have;
    iov.iov_len = rx->need - rx->have;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.buf;
    msg.msg_controllen = sizeof(cbuf.buf);
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        snprintf(err, VASSAL_ERRLEN, "recvmsg failed: %s", strerror(errno));
        vassal_rx_abort(rx);
        return -1;
    }
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
            int count = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *fds = (int *)CMSG_DATA(cmsg);
            int i;
            for (i = 0; i < count; i++, rx->nfds++) {
                if (rx->nfds < VASSAL_MAX_FDS) rx->fds[rx->nfds] = fds[i];
                else close(fds[i]);
            }
        }
    }
    if (msg.msg_flags & MSG_CTRUNC) rx->ctrunc = 1;
    if (n == 0) {
        if (rx->have == 0)
            snprintf(err, VASSAL_ERRLEN, "EOF before any byte of the request");
        else
            snprintf(err, VASSAL_ERRLEN, "EOF mid-packet (got %lu of %lu bytes)",
                     (unsigned long)rx->have, (unsigned long)rx->need);
        vassal_rx_abort(rx);
        return -1;
    }
    rx->have += (size_t)n;
    if (rx->have == 4 && rx->need == 4)
        rx->need = 4 + vassal_u16(data + 1);
    if (rx->have < rx->need) return 2;
    if (rx->ctrunc || rx->nfds > VASSAL_MAX_FDS) {
        snprintf(err, VASSAL_ERRLEN, "too many descriptors (%d%s received, at most %d accepted)",
                 rx->nfds, rx->ctrunc ? " or more" : "", VASSAL_MAX_FDS);
        vassal_rx_abort(rx);
        return -1;
    }
    return 1;
}

/* Croaks with err and, when known, the peer's pid and uid. */
static void
vassal_rx_croak(pTHX_ int fd, const char *err)
{
    struct ucred cred;
    socklen_t credlen = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0)
        croak("%s (peer pid %ld uid %ld)", err, (long)cred.pid, (long)cred.uid);
    croak("%s", err);
}

/* The request read: {modifier1, modifier2, body, fds, pid, uid, gid}. */
static SV *
vassal_rx_result(pTHX_ int fd, const vassal_rx *rx, const unsigned char *data)
{
    HV *hv = newHV();
    AV *av = newAV();
    struct ucred cred;
    socklen_t credlen = sizeof(cred);
    int i;
    for (i = 0; i < rx->nfds; i++)
        av_push(av, newSViv(rx->fds[i]));
    hv_stores(hv, "modifier1", newSVuv(data[0]));
    hv_stores(hv, "modifier2", newSVuv(data[3]));
    hv_stores(hv, "body", newSVpvn((const char *)data + 4, rx->need - 4));
    hv_stores(hv, "fds", newRV_noinc((SV *)av));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == 0) {
        hv_stores(hv, "pid", newSViv(cred.pid));
        hv_stores(hv, "uid", newSViv(cred.uid));
        hv_stores(hv, "gid", newSViv(cred.gid));
    }
    else {
        hv_stores(hv, "pid", newSV(0));
        hv_stores(hv, "uid", newSV(0));
        hv_stores(hv, "gid", newSV(0));
    }
    return newRV_noinc((SV *)hv);
}

/* Reads exactly one fork-server request from fd within timeout seconds
 * (Vassal::XS::recv_request): croaks, or returns its hash (a new ref). */
static SV *
vassal_recv_request(pTHX_ int fd, double timeout)
{
    unsigned char data[4 + VASSAL_MAX_BODY];
    vassal_rx rx;
    double deadline;
    char err[VASSAL_ERRLEN];
    int done = 0;
    err[0] = '\0';
    vassal_rx_init(&rx);
    deadline = vassal_now() + timeout;
    while (!done) {
        int rc;
        struct pollfd pfd;
        double left = deadline - vassal_now();
        if (left <= 0) {
            snprintf(err, sizeof(err),
                     "timeout after %gs waiting for the request (got %lu of %lu bytes)",
                     timeout, (unsigned long)rx.have, (unsigned long)rx.need);
            vassal_rx_abort(&rx);
            break;
        }
        pfd.fd = fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        rc = poll(&pfd, 1, (int)(left * 1000.0) + 1);
        if (rc < 0) {
            if (errno == EINTR) continue;
            snprintf(err, sizeof(err), "poll failed: %s", strerror(errno));
            vassal_rx_abort(&rx);
            break;
        }
        if (rc == 0) continue;  /* the deadline check above reports it */
        rc = vassal_rx_step(fd, &rx, data, err);
        if (rc < 0) break;
        done = rc == 1;
    }
    if (err[0]) vassal_rx_croak(aTHX_ fd, err);
    return vassal_rx_result(aTHX_ fd, &rx, data);
}

/* Reads what fd has of a fork-server request without waiting
 * (Vassal::XS::recv_request_nb): state keeps the request so far, a
 * vassal_rx and the packet's bytes after it. Returns the request's hash
 * once it is complete, else undef; croaks on an error. */
static SV *
vassal_recv_request_nb(pTHX_ int fd, SV *state)
{
    vassal_rx *rx;
    char err[VASSAL_ERRLEN];
    int rc;
    SV *result = &PL_sv_undef;
    if (!SvPOK(state) || SvCUR(state) < sizeof(vassal_rx)) {
        vassal_rx init;
        vassal_rx_init(&init);
        sv_setpvn(state, (const char *)&init, sizeof(init));
    }
    err[0] = '\0';
    do {
        rx = (vassal_rx *)SvGROW(state, sizeof(vassal_rx) + ((vassal_rx *)SvPVX(state))->need);
        rc = vassal_rx_step(fd, rx, (unsigned char *)(rx + 1), err);
        SvCUR_set(state, sizeof(vassal_rx) + rx->have);
    } while (rc == 2);
    if (rc < 0) {
        SvCUR_set(state, 0);
        vassal_rx_croak(aTHX_ fd, err);
    }
    if (rc == 1) {
        result = vassal_rx_result(aTHX_ fd, rx, (unsigned char *)(rx + 1));
        SvCUR_set(state, 0);
    }
    return result;
}

/* Sends bytes with the descriptors of fdlist (SCM_RIGHTS) in one sendmsg
 * (Vassal::XS::send_fds): the bytes sent, or croaks. */
static IV
vassal_send_fds(pTHX_ int fd, SV *bytes, AV *fdlist)
{
    STRLEN len;
    const char *p;
    struct msghdr msg;
    struct iovec iov;
    union {
        char buf[CMSG_SPACE(sizeof(int) * VASSAL_CMSG_FDS)];
        struct cmsghdr align;
    } cbuf;
    SSize_t n, i;
    ssize_t sent;
    p = SvPVbyte(bytes, len);
    n = av_len(fdlist) + 1;
    if (n > VASSAL_CMSG_FDS)
        croak("send_fds: %ld descriptors, at most %d", (long)n, VASSAL_CMSG_FDS);
    if (len == 0)
        croak("send_fds: at least one byte must go with the descriptors");
    memset(&msg, 0, sizeof(msg));
    iov.iov_base = (void *)p;
    iov.iov_len = len;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (n > 0) {
        struct cmsghdr *cmsg;
        int *data;
        memset(&cbuf, 0, sizeof(cbuf));
        msg.msg_control = cbuf.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * n);
        data = (int *)CMSG_DATA(cmsg);
        for (i = 0; i < n; i++) {
            SV **svp = av_fetch(fdlist, i, 0);
            if (!svp || !SvOK(*svp))
                croak("send_fds: descriptor %ld is undefined", (long)i);
            data[i] = (int)SvIV(*svp);
        }
    }
    do {
        sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0)
        croak("send_fds: sendmsg failed: %s", strerror(errno));
    return (IV)sent;
}

/* ------------------------------------------------------------ the module */

MODULE = Vassal		PACKAGE = Vassal::XS

PROTOTYPES: DISABLE

void
recv_request(fd, timeout)
    int fd
    double timeout
  PPCODE:
    mXPUSHs(vassal_recv_request(aTHX_ fd, timeout));

SV *
recv_request_nb(fd, state)
    int fd
    SV *state
  CODE:
    RETVAL = vassal_recv_request_nb(aTHX_ fd, state);
  OUTPUT:
    RETVAL

void
recv_request_abort(state)
    SV *state
  PPCODE:
    if (SvPOK(state) && SvCUR(state) >= sizeof(vassal_rx)) {
        vassal_rx *rx = (vassal_rx *)SvPVX(state);
        mXPUSHu(rx->have);
        mXPUSHu(rx->need);
        vassal_rx_abort(rx);
        SvCUR_set(state, 0);
    }
    else {
        mXPUSHu(0);
        mXPUSHu(4);
    }

void
peer_cred(fd)
    int fd
  PREINIT:
    struct ucred cred;
    socklen_t len = sizeof(cred);
  PPCODE:
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        croak("getsockopt(SO_PEERCRED) failed: %s", strerror(errno));
    mXPUSHi(cred.pid);
    mXPUSHi(cred.uid);
    mXPUSHi(cred.gid);

IV
send_fds(fd, bytes, fdlist)
    int fd
    SV *bytes
    AV *fdlist
  CODE:
    RETVAL = vassal_send_fds(aTHX_ fd, bytes, fdlist);
  OUTPUT:
    RETVAL

SV *
packet_encode(modifier1, modifier2, body)
    IV modifier1
    IV modifier2
    SV *body
  PREINIT:
    STRLEN len;
    const char *p;
    unsigned char hdr[4];
  CODE:
    if (modifier1 < 0 || modifier1 > 255)
        croak("packet_encode: modifier1 %" IVdf " is not a byte", modifier1);
    if (modifier2 < 0 || modifier2 > 255)
        croak("packet_encode: modifier2 %" IVdf " is not a byte", modifier2);
    p = SvOK(body) ? SvPVbyte(body, len) : (len = 0, "");
    if (len > VASSAL_MAX_BODY)
        croak("packet_encode: body is %lu bytes, more than 65535", (unsigned long)len);
    hdr[0] = (unsigned char)modifier1;
    vassal_put_u16(hdr + 1, len);
    hdr[3] = (unsigned char)modifier2;
    RETVAL = newSVpvn((const char *)hdr, 4);
    sv_catpvn(RETVAL, p, len);
  OUTPUT:
    RETVAL

void
packet_decode(bytes)
    SV *bytes
  PREINIT:
    STRLEN len;
    const unsigned char *p;
    U16 size;
  PPCODE:
    p = (const unsigned char *)SvPVbyte(bytes, len);
    if (len < 4)
        croak("malformed: truncated header (%lu of 4 bytes)", (unsigned long)len);
    size = vassal_u16(p + 1);
    if (len - 4 < size)
        croak("malformed: truncated body (header says %u bytes, got %lu)",
              (unsigned)size, (unsigned long)(len - 4));
    if (len - 4 > size)
        croak("malformed: %lu trailing byte(s) after the %u-byte body",
              (unsigned long)(len - 4 - size), (unsigned)size);
    EXTEND(SP, 3);
    mPUSHu(p[0]);
    mPUSHu(p[3]);
    mPUSHs(newSVpvn((const char *)p + 4, size));

SV *
array_encode(items)
    AV *items
  PREINIT:
    SSize_t i, n;
  CODE:
    RETVAL = sv_2mortal(newSVpvs(""));
    n = av_len(items) + 1;
    for (i = 0; i < n; i++) {
        SV **svp = av_fetch(items, i, 0);
        vassal_append_item(aTHX_ RETVAL, svp ? *svp : &PL_sv_undef, "array item", (IV)i);
    }
    vassal_check_body_size(aTHX_ RETVAL, "array");
    SvREFCNT_inc_simple_void_NN(RETVAL);
  OUTPUT:
    RETVAL

void
array_decode(body)
    SV *body
  PREINIT:
    STRLEN len, off = 0;
    const unsigned char *p;
    IV idx = 0;
    AV *tmp;
  PPCODE:
    p = (const unsigned char *)SvPVbyte(body, len);
    vassal_check_decode_size(aTHX_ len, "array");
    tmp = (AV *)sv_2mortal((SV *)newAV());
    while (off < len) {
        av_push(tmp, vassal_take_item(aTHX_ p, len, &off, "array item", idx));
        idx++;
    }
    EXTEND(SP, idx);
    {
        IV i;
        for (i = 0; i < idx; i++)
            PUSHs(sv_2mortal(SvREFCNT_inc(*av_fetch(tmp, i, 0))));
    }

SV *
dict_encode(pairs)
    SV *pairs
  PREINIT:
    SSize_t i, n;
  CODE:
    if (!SvROK(pairs))
        croak("dict_encode: expects an array or hash reference");
    RETVAL = newSVpvs("");
    sv_2mortal(RETVAL);
    if (SvTYPE(SvRV(pairs)) == SVt_PVAV) {
        AV *av = (AV *)SvRV(pairs);
        n = av_len(av) + 1;
        if (n % 2)
            croak("dict_encode: odd number of elements in the pair list");
        for (i = 0; i < n; i++) {
            SV **svp = av_fetch(av, i, 0);
            vassal_append_item(aTHX_ RETVAL, svp ? *svp : &PL_sv_undef,
                               (i % 2) ? "dict value" : "dict key", (IV)(i / 2));
        }
    }
    else if (SvTYPE(SvRV(pairs)) == SVt_PVHV) {
        /* keys in sorted order so that the encoding is deterministic */
        HV *hv = (HV *)SvRV(pairs);
        AV *keys = (AV *)sv_2mortal((SV *)newAV());
        HE *he;
        hv_iterinit(hv);
        while ((he = hv_iternext(hv)))
            av_push(keys, newSVsv(hv_iterkeysv(he)));
        sortsv(AvARRAY(keys), av_len(keys) + 1, Perl_sv_cmp);
        n = av_len(keys) + 1;
        for (i = 0; i < n; i++) {
            SV *k = *av_fetch(keys, i, 0);
            HE *ent = hv_fetch_ent(hv, k, 0, 0);
            vassal_append_item(aTHX_ RETVAL, k, "dict key", (IV)i);
            vassal_append_item(aTHX_ RETVAL, ent ? HeVAL(ent) : &PL_sv_undef, "dict value", (IV)i);
        }
    }
    else
        croak("dict_encode: expects an array or hash reference");
    vassal_check_body_size(aTHX_ RETVAL, "dict");
    SvREFCNT_inc_simple_void_NN(RETVAL);
  OUTPUT:
    RETVAL

void
dict_decode(body)
    SV *body
  PREINIT:
    STRLEN len, off = 0;
    const unsigned char *p;
    IV idx = 0, count;
    AV *tmp;
  PPCODE:
    p = (const unsigned char *)SvPVbyte(body, len);
    vassal_check_decode_size(aTHX_ len, "dict");
    tmp = (AV *)sv_2mortal((SV *)newAV());
    for (;;) {
        vassal_dict_pair pair;
        vassal_dict_error err;
        vassal_dict_step step = vassal_uwsgi_dict_next(p, len, &off, &pair, &err);
        if (step == VASSAL_DICT_END) break;
        if (step == VASSAL_DICT_MALFORMED)
            vassal_item_croak(aTHX_ p, len, err.at, err.in_value ? "dict value" : "dict key", idx, err.why);
        av_push(tmp, newSVpvn(pair.key, pair.key_len));
        av_push(tmp, newSVpvn(pair.value, pair.value_len));
        idx++;
    }
    count = idx * 2;
    EXTEND(SP, count);
    {
        IV i;
        for (i = 0; i < count; i++)
            PUSHs(sv_2mortal(SvREFCNT_inc(*av_fetch(tmp, i, 0))));
    }

void
set_pdeathsig(signum)
    int signum
  CODE:
#ifdef PR_SET_PDEATHSIG
    if (prctl(PR_SET_PDEATHSIG, (unsigned long)signum, 0, 0, 0) != 0)
        croak("prctl(PR_SET_PDEATHSIG, %d) failed: %s", signum, strerror(errno));
#else
    croak("set_pdeathsig: not supported on this system");
#endif

void
set_child_subreaper(on = 1)
    int on
  CODE:
#ifdef PR_SET_CHILD_SUBREAPER
    if (prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)(on ? 1 : 0), 0, 0, 0) != 0)
        croak("prctl(PR_SET_CHILD_SUBREAPER) failed: %s", strerror(errno));
#else
    croak("set_child_subreaper: not supported on this system");
#endif

IV
adoption_fork()
  PREINIT:
    pid_t pid, first, second;
  CODE:
    /* Why in C: the first child only forks again and exits. Done in Perl it
     * would write to dozens of pages (signal handlers, objects), each a
     * copy-on-write fault, on the path of every adoption. */
    PERL_FLUSHALL_FOR_CHILD;
    pid = fork();
    if (pid < 0)
        croak("fork failed: %s", strerror(errno));
    if (pid > 0) {
        RETVAL = pid;    /* the fork server */
    }
    else {
        first = getpid();
        second = fork();
        if (second != 0) {
            if (second < 0) {
                static const char msg[] = "psgi-vassal: second fork of an adoption failed\n";
                ssize_t ignored = write(2, msg, sizeof msg - 1);
                (void)ignored;
            }
            _exit(second < 0 ? 1 : 0);
        }
        vassal_wait_reparented(first);
        RETVAL = 0;      /* the vassal */
    }
  OUTPUT:
    RETVAL

void
collapse_heap()
  PREINIT:
    FILE *maps;
    char line[512];
    UV regions = 0, bytes = 0, failed = 0;
    int first_errno = 0;
    HV *res;
  PPCODE:
    /* Why: fork() and exit() of a process cost time in proportion to its
     * page-table entries - about 11 ms each for a 260 MB Perl heap in 4 KiB
     * pages. Collapsing the preloaded heap into 2 MiB pages makes both ~1 ms;
     * the kernel still copies a written page 4 KiB at a time after a fork
     * (a shared huge page is split, not copied whole). */
#if defined(__linux__) && defined(MADV_COLLAPSE)
    maps = fopen("/proc/self/maps", "re");
    if (!maps)
        croak("collapse_heap: cannot open /proc/self/maps: %s", strerror(errno));
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end, offset, inode;
        char perms[8], dev[32];
        int name_at = 0;
        const uintptr_t huge = 2UL * 1024 * 1024;
        uintptr_t from, to;
        const char *name;
        if (sscanf(line, "%lx-%lx %7s %lx %31s %lu %n", &start, &end, perms, &offset, dev, &inode, &name_at) < 6)
            continue;
        name = line + name_at;
        /* private anonymous memory only: the heap and malloc's mmap()ed arenas */
        if (strcmp(perms, "rw-p") != 0 || inode != 0)
            continue;
        if (!(*name == '\n' || *name == '\0' || strncmp(name, "[heap]", 6) == 0))
            continue;
        from = ((uintptr_t)start + huge - 1) & ~(huge - 1);
        to = (uintptr_t)end & ~(huge - 1);
        if (to <= from)
            continue;
        if (madvise((void *)from, to - from, MADV_COLLAPSE) == 0) {
            regions++;
            bytes += to - from;
        }
        else {
            failed++;
            if (!first_errno)
                first_errno = errno;
        }
    }
    fclose(maps);
#else
    first_errno = ENOSYS;
    failed = 1;
#endif
    res = newHV();
    (void)hv_stores(res, "regions", newSVuv(regions));
    (void)hv_stores(res, "bytes", newSVuv(bytes));
    (void)hv_stores(res, "failed", newSVuv(failed));
    (void)hv_stores(res, "error", first_errno ? newSVpv(strerror(first_errno), 0) : newSV(0));
    XPUSHs(sv_2mortal(newRV_noinc((SV *)res)));

int
set_cloexec(fd, on)
    int fd
    int on
  PREINIT:
    int flags;
  CODE:
    flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        croak("fcntl(%d, F_GETFD) failed: %s", fd, strerror(errno));
    flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
    if (fcntl(fd, F_SETFD, flags) < 0)
        croak("fcntl(%d, F_SETFD) failed: %s", fd, strerror(errno));
    RETVAL = flags;
  OUTPUT:
    RETVAL

void
fd_socket_info(fd)
    int fd
  PREINIT:
    struct stat st;
    HV *hv;
    int v;
    socklen_t l;
  PPCODE:
    /* What a received descriptor is, so that the fork server can refuse one
     * that cannot be what the request says it is. */
    hv = newHV();
    if (fstat(fd, &st) != 0) {
        hv_stores(hv, "error", newSVpv(strerror(errno), 0));
    }
    else if (!S_ISSOCK(st.st_mode)) {
        hv_stores(hv, "socket", newSViv(0));
        hv_stores(hv, "kind", newSVpv(S_ISFIFO(st.st_mode) ? "a pipe" : S_ISREG(st.st_mode) ? "a regular file"
                                      : S_ISCHR(st.st_mode) ? "a character device" : S_ISDIR(st.st_mode) ? "a directory"
                                      : "not a socket", 0));
    }
    else {
        hv_stores(hv, "socket", newSViv(1));
        l = sizeof(v);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) == 0) hv_stores(hv, "domain", newSViv(v));
        l = sizeof(v);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) == 0) hv_stores(hv, "type", newSViv(v));
        l = sizeof(v);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0) hv_stores(hv, "listening", newSViv(v));
        hv_stores(hv, "kind", newSVpvs("a socket"));
    }
    mXPUSHs(newRV_noinc((SV *)hv));

SV *
worker_run(opts)
    HV *opts
  CODE:
    RETVAL = newSVpv(vassal_worker_run(aTHX_ opts), 0);
  OUTPUT:
    RETVAL

IV
parse_http_request(buf, env)
    SV *buf
    HV *env
  PREINIT:
    size_t head_len = 0;
  CODE:
    /* the Perl interface: the length, or -2 incomplete, -1 (400), -3 (505), -4 (431) */
    switch (vassal_parse_http_request(aTHX_ buf, env, &head_len)) {
    case VASSAL_HEAD_PARSED:          RETVAL = (IV)head_len; break;
    case VASSAL_HEAD_INCOMPLETE:      RETVAL = -2; break;
    case VASSAL_HEAD_BAD_VERSION:     RETVAL = -3; break;
    case VASSAL_HEAD_TOO_MANY_FIELDS: RETVAL = -4; break;
    default:                          RETVAL = -1; break;
    }
  OUTPUT:
    RETVAL

double
monotonic_now()
  CODE:
    RETVAL = vassal_monotonic();
  OUTPUT:
    RETVAL

SV *
scoreboard_new(n)
    int n
  PREINIT:
    vassal_board *b;
  CODE:
    if (n < 1 || n > 100000)
        croak("scoreboard_new: %d slots", n);
    b = vassal_scoreboard_new(n);
    if (!b)
        croak("scoreboard_new: mmap failed: %s", strerror(errno));
    RETVAL = sv_bless(newRV_noinc(newSViv(PTR2IV(b))), gv_stashpvs("Vassal::Scoreboard", GV_ADD));
  OUTPUT:
    RETVAL

MODULE = Vassal		PACKAGE = Vassal::Scoreboard

int
size(self)
    SV *self
  CODE:
    RETVAL = (INT2PTR(vassal_board *, SvIV(SvRV(self))))->n;
  OUTPUT:
    RETVAL

SV *
slot(self, i)
    SV *self
    int i
  PREINIT:
    vassal_board *b;
    vassal_slot *s;
    HV *hv;
  CODE:
    b = INT2PTR(vassal_board *, SvIV(SvRV(self)));
    if (i < 0 || i >= b->n)
        croak("slot %d is not on the scoreboard (%d slots)", i, b->n);
    s = b->slots + i;
    hv = newHV();
    hv_stores(hv, "pid", newSViv(s->pid));
    hv_stores(hv, "accepting", newSViv(s->accepting));
    hv_stores(hv, "busy_since", newSVnv(s->busy_since));
    hv_stores(hv, "last_done", newSVnv(s->last_done));
    hv_stores(hv, "requests", newSVuv((UV)s->requests));
    RETVAL = newRV_noinc((SV *)hv);
  OUTPUT:
    RETVAL

void
reset(self, i)
    SV *self
    int i
  PREINIT:
    vassal_board *b;
  CODE:
    b = INT2PTR(vassal_board *, SvIV(SvRV(self)));
    if (i < 0 || i >= b->n)
        croak("slot %d is not on the scoreboard (%d slots)", i, b->n);
    memset((void *)(b->slots + i), 0, sizeof(vassal_slot));

MODULE = Vassal		PACKAGE = Vassal::Conn

void
send(self, status, headers, body)
    SV *self
    SV *status
    SV *headers
    SV *body
  CODE:
    vassal_conn_send(aTHX_ self, status, headers, body);

void
start(self, status, headers = NULL)
    SV *self
    SV *status
    SV *headers
  CODE:
    vassal_conn_start(aTHX_ self, status, headers);

void
write(self, data)
    SV *self
    SV *data
  CODE:
    vassal_conn_write(aTHX_ self, data);

void
finish(self)
    SV *self
  CODE:
    vassal_conn_finish(aTHX_ self);

void
no_keepalive(self)
    SV *self
  CODE:
    vassal_conn_no_keepalive(aTHX_ self);

int
active(self)
    SV *self
  ALIAS:
    started  = 1
    finished = 2
    io_taken = 3
    keepalive = 4
  CODE:
    RETVAL = vassal_conn_flag(aTHX_ self, ix == 0 ? "active" : ix == 1 ? "started"
                              : ix == 2 ? "finished" : ix == 3 ? "io_taken" : "keepalive");
  OUTPUT:
    RETVAL

MODULE = Vassal		PACKAGE = Vassal::Input

SV *
new(class, data = NULL)
    SV *class
    SV *data
  PREINIT:
    STRLEN len = 0;
    const char *p = "";
  CODE:
    PERL_UNUSED_VAR(class);
    if (data && SvOK(data))
        p = SvPVbyte(data, len);
    RETVAL = vassal_input_new_sv(aTHX_ p, len);
  OUTPUT:
    RETVAL

IV
read(self, buf, len, offset = 0)
    SV *self
    SV *buf
    IV len
    IV offset
  PREINIT:
    vassal_input *in;
    STRLEN cur;
    SSize_t n;
  CODE:
    in = vassal_input_from(aTHX_ self);
    if (len < 0)
        croak("Negative length");
    if (!SvOK(buf))
        sv_setpvs(buf, "");
    (void)SvPVbyte_force(buf, cur);
    if (offset < 0) {
        if ((STRLEN)(-offset) > cur)
            croak("Offset outside string");
        offset += (IV)cur;
    }
    SvGROW(buf, (STRLEN)offset + (STRLEN)len + 1);
    if ((STRLEN)offset > cur)
        memset(SvPVX(buf) + cur, 0, (STRLEN)offset - cur);
    n = vassal_input_read(aTHX_ in, SvPVX(buf) + offset, (size_t)len);
    SvCUR_set(buf, (STRLEN)offset + (STRLEN)n);
    *SvEND(buf) = '\0';
    SvPOK_only(buf);
    SvSETMAGIC(buf);
    RETVAL = (IV)n;
  OUTPUT:
    RETVAL

int
seek(self, pos, whence = 0)
    SV *self
    IV pos
    int whence
  PREINIT:
    vassal_input *in;
    IV np;
  CODE:
    in = vassal_input_from(aTHX_ self);
    np = whence == 0 ? pos : whence == 1 ? (IV)in->pos + pos : whence == 2 ? (IV)in->size + pos : -1;
    if (np < 0 || whence < 0 || whence > 2)
        RETVAL = 0;
    else {
        in->pos = (Off_t)np;
        RETVAL = 1;
    }
  OUTPUT:
    RETVAL

IV
tell(self)
    SV *self
  CODE:
    RETVAL = (IV)vassal_input_from(aTHX_ self)->pos;
  OUTPUT:
    RETVAL

int
eof(self)
    SV *self
  PREINIT:
    vassal_input *in;
  CODE:
    in = vassal_input_from(aTHX_ self);
    RETVAL = in->pos >= in->size;
  OUTPUT:
    RETVAL

int
close(self)
    SV *self
  ALIAS:
    opened = 1
    binmode = 2
  CODE:
    (void)vassal_input_from(aTHX_ self);
    PERL_UNUSED_VAR(ix);
    RETVAL = 1;
  OUTPUT:
    RETVAL

SV *
fileno(self)
    SV *self
  PREINIT:
    vassal_input *in;
  CODE:
    in = vassal_input_from(aTHX_ self);
    RETVAL = in->fd >= 0 ? newSViv(in->fd) : &PL_sv_undef;
  OUTPUT:
    RETVAL

void
getline(self)
    SV *self
  ALIAS:
    getlines = 1
  PREINIT:
    vassal_input *in;
    char block[8192];
  PPCODE:
    in = vassal_input_from(aTHX_ self);
    if (ix == 1 && GIMME_V != G_LIST)
        croak("getlines called in a scalar context");
    for (;;) {
        SV *line;
        const char *sep = NULL;
        STRLEN seplen = 0;
        IV record = 0;
        if (in->pos >= in->size)
            break;
        if (SvROK(PL_rs)) {
            record = SvIV(SvRV(PL_rs));
        }
        else if (SvOK(PL_rs)) {
            sep = SvPVbyte(PL_rs, seplen);
            if (!seplen) { sep = "\n\n"; seplen = 2; }
        }
        line = sv_2mortal(newSVpvs(""));
        for (;;) {
            STRLEN old = SvCUR(line);
            size_t want = sizeof(block);
            SSize_t n;
            if (record > 0 && (IV)old + (IV)want > record)
                want = (size_t)(record - (IV)old);
            if (!want)
                break;
            n = vassal_input_read(aTHX_ in, block, want);
            if (n <= 0)
                break;
            sv_catpvn(line, block, (STRLEN)n);
            if (sep) {
                STRLEN from = old >= seplen ? old - seplen + 1 : 0;
                char *hit = (char *)memmem(SvPVX(line) + from, SvCUR(line) - from, sep, seplen);
                if (hit) {
                    STRLEN keep = (STRLEN)(hit - SvPVX(line)) + seplen;
                    in->pos -= (Off_t)(SvCUR(line) - keep);
                    SvCUR_set(line, keep);
                    *SvEND(line) = '\0';
                    break;
                }
            }
        }
        XPUSHs(line);
        if (ix == 0)
            break;
    }
    if (ix == 0 && SP == MARK)
        XPUSHs(&PL_sv_undef);

void
DESTROY(self)
    SV *self
  PREINIT:
    vassal_input *in;
  CODE:
    in = INT2PTR(vassal_input *, SvIV(SvRV(self)));
    if (in) {
        if (in->data) SvREFCNT_dec(in->data);
        if (in->fd >= 0) close(in->fd);
        Safefree(in);
        sv_setiv(SvRV(self), 0);
    }
