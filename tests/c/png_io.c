#include "png_io.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int png_read_rgb(const char *path, uint32_t *width, uint32_t *height, uint8_t **pixels) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        fprintf(stderr, "%s: %s\n", path, img.message);
        return -1;
    }
    img.format = PNG_FORMAT_RGB;
    *pixels = malloc(PNG_IMAGE_SIZE(img));
    if (!*pixels || !png_image_finish_read(&img, NULL, *pixels, 0, NULL)) {
        fprintf(stderr, "%s: %s\n", path, img.message);
        free(*pixels);
        *pixels = NULL;
        return -1;
    }
    *width = img.width;
    *height = img.height;
    return 0;
}

int png_write_rgb(const char *path, uint32_t width, uint32_t height, const uint8_t *pixels) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = width;
    img.height = height;
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, path, 0, pixels, 0, NULL)) {
        fprintf(stderr, "%s: %s\n", path, img.message);
        return -1;
    }
    return 0;
}
