/*
 * vassal.h - what the C parts of Vassal share: the HTTP/1.x request parser
 * (vassal_http.c), the uwsgi dict walker (vassal_uwsgi.c), both plain C, no Perl,
 * and the worker loop (vassal_loop.c, see vassal_worker_int.h).
 */
#ifndef VASSAL_H
#define VASSAL_H

#include <stddef.h>
#include <sys/types.h>

/* ----------------------------------------------------------- vassal_uwsgi.c */

/* One item of a uwsgi dict or array at *off of [p, p + len): a 16-bit
 * little-endian length, then that many bytes. */
typedef enum {
    VASSAL_ITEM_OK,                 /* *item, *item_len set, *off past it */
    VASSAL_ITEM_TRUNCATED_LENGTH,   /* fewer than 2 bytes left for its length */
    VASSAL_ITEM_OVERRUN             /* its length runs past len */
} vassal_item_result;
vassal_item_result vassal_uwsgi_item(const unsigned char *p, size_t len, size_t *off,
                                     const char **item, size_t *item_len);

typedef struct {
    const char *key;   size_t key_len;
    const char *value; size_t value_len;
} vassal_dict_pair;

typedef enum { VASSAL_DICT_PAIR, VASSAL_DICT_END, VASSAL_DICT_MALFORMED } vassal_dict_step;

/* where a dict is malformed: in the key or the value of the item at `at` */
typedef struct {
    int in_value;
    size_t at;
    vassal_item_result why;
} vassal_dict_error;

/* The next key and value of the uwsgi dict [p, p + len) at *off. */
vassal_dict_step vassal_uwsgi_dict_next(const unsigned char *p, size_t len, size_t *off,
                                        vassal_dict_pair *pair, vassal_dict_error *err);

/* ------------------------------------------------------------ vassal_http.c */

#define VASSAL_MAX_HEADERS 128

typedef struct {
    const char *name;  size_t name_len;
    const char *value; size_t value_len;
} vassal_header;

typedef struct {
    const char *method; size_t method_len;
    const char *target; size_t target_len;
    const char *protocol; size_t protocol_len;   /* "HTTP/1.1" */
    int minor;                                   /* 0 or 1 */
    size_t nheaders;
    vassal_header headers[VASSAL_MAX_HEADERS];
} vassal_request;

/* vassal_http_parse_head() results (besides 0 = parsed) */
#define VASSAL_E_MALFORMED     (-1)   /* 400 */
#define VASSAL_E_TOO_MANY      (-2)   /* 431: more than VASSAL_MAX_HEADERS */
#define VASSAL_E_VERSION       (-3)   /* 505: not HTTP/1.0 or HTTP/1.1 */

/* Number of leading empty lines (CRLF or LF) at buf, in bytes: RFC 9112
 * says a server SHOULD ignore them before a request line. */
size_t vassal_http_skip_empty_lines(const char *buf, size_t len);

/* Looks for the empty line that ends a header section starting at buf.
 * Returns the length of the whole section (request line, headers and the
 * empty line) or 0 when it is not complete yet. *scan is where to resume
 * the next time (0 for a new request): each byte is looked at about once
 * however the section trickles in. */
size_t vassal_http_head_end(const char *buf, size_t len, size_t *scan);

/* Checks the first line while it arrives, so that garbage (a TLS
 * handshake, a binary protocol) is refused before a whole header section
 * or a timeout. Returns 0 when the bytes so far can be (the start of) an
 * HTTP/1.x request line, or a VASSAL_E_* code. */
int vassal_http_check_first_line(const char *buf, size_t len);

/* Parses a complete header section (len = vassal_http_head_end()). Fills r
 * with pointers into buf. Returns 0 or a VASSAL_E_* code. */
int vassal_http_parse_head(const char *buf, size_t len, vassal_request *r);

/* Percent-decodes src into dst (at least len bytes); returns the length.
 * An invalid escape is copied as it is. */
size_t vassal_percent_decode(const char *src, size_t len, char *dst);

/* The reason phrase of an HTTP status ("Unknown" when there is none). */
const char *vassal_status_reason(int status);

/* An IMF-fixdate for the current second, cached: "Sun, 06 Nov 1994 08:49:37 GMT". */
const char *vassal_http_date(void);

/* Case-insensitive comparison of a length-delimited string with a literal. */
int vassal_ieq(const char *s, size_t len, const char *lit);

/* Does the comma-separated header value contain this token (case-insensitive)? */
int vassal_has_token(const char *v, size_t len, const char *token);

/* Is [s, s + len) a valid uri-host [ ":" port ] (RFC 3986: a reg-name, an
 * IPv4 address or an IP-literal in brackets), as the authority of an
 * absolute-form target (need_host: not empty) or a Host field (RFC 9110
 * 7.2; may be empty)? */
int vassal_valid_authority(const char *s, size_t len, int need_host);

/* A Content-Length value (RFC 9110 8.6: 1*DIGIT) of at most 18 digits, so
 * that it fits: 1 with *length set, or 0 when it is not one. The one rule
 * for both front ends (HTTP's field, uwsgi's CONTENT_LENGTH). */
int vassal_content_length(const char *s, size_t len, long long *length);

/* Is c an HTTP token character (RFC 9110 tchar)? */
int vassal_is_tchar(unsigned char c);

#endif
