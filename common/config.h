/* Configuration files: YAML (or JSON, a YAML subset) parsed with libyaml, bound to C
 * structs by a declarative schema.
 *
 * Every error names the file, the line and the key:
 *     sweep.yaml:12: key 'strategy.fast': 0 is out of range [1, 10000]
 *     sweep.yaml:7: unknown key 'windw' in 'strategy' (did you mean 'window'?)
 *
 * Ownership: the qa_cfg_t owns every node and string. Strings, lists and node
 * pointers bound into a struct point into it: keep the qa_cfg_t alive while they are
 * used. */
#ifndef QA_COMMON_CONFIG_H
#define QA_COMMON_CONFIG_H

#include <stddef.h>  /* size_t, offsetof for schemas */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_cfg qa_cfg_t;
typedef struct qa_cfg_node qa_cfg_node;

typedef enum qa_cfg_kind {
    QA_CFG_NULL = 0, /* empty value (`key:` or `~`) */
    QA_CFG_SCALAR = 1,
    QA_CFG_SEQ = 2,
    QA_CFG_MAP = 3
} qa_cfg_kind;

/* Parses a file. An empty file gives a document whose root is an empty map. */
qa_status qa_cfg_load(const char *path, qa_cfg_t **out);
/* Parses `text` (length `len`); `name` stands for the file name in messages. */
qa_status qa_cfg_parse(const char *name, const char *text, size_t len, qa_cfg_t **out);
void qa_cfg_free(qa_cfg_t *cfg);

const char *qa_cfg_name(const qa_cfg_t *cfg);
const qa_cfg_node *qa_cfg_root(const qa_cfg_t *cfg);

/* Applies a command-line override "a.b.c=value" (value parsed as YAML), creating
 * missing maps along the path. */
qa_status qa_cfg_override(qa_cfg_t *cfg, const char *assignment);

/* Node inspection. `node` may be NULL (absent): kind NULL, line 0, length 0. */
qa_cfg_kind qa_cfg_node_kind(const qa_cfg_node *node);
int qa_cfg_node_line(const qa_cfg_node *node);
/* Where `node` was given, for messages: "file:line", or "--set a.b=value" for a node
 * given by qa_cfg_override (whose line is 0). Writes into buf (QA_CFG_WHERE_MAX bytes
 * hold any override the command line takes) and returns it. */
#define QA_CFG_WHERE_MAX 640
const char *qa_cfg_node_where(const qa_cfg_t *cfg, const qa_cfg_node *node, char *buf, size_t size);
/* Scalar text; NULL for non-scalars. */
const char *qa_cfg_node_text(const qa_cfg_node *node);
/* Number of items of a sequence or entries of a map. */
size_t qa_cfg_node_len(const qa_cfg_node *node);
const qa_cfg_node *qa_cfg_seq_at(const qa_cfg_node *seq, size_t i);
const char *qa_cfg_map_key_at(const qa_cfg_node *map, size_t i);
int qa_cfg_map_key_line_at(const qa_cfg_node *map, size_t i);
const qa_cfg_node *qa_cfg_map_value_at(const qa_cfg_node *map, size_t i);
/* Value for `key` in a map, or NULL when absent (or when `map` is not a map). */
const qa_cfg_node *qa_cfg_map_get(const qa_cfg_node *map, const char *key);

/* Typed scalar reads. `what` names the key in messages ("strategy.fast"). Ranges are
 * inclusive. */
qa_status qa_cfg_read_int(const qa_cfg_t *cfg, const qa_cfg_node *node, const char *what,
                          long long min, long long max, long long *out);
qa_status qa_cfg_read_double(const qa_cfg_t *cfg, const qa_cfg_node *node, const char *what,
                             double min, double max, double *out);
qa_status qa_cfg_read_bool(const qa_cfg_t *cfg, const qa_cfg_node *node, const char *what,
                           int *out);
qa_status qa_cfg_read_string(const qa_cfg_t *cfg, const qa_cfg_node *node, const char *what,
                             const char **out);
/* Index of the scalar among NULL-terminated `choices`. */
qa_status qa_cfg_read_enum(const qa_cfg_t *cfg, const qa_cfg_node *node, const char *what,
                           const char *const *choices, int *out);

/* Records a QA_ERR_CONFIG error "file:line: key 'what': <detail>" ("--set a.b=v: key ..."
 * for a value given by qa_cfg_override) and returns it. */
qa_status qa_cfg_error(const qa_cfg_t *cfg, const qa_cfg_node *node, const char *what,
                       const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* ---- Schema binding ---------------------------------------------------------- */

typedef enum qa_cfg_type {
    QA_CFG_T_INT = 0,     /* long long */
    QA_CFG_T_DOUBLE,      /* double */
    QA_CFG_T_BOOL,        /* int (0/1) */
    QA_CFG_T_STRING,      /* const char * (into the cfg) */
    QA_CFG_T_ENUM,        /* int-sized enum: index into `choices` */
    QA_CFG_T_INT_LIST,    /* qa_cfg_list of long long */
    QA_CFG_T_DOUBLE_LIST, /* qa_cfg_list of double */
    QA_CFG_T_STRING_LIST, /* qa_cfg_list of const char * */
    QA_CFG_T_SECTION,     /* nested map bound with `sub` into the struct at `offset`; when
                             the first sub-field is an ENUM, a scalar value stands for it
                             (`sizing: vol_target` = `sizing: {method: vol_target}`) */
    QA_CFG_T_NODE,        /* const qa_cfg_node *: the module parses it itself */
    QA_CFG_T_I32,         /* int */
    QA_CFG_T_I64,         /* int64_t */
    QA_CFG_T_SIZE,        /* size_t */
    QA_CFG_T_INLINE,      /* the keys of `sub` are keys of this map too, bound into the
                             struct at `offset` (a block shared by several schemas) */
    QA_CFG_T_COUNT
} qa_cfg_type;

/* A bound list: `items` points into the cfg. */
typedef struct qa_cfg_list {
    void *items;
    size_t n;
} qa_cfg_list;

enum {
    QA_CFG_REQUIRED = 1u,
    QA_CFG_ALIAS = 2u /* another spelling of fields listed elsewhere: accepted on input,
                         left out of qa_json_from_schema's resolved config */
};

typedef struct qa_cfg_field {
    const char *key;
    qa_cfg_type type;
    size_t offset;                   /* of the destination in the bound struct */
    double min, max;                 /* numeric range, inclusive (lists: per item) */
    const char *const *choices;      /* ENUM: NULL-terminated names */
    const struct qa_cfg_field *sub;  /* SECTION: its fields, ended by a {NULL} entry */
    unsigned flags;                  /* QA_CFG_REQUIRED */
    const char *doc;                 /* one line for docs and --help */
} qa_cfg_field;

/* The binding type of a numeric struct member, from its C type (int, long long, int64_t,
 * size_t, double), so a schema binds integers into fields of their own type:
 *     QA_CFG_NUM(my_cfg, "window", window, 2, 1e6, 0, "bars in the window")  */
#define QA_CFG_NUM_TYPE(T, field)                                                           \
    _Generic(((T *)0)->field, int: QA_CFG_T_I32, long long: QA_CFG_T_INT, long: QA_CFG_T_I64, \
             unsigned long: QA_CFG_T_SIZE, double: QA_CFG_T_DOUBLE)
#define QA_CFG_NUM(T, key, field, lo, hi, flags, doc) \
    { key, QA_CFG_NUM_TYPE(T, field), offsetof(T, field), lo, hi, NULL, NULL, flags, doc }
/* An enum member (checked to be int-sized) bound by name from `choices`. */
#define QA_CFG_ENUM(T, key, field, choices, flags, doc)                                                   \
    { key, QA_CFG_T_ENUM, offsetof(T, field) + 0 * sizeof(char[sizeof(((T *)0)->field) == sizeof(int) ? 1 : -1]), \
      0, 0, choices, NULL, flags, doc }
/* Any other member type (string, bool, list, node). */
#define QA_CFG_FIELD(T, key, type, field, flags, doc) { key, type, offsetof(T, field), 0, 0, NULL, NULL, flags, doc }

/* Binds `map` into `dst` by `schema` (ended by an entry with key NULL). Keys absent
 * from the map keep the value already in `dst` (the caller's defaults). Unknown keys,
 * missing required keys, wrong types and out-of-range values fail with file:line, and
 * so does a value given twice through different spellings (a key of an INLINE block
 * and the same key in its section, say). */
qa_status qa_cfg_bind(const qa_cfg_t *cfg, const qa_cfg_node *map, const qa_cfg_field *schema,
                      void *dst, const char *section);

#ifdef __cplusplus
}
#endif
#endif
