/*
 * vassal_uwsgi.c - the uwsgi packet's items (plain C, no Perl): the one
 * walker of a uwsgi dict, for the worker's uwsgi front end and for
 * Vassal.xs's codec (dict_decode, array_decode). Wire format: PROTOCOL.md.
 */
#include "vassal.h"

vassal_item_result
vassal_uwsgi_item(const unsigned char *p, size_t len, size_t *off, const char **item, size_t *item_len)
{
    size_t ilen;
    if (len - *off < 2) return VASSAL_ITEM_TRUNCATED_LENGTH;
    ilen = (size_t)(p[*off] | (p[*off + 1] << 8));
    if (ilen > len - *off - 2) return VASSAL_ITEM_OVERRUN;
    *item = (const char *)p + *off + 2;
    *item_len = ilen;
    *off += 2 + ilen;
    return VASSAL_ITEM_OK;
}

vassal_dict_step
vassal_uwsgi_dict_next(const unsigned char *p, size_t len, size_t *off,
                       vassal_dict_pair *pair, vassal_dict_error *err)
{
    if (*off >= len) return VASSAL_DICT_END;
    err->in_value = 0;
    err->at = *off;
    err->why = vassal_uwsgi_item(p, len, off, &pair->key, &pair->key_len);
    if (err->why != VASSAL_ITEM_OK) return VASSAL_DICT_MALFORMED;
    err->in_value = 1;
    err->at = *off;
    err->why = vassal_uwsgi_item(p, len, off, &pair->value, &pair->value_len);
    if (err->why != VASSAL_ITEM_OK) return VASSAL_DICT_MALFORMED;
    return VASSAL_DICT_PAIR;
}
