/*
 * The decoder's native slicer: a block's lines, what each one is, each incident's child
 * counts, and the fixed-width fields of every record.
 *
 * A plain C library loaded with ctypes (no Python headers, so one build serves every
 * CPython). decoder/native.py is its only caller; the numpy code in decoder/slicing.py and
 * decoder/decode.py computes exactly the same results and stays the fallback where no C
 * compiler was available at install.
 *
 * Records are processed row by row, every field of a record while its bytes are in
 * cache, each field keeping its own small hash table: the numpy slicer reads the block
 * once per field instead, which is what made it slower than inflating.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the slicer packs field bytes into little-endian words"
#endif

#define SLICER_ABI 9

int32_t slicer_abi(void) { return SLICER_ABI; }

/* Number of LF bytes in buf[0:size]. */
int64_t slicer_count_lines(const uint8_t *buf, int64_t size) {
    int64_t count = 0;
    const uint8_t *end = buf + size;
    for (const uint8_t *p = buf; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) count++;
    return count;
}

/* Record the line from start to the newline at end (a CR before it is not the line's). */
static inline void put_line(const uint8_t *buf, int64_t start, int64_t end, int64_t *starts,
                            int64_t *lengths, int64_t n) {
    int64_t length = end - start;
    if (length > 0 && buf[end - 1] == '\r') length--;
    starts[n] = start;
    lengths[n] = length;
}

/*
 * Start offset and length (without LF or CRLF) of each line of buf[0:size]; a last line
 * without a newline counts too. Returns the number of lines, or -1 when there are more
 * than capacity (starts and lengths hold capacity entries).
 *
 * With SSE2 (every x86-64) it finds the line ends of 64 bytes at a time as a bit mask:
 * records are about a hundred bytes, so a memchr call per line spent more time starting
 * than searching.
 */
int64_t slicer_split_lines(const uint8_t *buf, int64_t size, int64_t *starts, int64_t *lengths,
                           int64_t capacity) {
    int64_t n = 0, start = 0, scanned = 0;
#if defined(__SSE2__)
    const __m128i newline = _mm_set1_epi8('\n');
    for (; scanned + 64 <= size; scanned += 64) {
        const __m128i *chunk = (const __m128i *)(buf + scanned);
        uint64_t ends = 0;
        for (int k = 0; k < 4; k++) {
            __m128i bytes = _mm_loadu_si128(chunk + k);
            ends |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(bytes, newline))
                    << (16 * k);
        }
        for (; ends; ends &= ends - 1) {
            if (n == capacity) return -1;
            int64_t end = scanned + __builtin_ctzll(ends);
            put_line(buf, start, end, starts, lengths, n++);
            start = end + 1;
        }
    }
#endif
    while (start < size) {
        if (n == capacity) return -1;
        int64_t from = start > scanned ? start : scanned;
        const uint8_t *newline_at = memchr(buf + from, '\n', (size_t)(size - from));
        int64_t end = newline_at ? (int64_t)(newline_at - buf) : size;
        put_line(buf, start, end, starts, lengths, n++);
        start = end + 1;
    }
    return n;
}

/* --- what each line is ------------------------------------------------------------------ */

enum { UNKNOWN_TYPE, SHORTER_THAN_KEY, LONGER_THAN_LAYOUT, BEFORE_ANY_HEADER, UTF8_SHIFTED };

/*
 * Each line's record type (type_ids: code_lookup of its first two bytes; -1 when unknown or
 * shorter than two bytes) and why it cannot be decoded (reasons: -1 when it can; blank lines
 * can too, and are skipped later): an unknown type, shorter than min_length, longer than its
 * layout's width plus max_overflow, marked in utf8_shifted (UTF-8 characters that shift its
 * fields, found by decoder/decode.py for both engines; NULL when no line is), or, unless a
 * batch header came before the block (carried), before any batch header. Batch headers that
 * can be decoded, or are only marked in utf8_shifted, are listed in header_rows; ori_index
 * is how many of them come at or before each line, so 0 names the header carried in.
 * Returns the number of headers.
 */
int64_t slicer_classify(const uint8_t *block, const int64_t *starts, const int64_t *lengths,
                        int64_t n, const int16_t *code_lookup, const int64_t *widths,
                        const uint8_t *is_header_type, int64_t min_length, int64_t max_overflow,
                        int32_t carried, const uint8_t *utf8_shifted, int16_t *type_ids,
                        int8_t *reasons, int32_t *ori_index, int64_t *header_rows) {
    int64_t headers = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *line = block + starts[i];
        int64_t length = lengths[i];
        int16_t type = length >= 2 ? code_lookup[(line[0] << 8) | line[1]] : -1;
        int8_t reason = -1;
        if (type < 0) {
            if (length > 0) reason = UNKNOWN_TYPE;
        } else if (length < min_length) {
            reason = SHORTER_THAN_KEY;
        } else if (length > widths[type] + max_overflow) {
            reason = LONGER_THAN_LAYOUT;
        } else if (utf8_shifted && utf8_shifted[i]) {
            reason = UTF8_SHIFTED;
            /* a header's ORI comes before its text fields: it still opens its agency */
            if (is_header_type[type]) header_rows[headers++] = i;
        } else if (is_header_type[type]) {
            header_rows[headers++] = i;
        } else if (!carried && !headers) {
            reason = BEFORE_ANY_HEADER;
        }
        type_ids[i] = type;
        reasons[i] = reason;
        ori_index[i] = (int32_t)headers;
    }
    return headers;
}

#define COUNTED_CHILDREN 4

/* Whether two record keys are equal: 24 bytes, three word compares (no call to memcmp). */
static inline int same_key(const uint8_t *a, const uint8_t *b, int64_t width) {
    if (width != 24) return !memcmp(a, b, (size_t)width);
    uint64_t x[3], y[3];
    memcpy(x, a, 24);
    memcpy(y, b, 24);
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2])) == 0;
}

/*
 * Each incident's declared child counts against the child records that follow it.
 *
 * Lines that can be decoded (reasons[i] < 0, type_ids[i] >= 0) are read in order. An
 * admin_type line opens an incident, declaring counts in its digit fields (count_offsets,
 * count_widths; bytes past the line and non-digits read as 0); a batch header closes it. A
 * line of child_types[k] counts for the open incident when their key_width bytes at
 * key_offset match, and is an orphan otherwise. Per k: declared and present summed over
 * incidents, and the incidents whose two differ; plus orphans and incidents.
 */
void slicer_count_children(const uint8_t *block, const int64_t *starts, const int64_t *lengths,
                           int64_t n, const int16_t *type_ids, const int8_t *reasons,
                           int16_t admin_type, const uint8_t *is_header_type,
                           const int16_t *child_types, const int32_t *count_offsets,
                           const int32_t *count_widths, int64_t key_offset, int64_t key_width,
                           int64_t *declared, int64_t *present, int64_t *differing,
                           int64_t *orphans, int64_t *incidents) {
    int64_t open = -1, says[COUNTED_CHILDREN] = {0}, has[COUNTED_CHILDREN] = {0};
    for (int64_t i = 0; i <= n; i++) {
        int16_t type = i < n && reasons[i] < 0 ? type_ids[i] : -1;
        if (i < n && (type < 0 || (type != admin_type && !is_header_type[type]))) {
            for (int k = 0; type >= 0 && k < COUNTED_CHILDREN; k++) {
                if (type != child_types[k]) continue;
                if (open >= 0 && same_key(block + starts[i] + key_offset,
                                          block + starts[open] + key_offset, key_width))
                    has[k]++;
                else
                    (*orphans)++;
            }
            continue;
        }
        if (open >= 0) { /* an incident, a header or the end closes the open incident */
            for (int k = 0; k < COUNTED_CHILDREN; k++) {
                declared[k] += says[k];
                present[k] += has[k];
                differing[k] += says[k] != has[k];
            }
        }
        open = -1;
        if (i == n || type != admin_type) continue;
        open = i;
        (*incidents)++;
        const uint8_t *line = block + starts[i];
        for (int k = 0; k < COUNTED_CHILDREN; k++) {
            int64_t value = 0;
            for (int32_t j = 0; j < count_widths[k]; j++) {
                int64_t at = count_offsets[k] + j;
                int digit = at < lengths[i] ? line[at] - '0' : 0;
                value = value * 10 + (digit >= 0 && digit <= 9 ? digit : 0);
            }
            says[k] = value;
            has[k] = 0;
        }
    }
}

/* --- one field's dictionary ------------------------------------------------------------ */

typedef struct {
    uint64_t key;   /* the stripped value packed in a word (fields up to 8 wide), or its hash */
    int32_t index;  /* the value's place in the dictionary, + 1; 0 marks an empty entry */
} entry_t;

typedef struct {
    entry_t *entries;
    int64_t capacity; /* a power of two */
    int64_t count;
} table_t;

static int table_init(table_t *t, int64_t capacity) {
    t->capacity = capacity;
    t->count = 0;
    t->entries = calloc((size_t)capacity, sizeof(entry_t));
    return t->entries != NULL;
}

static inline uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static uint64_t hash_bytes(const uint8_t *p, int64_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        h = mix(h ^ word) * 0x9e3779b97f4a7c15ULL;
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, (size_t)n);
    return mix(h ^ tail);
}

static int table_grow(table_t *t) {
    table_t bigger;
    if (!table_init(&bigger, t->capacity * 2)) return 0;
    uint64_t mask = (uint64_t)bigger.capacity - 1;
    for (int64_t i = 0; i < t->capacity; i++) {
        if (!t->entries[i].index) continue;
        uint64_t at = mix(t->entries[i].key) & mask;
        while (bigger.entries[at].index) at = (at + 1) & mask;
        bigger.entries[at] = t->entries[i];
    }
    bigger.count = t->count;
    free(t->entries);
    *t = bigger;
    return 1;
}

/* --- every record of a block ---------------------------------------------------------- */

static const uint64_t BLANKS = 0x2020202020202020ULL;

static inline uint64_t load8(const uint8_t *p) {
    uint64_t word;
    memcpy(&word, p, 8); /* one unaligned load */
    return word;
}

/* A mask of the low k bytes of a word: none when k <= 0, all when k >= 8. */
static inline uint64_t low_bytes(int64_t k) {
    if (k <= 0) return 0;
    return k >= 8 ? ~0ULL : (1ULL << (8 * k)) - 1;
}

/*
 * A field of up to 16 bytes, outer blanks stripped: where its value starts in the record
 * and (in *size) how many bytes it has; 0 when it is all blank. Bytes past the line's end
 * read as blanks. Works on two words, without a loop over bytes: the block is readable 16
 * bytes past any field.
 */
static inline const uint8_t *strip16(const uint8_t *record, int64_t length, int32_t offset,
                                     int32_t width, int64_t *size) {
    int64_t present = length - offset; /* bytes of the field before the line ends */
    if (present > width) present = width;
    if (present < 0) present = 0;
    const uint8_t *field = record + offset;
    uint64_t nonblank_low = (load8(field) ^ BLANKS) & low_bytes(present);
    uint64_t nonblank_high = (load8(field + 8) ^ BLANKS) & low_bytes(present - 8);
    if (!(nonblank_low | nonblank_high)) {
        *size = 0;
        return field;
    }
    int first = nonblank_low ? __builtin_ctzll(nonblank_low) >> 3
                             : 8 + (__builtin_ctzll(nonblank_high) >> 3);
    int last = nonblank_high ? 8 + ((63 - __builtin_clzll(nonblank_high)) >> 3)
                             : (63 - __builtin_clzll(nonblank_low)) >> 3;
    *size = last - first + 1;
    return field + first;
}

/* A field of any width, outer blanks stripped, byte by byte (only headers' city names). */
static inline const uint8_t *strip_bytes(const uint8_t *record, int64_t length, int32_t offset,
                                         int32_t width, int64_t *size) {
    int64_t a = 0, b = length - offset;
    if (b > width) b = width;
    if (b < 0) b = 0;
    const uint8_t *value = record + offset;
    while (a < b && value[a] == ' ') a++;
    while (b > a && value[b - 1] == ' ') b--;
    *size = b - a;
    return value + a;
}

static inline const uint8_t *strip(const uint8_t *record, int64_t length, int32_t offset,
                                   int32_t width, int64_t *size) {
    return width <= 16 ? strip16(record, length, offset, width, size)
                       : strip_bytes(record, length, offset, width, size);
}

/*
 * A stripped value as a dictionary key: up to 8 bytes, the value itself (the zero bytes
 * above it keep keys distinct, since the block holds no NUL); longer, a hash, which a
 * match must confirm by comparing bytes. A hash's low byte is cleared and a value's never
 * is (it holds the value's first byte), so a hash never equals a short value's key.
 */
static const uint64_t HASHED = ~0xffULL;

static inline uint64_t value_key(const uint8_t *value, int64_t size) {
    if (size <= 8) return load8(value) & low_bytes(size);
    if (size <= 16)
        return HASHED &
               mix(load8(value) ^ mix((load8(value + 8) & low_bytes(size - 8)) + (uint64_t)size));
    return HASHED & hash_bytes(value, size);
}

/* Copy a value of up to 16 bytes with two fixed-size moves; dest has 16 bytes to spare. */
static inline void copy_value(uint8_t *dest, const uint8_t *value, int64_t size) {
    if (size <= 16) {
        memcpy(dest, value, 8);
        memcpy(dest + 8, value + 8, 8);
    } else {
        memcpy(dest, value, (size_t)size);
    }
}

typedef struct {
    int32_t offset, width, plain;
    int32_t *indices, *ends;
    uint8_t *validity, *data;
    int64_t nulls;
    uint64_t last_key; /* the value the field had in its previous record, and its index */
    int32_t last_index; /* -1: none yet */
    table_t table;
    int32_t *by_byte; /* one-byte fields: each byte value's index + 1 (0: not seen yet) */
} field_t;

/* Whether dictionary value `known` of a field is `value`, given their keys match. */
static inline int same_value(const field_t *field, int32_t known, const uint8_t *value,
                             int64_t size) {
    if (size <= 8) return 1; /* equal keys are equal values: no need to read the dictionary */
    const int32_t *ends = field->ends;
    if (ends[known + 1] - ends[known] != size) return 0;
    const uint8_t *stored = field->data + ends[known];
    if (size > 16) return !memcmp(stored, value, (size_t)size);
    /* both are readable 16 bytes on: the data has 16 bytes to spare, the block its padding */
    return !(((load8(stored) ^ load8(value))) |
             ((load8(stored + 8) ^ load8(value + 8)) & low_bytes(size - 8)));
}

/* A dictionary field's value: its index, added to the dictionary when new. -1: no memory. */
static inline int32_t lookup(field_t *field, const uint8_t *value, int64_t size) {
    uint64_t key = value_key(value, size);
    /* consecutive records often repeat a value (an ORI, a date, a code) */
    if (field->last_index >= 0 && key == field->last_key &&
        same_value(field, field->last_index, value, size))
        return field->last_index;
    table_t *t = &field->table;
    uint64_t mask = (uint64_t)t->capacity - 1;
    uint64_t at = mix(key) & mask;
    for (;; at = (at + 1) & mask) {
        entry_t *entry = &t->entries[at];
        if (!entry->index) break;
        if (entry->key == key && same_value(field, entry->index - 1, value, size)) {
            field->last_key = key;
            return field->last_index = entry->index - 1;
        }
    }
    int32_t added = (int32_t)t->count;
    int32_t *ends = field->ends;
    copy_value(field->data + ends[added], value, size);
    ends[added + 1] = ends[added] + (int32_t)size;
    t->entries[at].key = key;
    t->entries[at].index = added + 1;
    t->count++;
    if (t->count * 2 > t->capacity && !table_grow(t)) return -1;
    field->last_key = key;
    return field->last_index = added;
}

/*
 * Encode the fields of every record of a block in one pass over it, in file order.
 *
 * Line i (block[starts[i] : starts[i] + lengths[i]]; bytes past its length read as
 * blanks) belongs to layout slot slots[i], or to none when -1. Slot s has the fields
 * first_field[s] .. first_field[s + 1] - 1; field f is at offsets[f], widths[f] bytes.
 * A slot's records are numbered 0, 1, ... in the order they come. A value is the field's
 * bytes with outer blanks (0x20) stripped; nothing left is null.
 *
 *  plain[f] == 0: a dictionary column. indices[f] gets one int32 per record (0 where
 *                 null); each distinct value goes to data[f], in order of first
 *                 appearance, its end offset to value_offsets[f][1 + its index];
 *                 counts[f] is the number of distinct values.
 *  plain[f] == 1: a string column. value_offsets[f] gets the records + 1 offsets of each
 *                 record's value in data[f]; counts[f] is the bytes written.
 *
 * validity[f], zeroed by the caller, gets the little-endian validity bitmap,
 * null_counts[f] the nulls, and high[f] is 1 when any value holds a byte >= 0x80 (latin-1
 * the caller re-encodes). data[f] holds records * widths[f] + 16 bytes, value_offsets[f]
 * records + 1 offsets; the block is readable 32 bytes past any field and holds no NUL.
 * Returns 0, or -1 when out of memory.
 */
int32_t slicer_encode_block(const uint8_t *block, const int64_t *starts,
                            const int64_t *lengths, int64_t n, const int32_t *slots,
                            int32_t nslots, const int32_t *first_field, const int32_t *offsets,
                            const int32_t *widths, const uint8_t *plain, int32_t **indices,
                            uint8_t **validity, uint8_t **data, int32_t **value_offsets,
                            int64_t *counts, int64_t *null_counts, uint8_t *high) {
    int32_t nfields = first_field[nslots], status = -1;
    field_t *fields = calloc((size_t)nfields, sizeof(field_t));
    int64_t *rows = calloc((size_t)nslots, sizeof(int64_t));
    if (!fields || !rows) goto done;
    for (int32_t f = 0; f < nfields; f++) {
        field_t *field = &fields[f];
        *field = (field_t){offsets[f], widths[f], plain[f], indices[f], value_offsets[f],
                           validity[f], data[f], 0, 0, -1, {0}, NULL};
        field->ends[0] = 0;
        if (plain[f]) continue;
        if (widths[f] == 1 && !(field->by_byte = calloc(256, sizeof(int32_t)))) goto done;
        if (widths[f] > 1 && !table_init(&field->table, 64)) goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t s = slots[i];
        if (s < 0) continue;
        const uint8_t *record = block + starts[i];
        int64_t length = lengths[i];
        int64_t row = rows[s]++;
        uint8_t bit = (uint8_t)(1u << (row & 7));
        field_t *end = fields + first_field[s + 1];
        for (field_t *field = fields + first_field[s]; field < end; field++) {
            if (field->by_byte) { /* a one-byte code: no stripping, no hashing */
                uint8_t byte = field->offset < length ? record[field->offset] : ' ';
                if (byte == ' ') {
                    field->indices[row] = 0;
                    field->nulls++;
                    continue;
                }
                field->validity[row >> 3] |= bit;
                int32_t *known = &field->by_byte[byte];
                if (!*known) {
                    int32_t added = (int32_t)field->table.count++;
                    field->data[added] = byte;
                    field->ends[added + 1] = added + 1;
                    *known = added + 1;
                }
                field->indices[row] = *known - 1;
                continue;
            }
            int64_t size;
            const uint8_t *value = strip(record, length, field->offset, field->width, &size);
            if (field->plain) {
                int64_t at = field->ends[row];
                copy_value(field->data + at, value, size);
                field->ends[row + 1] = (int32_t)(at + size);
                if (size)
                    field->validity[row >> 3] |= bit;
                else
                    field->nulls++;
                continue;
            }
            if (!size) {
                field->indices[row] = 0;
                field->nulls++;
                continue;
            }
            field->validity[row >> 3] |= bit;
            int32_t index = lookup(field, value, size);
            if (index < 0) goto done;
            field->indices[row] = index;
        }
    }
    for (int32_t f = 0; f < nfields; f++) {
        field_t *field = &fields[f];
        int64_t rows_or_values = field->plain ? 0 : field->table.count;
        if (field->plain) /* the last record's end offset: its slot's record count */
            for (int32_t s = 0; s < nslots; s++)
                if (f >= first_field[s] && f < first_field[s + 1]) rows_or_values = rows[s];
        counts[f] = field->plain ? field->ends[rows_or_values] : rows_or_values;
        null_counts[f] = field->nulls;
        int64_t bytes = field->ends[rows_or_values];
        high[f] = 0;
        for (int64_t k = 0; k < bytes; k++) high[f] |= field->data[k] >= 0x80;
    }
    status = 0;
done:
    if (fields)
        for (int32_t f = 0; f < nfields; f++) {
            free(fields[f].table.entries);
            free(fields[f].by_byte);
        }
    free(fields);
    free(rows);
    return status;
}
