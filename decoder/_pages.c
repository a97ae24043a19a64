/*
 * Parquet page bodies for the decoder's own Parquet writer (decoder/parquet.py).
 *
 * Arrow's Parquet writer takes a dictionary column apart and encodes it again: it copies
 * every index, turns the validity bitmap into one definition level per value and
 * run-length encodes both, value by value. That was about a third of the decoder's work.
 * The decoder's columns are already in the shape Parquet stores: a validity bitmap with
 * one-bit definition levels is a bit-packed run of the hybrid RLE encoding as it stands,
 * and dictionary indices need only be bit-packed. Each function below writes one part of
 * a version-1 data page (or a dictionary page) into `out` and returns the bytes written;
 * the caller sizes `out` with decoder.parquet's *_capacity functions.
 *
 * Every column here has a validity bitmap (LSB first, as Arrow's) that starts at bit
 * `bit_offset`; NULL means no nulls. The values of null rows are skipped, as Parquet
 * stores only the values that are present.
 *
 * Format: https://parquet.apache.org/docs/file-format/data-pages/encodings/
 */

#include <stdint.h>
#include <string.h>

static inline int is_valid(const uint8_t *validity, int64_t bit) {
    return validity == NULL || ((validity[bit >> 3] >> (bit & 7)) & 1);
}

static inline uint8_t *put_varint(uint8_t *out, uint64_t value) {
    while (value >= 0x80) {
        *out++ = (uint8_t)(value | 0x80);
        value >>= 7;
    }
    *out++ = (uint8_t)value;
    return out;
}

static inline uint64_t zigzag(int64_t value) {
    return ((uint64_t)value << 1) ^ (uint64_t)(value >> 63);
}

/* Little-endian bit writer; values up to 32 bits wide. */
typedef struct {
    uint8_t *out;
    uint64_t bits;
    int32_t count;
} bit_writer_t;

static inline void put_bits(bit_writer_t *w, uint64_t value, int32_t width) {
    w->bits |= value << w->count;
    w->count += width;
    if (w->count >= 32) {
        uint32_t low = (uint32_t)w->bits;
        memcpy(w->out, &low, 4);
        w->out += 4;
        w->bits >>= 32;
        w->count -= 32;
    }
}

/* Flush what is left, zero-padded up to `end`. */
static inline uint8_t *finish_bits(bit_writer_t *w, uint8_t *end) {
    while (w->count > 0 && w->out < end) {
        *w->out++ = (uint8_t)w->bits;
        w->bits >>= 8;
        w->count -= 8;
    }
    while (w->out < end) *w->out++ = 0;
    return w->out;
}

/*
 * The definition levels of n rows (1: present, 0: null) as a data page wants them: a
 * 4-byte length, then one RLE run of ones when there are no nulls, else the bitmap as a
 * bit-packed run (groups of 8 levels, one byte each: the bitmap's own layout).
 */
int64_t pages_definition_levels(const uint8_t *validity, int64_t bit_offset, int64_t n,
                                uint8_t *out) {
    uint8_t *p = out + 4;
    if (validity == NULL) {
        p = put_varint(p, (uint64_t)n << 1);
        *p++ = 1;
    } else {
        int64_t groups = (n + 7) / 8;
        p = put_varint(p, ((uint64_t)groups << 1) | 1);
        int32_t shift = (int32_t)(bit_offset & 7);
        const uint8_t *from = validity + (bit_offset >> 3);
        for (int64_t g = 0; g < groups; g++) {
            uint8_t byte = from[g] >> shift;
            if (shift && (g * 8 + 8 - shift) < n) byte |= (uint8_t)(from[g + 1] << (8 - shift));
            p[g] = byte;
        }
        if (n & 7) p[groups - 1] &= (uint8_t)((1u << (n & 7)) - 1); /* padding levels: 0 */
        p += groups;
    }
    uint32_t size = (uint32_t)(p - out - 4);
    memcpy(out, &size, 4);
    return p - out;
}

/* How many of the n bits from bit_offset on are set: a word at a time where aligned. */
static int64_t count_valid(const uint8_t *validity, int64_t bit_offset, int64_t n) {
    int64_t count = 0, i = 0;
    for (; i < n && ((bit_offset + i) & 7); i++) count += is_valid(validity, bit_offset + i);
    for (; i + 64 <= n; i += 64) {
        uint64_t word;
        memcpy(&word, validity + ((bit_offset + i) >> 3), 8);
        count += __builtin_popcountll(word);
    }
    for (; i < n; i++) count += is_valid(validity, bit_offset + i);
    return count;
}

/*
 * Bit-pack groups of 8 values below 2 ** width: each group is `width` bytes. Up to 16 bits
 * wide, a group is gathered in one register and stored whole, so up to 16 bytes past the
 * last group may be written over.
 */
static uint8_t *pack_groups(const uint32_t *values, int64_t groups, int32_t width, uint8_t *out) {
    if (width <= 8) {
        for (int64_t g = 0; g < groups; g++, values += 8, out += width) {
            uint64_t packed = 0;
            for (int k = 0; k < 8; k++) packed |= (uint64_t)values[k] << (k * width);
            memcpy(out, &packed, 8);
        }
    } else if (width <= 16) {
        for (int64_t g = 0; g < groups; g++, values += 8, out += width) {
            unsigned __int128 packed = 0;
            for (int k = 0; k < 8; k++) packed |= (unsigned __int128)values[k] << (k * width);
            memcpy(out, &packed, 16);
        }
    } else {
        bit_writer_t w = {out, 0, 0};
        for (int64_t i = 0; i < groups * 8; i++) put_bits(&w, values[i], width);
        out = finish_bits(&w, out + groups * width);
    }
    return out;
}

#define PACK_CHUNK 1024 /* values gathered before packing; a multiple of 8 */

/*
 * The dictionary indices of the present rows among n: a byte with the bit width, then one
 * bit-packed run (indices are below 2 ** width, and width is 1 to 32). `out` has 16 bytes
 * to spare past what the page needs (pack_groups).
 */
int64_t pages_dictionary_indices(const int32_t *indices, const uint8_t *validity,
                                 int64_t bit_offset, int64_t n, int32_t width, uint8_t *out) {
    int64_t present = validity == NULL ? n : count_valid(validity, bit_offset, n);
    uint8_t *p = out;
    *p++ = (uint8_t)width;
    if (!present) return p - out;
    int64_t groups = (present + 7) / 8;
    p = put_varint(p, ((uint64_t)groups << 1) | 1);
    uint8_t *end = p + groups * width;
    uint32_t gathered[PACK_CHUNK + 8];
    int64_t held = 0;
    if (validity == NULL) {
        int64_t whole = n / 8;
        p = pack_groups((const uint32_t *)indices, whole, width, p);
        held = n - whole * 8;
        memcpy(gathered, indices + whole * 8, (size_t)held * 4);
    } else { /* the present rows, found 56 at a time from their validity bits */
        int64_t bitmap_bytes = ((bit_offset + n - 1) >> 3) + 1;
        for (int64_t i = 0; i < n; i += 56) {
            int64_t bit = bit_offset + i, at = bit >> 3, take = n - i < 56 ? n - i : 56;
            uint64_t word = 0;
            memcpy(&word, validity + at, at + 8 <= bitmap_bytes ? 8 : (size_t)(bitmap_bytes - at));
            word = (word >> (bit & 7)) & ((1ULL << take) - 1);
            for (; word; word &= word - 1) {
                gathered[held++] = (uint32_t)indices[i + __builtin_ctzll(word)];
                if (held == PACK_CHUNK) {
                    p = pack_groups(gathered, PACK_CHUNK / 8, width, p);
                    held = 0;
                }
            }
        }
    }
    if (held) { /* the last group, padded with zeros */
        int64_t padded = (held + 7) / 8 * 8;
        memset(gathered + held, 0, sizeof(uint32_t) * (size_t)(padded - held));
        p = pack_groups(gathered, (held + 7) / 8, width, p);
    }
    return end - out;
}

/*
 * PLAIN byte arrays: each present value of n as a 4-byte length and its bytes. Value i is
 * data[offsets[i] : offsets[i + 1]].
 */
int64_t pages_plain_strings(const int32_t *offsets, const uint8_t *data,
                            const uint8_t *validity, int64_t bit_offset, int64_t n,
                            uint8_t *out) {
    uint8_t *p = out;
    for (int64_t i = 0; i < n; i++) {
        if (!is_valid(validity, bit_offset + i)) continue;
        uint32_t size = (uint32_t)(offsets[i + 1] - offsets[i]);
        memcpy(p, &size, 4);
        if (size) memcpy(p + 4, data + offsets[i], size);
        p += 4 + size;
    }
    return p - out;
}

#define DELTA_BLOCK 128
#define DELTA_MINIBLOCKS 4
#define DELTA_MINIBLOCK (DELTA_BLOCK / DELTA_MINIBLOCKS)

static int32_t bit_width(uint64_t value) { return value ? 64 - __builtin_clzll(value) : 0; }

/* One block of deltas (count of them, 1 to DELTA_BLOCK): min delta, widths, miniblocks. */
static uint8_t *put_delta_block(uint8_t *p, const int64_t *deltas, int32_t count) {
    int64_t min = deltas[0];
    for (int32_t k = 1; k < count; k++)
        if (deltas[k] < min) min = deltas[k];
    p = put_varint(p, zigzag(min));
    uint8_t *widths = p;
    p += DELTA_MINIBLOCKS;
    for (int32_t m = 0; m < DELTA_MINIBLOCKS; m++) {
        int32_t first = m * DELTA_MINIBLOCK;
        widths[m] = 0; /* a miniblock past the last delta: width 0 and no bytes */
        if (first >= count) continue;
        uint64_t widest = 0;
        for (int32_t k = first; k < first + DELTA_MINIBLOCK && k < count; k++)
            widest |= (uint64_t)deltas[k] - (uint64_t)min;
        int32_t width = bit_width(widest);
        widths[m] = (uint8_t)width;
        uint8_t *end = p + DELTA_MINIBLOCK * width / 8;
        bit_writer_t w = {p, 0, 0};
        for (int32_t k = first; k < first + DELTA_MINIBLOCK; k++) {
            uint64_t value = k < count ? (uint64_t)deltas[k] - (uint64_t)min : 0;
            if (width > 32) { /* two halves: put_bits takes 32 bits at most */
                put_bits(&w, value & 0xffffffffu, 32);
                put_bits(&w, value >> 32, width - 32);
            } else {
                put_bits(&w, value, width);
            }
        }
        p = finish_bits(&w, end);
    }
    return p;
}

/*
 * DELTA_BINARY_PACKED: the present values of n, blocks of 128 deltas in 4 miniblocks.
 * Deltas wrap as int64; an INT32 column's deltas must fit in 32 bits (the decoder's INT32
 * column, the data year, is an int16). summary gets the smallest and the largest value and
 * the number of values present (with none, the first two are 0).
 */
int64_t pages_delta_int64(const int64_t *values, const uint8_t *validity, int64_t bit_offset,
                          int64_t n, uint8_t *out, int64_t *summary) {
    int64_t present = 0, first = 0, previous = 0, lowest = 0, highest = 0;
    int64_t deltas[DELTA_BLOCK];
    int32_t pending = 0;
    uint8_t *p = out + 40; /* the header goes first, once the count is known */
    for (int64_t i = 0; i < n; i++) {
        if (!is_valid(validity, bit_offset + i)) continue;
        int64_t value = values[i];
        if (!present) {
            first = lowest = highest = value;
        } else {
            deltas[pending++] = (int64_t)((uint64_t)value - (uint64_t)previous);
            if (pending == DELTA_BLOCK) {
                p = put_delta_block(p, deltas, pending);
                pending = 0;
            }
            if (value < lowest) lowest = value;
            if (value > highest) highest = value;
        }
        previous = value;
        present++;
    }
    if (pending) p = put_delta_block(p, deltas, pending);
    uint8_t header[40], *h = header;
    h = put_varint(h, DELTA_BLOCK);
    h = put_varint(h, DELTA_MINIBLOCKS);
    h = put_varint(h, (uint64_t)present);
    h = put_varint(h, zigzag(first));
    int64_t header_size = h - header, body_size = p - (out + 40);
    memmove(out + header_size, out + 40, (size_t)body_size);
    memcpy(out, header, (size_t)header_size);
    summary[0] = lowest;
    summary[1] = highest;
    summary[2] = present;
    return header_size + body_size;
}
