/* PNG files for the C ABI test through libpng's simplified API (8-bit RGB). */
#ifndef X2E_TEST_PNG_IO_H
#define X2E_TEST_PNG_IO_H

#include <stdint.h>

/* Reads an 8-bit RGB image; *pixels is malloc'ed (free it). Returns 0 on success. */
int png_read_rgb(const char *path, uint32_t *width, uint32_t *height, uint8_t **pixels);

/* Writes packed 8-bit RGB. Returns 0 on success. */
int png_write_rgb(const char *path, uint32_t width, uint32_t height, const uint8_t *pixels);

#endif
